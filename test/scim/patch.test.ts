import { describe, expect, it } from 'vitest';
import { applyPatch, parsePatchRequest, planGroupPatch } from '../../src/scim/index.js';

const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const plain = (v: unknown) => JSON.parse(JSON.stringify(v));
const patch = (attrs: Record<string, unknown>, ...ops: unknown[]) => plain(applyPatch('User', attrs as never, parsePatchRequest({ Operations: ops } as never)));

describe('PATCH engine', () => {
  it('creates the work email when the filter matches nothing, replaces it when it does', () => {
    expect(patch({ userName: 'a' }, { op: 'Replace', path: 'emails[type eq "work"].value', value: 'a@x.com' })).toEqual({
      userName: 'a',
      emails: [{ type: 'work', value: 'a@x.com' }],
    });
    expect(
      patch(
        {
          userName: 'a',
          emails: [
            { type: 'work', value: 'old', primary: true },
            { type: 'home', value: 'h' },
          ],
        },
        { op: 'replace', path: 'emails[type eq "work"].value', value: 'new' },
      ).emails,
    ).toEqual([
      { type: 'work', value: 'new', primary: true },
      { type: 'home', value: 'h' },
    ]);
  });

  it('canonicalises attribute-name case and ignores explicit nulls and unknown attributes', () => {
    expect(patch({ userName: 'a', title: 'keep' }, { op: 'replace', value: { DisplayName: 'D', 'Name.GivenName': 'G', title: null, shoeSize: 44 } })).toEqual({
      userName: 'a',
      title: 'keep',
      displayName: 'D',
      name: { givenName: 'G' },
    });
    expect(
      patch({ userName: 'a', addresses: [{ type: 'other' }] }, { op: 'add', path: 'addresses[type eq "other"].Formatted', value: 'Office 1' }).addresses,
    ).toEqual([{ type: 'other', formatted: 'Office 1' }]);
  });

  it('sets the manager from a bare id, `{value}` or the legacy array, and clears it with ""', () => {
    expect(patch({ userName: 'a' }, { op: 'Add', path: `${ENT}:manager`, value: 'm1' })[ENT]).toEqual({ manager: { value: 'm1' } });
    expect(
      patch({ userName: 'a' }, { op: 'Add', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:Manager', value: { value: 'm2' } })[ENT],
    ).toEqual({ manager: { value: 'm2' } });
    expect(patch({ userName: 'a' }, { op: 'Add', value: { [ENT]: { manager: [{ $ref: 'http://x/Users/m3', value: 'm3' }] } } })[ENT]).toEqual({
      manager: { value: 'm3' },
    });
    expect(patch({ userName: 'a', [ENT]: { manager: { value: 'm1' }, department: 'd' } }, { op: 'replace', path: `${ENT}:manager`, value: '' })).toEqual({
      userName: 'a',
      [ENT]: { department: 'd' },
    });
  });

  it('removes multi-valued entries named by a value array, and all of them only without value or filter', () => {
    const roles = [{ value: 'a' }, { value: 'b' }, { value: 'c' }];
    expect(patch({ userName: 'u', roles }, { op: 'remove', path: 'roles', value: [{ value: 'b' }] }).roles).toEqual([{ value: 'a' }, { value: 'c' }]);
    expect(patch({ userName: 'u', roles }, { op: 'remove', path: 'roles[value eq "a"]' }).roles).toEqual([{ value: 'b' }, { value: 'c' }]);
    expect(patch({ userName: 'u', roles }, { op: 'remove', path: 'roles' })).toEqual({ userName: 'u' });
  });

  it('plans group member operations: both removal forms, add with $ref null, replace, pathless members', () => {
    const plan = planGroupPatch(
      parsePatchRequest({
        Operations: [
          {
            op: 'Add',
            path: 'members',
            value: [
              { $ref: null, value: 'u1' },
              { $ref: null, value: 'u2' },
            ],
          },
          { op: 'Remove', path: 'members', value: [{ value: 'u1' }] },
          { op: 'remove', path: 'members[value eq "u2"]' },
          { op: 'replace', value: { displayName: 'G', members: [{ value: 'u3' }] } },
          { op: 'remove', path: 'members[type eq "Group"]' },
          { op: 'remove', path: 'members' },
        ],
      } as never),
    );
    expect(plan.memberOps.slice(0, 4)).toEqual([
      { op: 'add', ids: ['u1', 'u2'] },
      { op: 'remove', ids: ['u1'] },
      { op: 'remove', ids: ['u2'] },
      { op: 'set', ids: ['u3'] },
    ]);
    expect(plan.memberOps[4]).toMatchObject({ op: 'removeWhere' });
    const where = plan.memberOps[4] as { match: (m: { value: string; type: 'User' | 'Group' }) => boolean };
    expect([where.match({ value: 'g', type: 'Group' }), where.match({ value: 'u', type: 'User' })]).toEqual([true, false]);
    expect(plan.memberOps[5]).toEqual({ op: 'removeAll' });
    expect(plan.attributeOps).toEqual([{ op: 'replace', value: { displayName: 'G' } }]);
  });

  it('refuses every operation on id or meta without the current state to compare with, and passes an unchanged one with it', () => {
    const ops = parsePatchRequest({ Operations: [{ op: 'replace', value: { id: 'u1', title: 't' } }] } as never);
    expect(() => applyPatch('User', { userName: 'a' } as never, ops)).toThrow(
      expect.objectContaining({
        code: 'ERR_SCIM_MUTABILITY',
        status: 400,
        scimType: 'mutability',
        message: 'attribute `id` is read-only: it cannot be changed',
      }),
    );
    const state = { id: 'u1', meta: { resourceType: 'User', created: '2025-01-01T00:00:00.000Z' } };
    expect(plain(applyPatch('User', { userName: 'a' } as never, ops, state as never))).toEqual({ userName: 'a', title: 't' });
    const meta = parsePatchRequest({ Operations: [{ op: 'add', path: 'meta.created', value: '2025-01-01T00:00:00Z' }] } as never);
    expect(() => applyPatch('Group', { displayName: 'g' } as never, meta)).toThrow(expect.objectContaining({ code: 'ERR_SCIM_MUTABILITY' }));
    expect(plain(applyPatch('Group', { displayName: 'g' } as never, meta, state as never))).toEqual({ displayName: 'g' });
    // A group has no `groups` attribute: unknown there, so ignored like any unknown attribute.
    expect(
      plain(
        applyPatch(
          'Group',
          { displayName: 'g' } as never,
          parsePatchRequest({ Operations: [{ op: 'add', path: 'groups', value: [{ value: 'x' }] }] } as never),
        ),
      ),
    ).toEqual({ displayName: 'g' });
  });

  it('refuses a remove without path, a non-object pathless value and bad member values', () => {
    expect(() => parsePatchRequest({ Operations: [{ op: 'remove' }] } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_SCIM_INVALID_PATH', scimType: 'noTarget' }),
    );
    expect(() => parsePatchRequest({ Operations: [{ op: 'replace', value: 'x' }] } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_SCIM_INVALID_VALUE', message: 'patch operation 1 has no path, so its value must be an object' }),
    );
    expect(() => planGroupPatch(parsePatchRequest({ Operations: [{ op: 'add', path: 'members', value: [{ value: 7 }] }] } as never))).toThrow(
      expect.objectContaining({ code: 'ERR_SCIM_INVALID_VALUE', message: '`members` members must be objects with a string `value`' }),
    );
  });
});
