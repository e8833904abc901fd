/**
 * One class per code family (issue 15): every code belongs to exactly one family, every throw site in
 * src/ builds a code's error with its family's class, and the code union is narrowed per class.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { sourceFiles as sources } from '../architecture/source-files.js';
import { join } from 'node:path';
import ts from 'typescript';
import * as errors from '../../src/errors/index.js';
import { ERROR_CODES, ERROR_FAMILIES, EntragateError, type ErrorCode, type ErrorFamily, type TokenError, type TokenErrorCode } from '../../src/errors/index.js';
import { errorOf, familyOf } from '../../src/errors/errors.js';

const CLASSES = new Set<string>(['EntragateError', ...Object.keys(ERROR_FAMILIES)]);

/** Every `new XError(…)` of an entragate class in src: the class, and the code when it is a literal. */
function throwSites(): { where: string; cls: string; code: string | undefined }[] {
  const out: { where: string; cls: string; code: string | undefined }[] = [];
  for (const file of sources('src')) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && CLASSES.has(node.expression.text)) {
        const first = node.arguments?.[0];
        out.push({
          where: `${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`,
          cls: node.expression.text,
          code: first !== undefined && ts.isStringLiteralLike(first) ? first.text : undefined,
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return out;
}

// Type-level: the code of each class is its family's union (tsc checks this file).
const tokenCode: TokenError['code'] = 'ERR_TOKEN_EXPIRED';
// @ts-expect-error a SCIM code is not a token code
const notATokenCode: TokenError['code'] = 'ERR_SCIM_NOT_FOUND';
// @ts-expect-error a token code cannot build a SessionError
void new errors.SessionError('ERR_TOKEN_MISSING', 'x');
const everyCodeHasAFamily: [Exclude<ErrorCode, errors.FamilyCode<ErrorFamily>>] extends [never] ? true : false = true;

describe('error families', () => {
  it('every code belongs to exactly one family', () => {
    for (const code of Object.keys(ERROR_CODES)) {
      const owners = Object.entries(ERROR_FAMILIES).filter(([, prefixes]) => prefixes.some((p) => code.startsWith(p)));
      expect(
        owners.map(([family]) => family),
        code,
      ).toHaveLength(1);
      expect(familyOf(code)).toBe(owners[0]![0]);
    }
    expect(familyOf('ERR_NOT_A_CODE')).toBeUndefined();
    expect(familyOf('constructor')).toBeUndefined();
    expect([tokenCode, notATokenCode, everyCodeHasAFamily]).toHaveLength(3);
  });

  it('errorOf builds each code as its family class, keeping code, status and cause', () => {
    const cause = new Error('upstream');
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const error = errorOf(code, 'message', { cause });
      const family = familyOf(code)!;
      expect(error).toBeInstanceOf((errors as unknown as Record<string, typeof EntragateError>)[family]);
      expect(error).toBeInstanceOf(EntragateError);
      expect(error.name).toBe(family);
      expect(error.code).toBe(code);
      expect(error.status).toBe(ERROR_CODES[code].status);
      expect(error.cause).toBe(cause);
    }
    // The token family still carries its RFC 6750 challenge through errorOf.
    const missing: TokenErrorCode = 'ERR_TOKEN_MISSING';
    expect(errorOf(missing, 'none').headers['WWW-Authenticate']).toBe('Bearer realm="entragate"');
  });

  it('every throw site in src builds a code with its family class only', () => {
    const sites = throwSites();
    expect(sites.length).toBeGreaterThan(150);
    const wrong = sites.filter((s) => s.code !== undefined && familyOf(s.code) !== s.cls).map((s) => `${s.where}: ${s.cls}(${s.code})`);
    expect(wrong).toEqual([]);
    // The base class is only built by errorOf, for a code outside every family (never, per the first test).
    const base = sites.filter((s) => s.cls === 'EntragateError').map((s) => s.where);
    expect(base).toHaveLength(1);
    expect(base[0]!.startsWith(`${join('src', 'errors', 'errors.ts')}:`)).toBe(true);
  });

  it('the scanner sees a wrong class (positive control)', () => {
    const sites = [
      { cls: 'TokenError', code: 'ERR_SESSION_REVOKED' },
      { cls: 'SessionError', code: 'ERR_TOKEN_MISSING' },
      { cls: 'SessionError', code: 'ERR_SESSION_REVOKED' },
    ];
    expect(sites.filter((s) => familyOf(s.code) !== s.cls)).toHaveLength(2);
    expect(familyOf('ERR_TOKEN_MISSING')).toBe('TokenError');
    expect(familyOf('ERR_REQUEST_INVALID')).toBe('TokenError');
    expect(familyOf('ERR_ACCESS_IDENTITY_UNAVAILABLE')).toBe('GroupsError');
    expect(familyOf('ERR_ACCESS_ASSERTION_AMBIGUOUS')).toBe('TokenError');
  });
});
