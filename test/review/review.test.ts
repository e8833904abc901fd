/**
 * Access reviews against a PGlite directory provisioned as SCIM does it: allowed / denied / conditional on
 * the directory identity (nested groups, inactive users refused by the pipeline), the candidate diff, the
 * CLI's exit codes and formats, hostile SCIM names.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectoryGroupSource } from '../../src/groups/directory-source.js';
import { createGate } from '../../src/gate.js';
import { main, type CliIo } from '../../src/cli/main.js';
import { csvCell, renderReview, reviewAccess, reviewAccessRows, type AccessReview, type ReviewRow } from '../../src/review/index.js';
import { applications, candidate, G_ENG, G_FIN, HOSTILE_NAME, HOSTILE_USER, idp, openDirectory, type Directory } from './fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'entragate-review-'));
let d: Directory;
let review: AccessReview;

const row = (r: AccessReview, user: string, target = 'portal'): ReviewRow => r.rows.find((x) => x.userName === user && x.target === target)!;

beforeAll(async () => {
  d = await openDirectory(join(dir, 'data'));
  review = await reviewAccess({ gate: d.gate, store: d.store, application: ['portal', 'wiki'], candidate });
}, 120_000);

afterAll(async () => {
  await d?.store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('reviewAccess on a PGlite directory', () => {
  it('covers every user, active and inactive, for each application', () => {
    expect(review.users).toBe(6);
    expect(review.rows).toHaveLength(12);
    expect(review.targets.map((t) => t.target)).toEqual(['portal', 'wiki']);
  });

  it('allowed: a direct member, and a member of a nested group, with the deciding policy (positive control)', () => {
    expect(row(review, 'ada@contoso.com').current).toMatchObject({ outcome: 'allowed', policy: 'engineers', action: 'allow' });
    // bob is in Platform, a member of Engineering: the policy on Engineering applies to him.
    expect(row(review, 'bob@contoso.com').current).toMatchObject({ outcome: 'allowed', policy: 'engineers' });
  });

  it('denied: no policy matches (default deny), without naming a policy', () => {
    const eve = row(review, 'eve@contoso.com').current;
    expect(eve).toMatchObject({ outcome: 'denied', reason: 'default', attributes: [] });
    expect(eve.policy).toBeUndefined();
    expect(row(review, 'eve@contoso.com', 'wiki').current).toMatchObject({ outcome: 'allowed', policy: 'staff' });
  });

  it('conditional: a policy that turns on the request names the attribute (ip), never an allow', () => {
    expect(row(review, 'cara@contoso.com').current).toEqual({
      outcome: 'conditional',
      action: 'deny',
      policy: 'finance-office',
      reason: 'depends on the request: ip',
      attributes: ['ip'],
    });
  });

  it('inactive users are refused by the pipeline, even in a group a policy allows', () => {
    for (const target of ['portal', 'wiki']) {
      const dan = row(review, 'dan@contoso.com', target);
      expect(dan.active).toBe(false);
      expect(dan.current).toMatchObject({ outcome: 'denied', action: 'refused', code: 'ERR_DIRECTORY_USER_INACTIVE' });
      expect(dan.current.reason).toContain('inactive');
    }
  });

  it('counts per deciding policy', () => {
    const portal = review.targets[0]!;
    expect(portal.current).toEqual({ allowed: 3, denied: 2, conditional: 1 });
    expect(Object.fromEntries(portal.policies.map((p) => [p.policy, p]))).toMatchObject({
      engineers: { allowed: 3, denied: 0, conditional: 0 },
      'finance-office': { conditional: 1 },
      '(default deny)': { denied: 1 },
      '(refused: ERR_DIRECTORY_USER_INACTIVE)': { denied: 1 },
    });
  });

  it('the candidate: gains, losses and changes of deciding policy per user', () => {
    expect(row(review, 'eve@contoso.com')).toMatchObject({ change: 'gain', candidate: { outcome: 'allowed', policy: 'eve-by-email' } });
    expect(row(review, 'cara@contoso.com')).toMatchObject({ change: 'gain', candidate: { outcome: 'allowed', policy: 'finance' } });
    expect(row(review, 'ada@contoso.com')).toMatchObject({ change: 'loss', candidate: { outcome: 'denied' } });
    expect(row(review, 'bob@contoso.com')).toMatchObject({
      change: 'policy',
      current: { policy: 'engineers' },
      candidate: { outcome: 'allowed', policy: 'platform-only' },
    });
    // The inactive user stays refused under any candidate; the candidate omits `wiki`: unchanged.
    expect(row(review, 'dan@contoso.com').change).toBeUndefined();
    expect(review.rows.filter((r) => r.target === 'wiki' && r.change !== undefined)).toEqual([]);
    expect(review.targets[0]).toMatchObject({ gains: 2, losses: 2, policyChanges: 1, candidate: { allowed: 3, denied: 3, conditional: 0 } });
  });

  it('the same candidate given as a gate answers the same', async () => {
    const candidateGate = createGate({ idp, applications: { ...applications, ...candidate.applications } });
    const again = await reviewAccess({ gate: d.gate, store: d.store, application: ['portal', 'wiki'], candidate: candidateGate });
    expect(again.rows.map((r) => [r.userName, r.target, r.change])).toEqual(review.rows.map((r) => [r.userName, r.target, r.change]));
  });

  it('streams the users one page at a time, reporting progress', async () => {
    const progress: [number, number][] = [];
    const rows: ReviewRow[] = [];
    for await (const r of reviewAccessRows({
      gate: d.gate,
      store: d.store,
      application: 'portal',
      pageSize: 2,
      onProgress: (done, total) => progress.push([done, total]),
    }))
      rows.push(r);
    expect(rows).toHaveLength(6);
    expect(progress).toEqual([
      [2, 6],
      [4, 6],
      [6, 6],
    ]);
  });

  it("a removed group takes effect: the nested member loses access (the index is the store's, live)", async () => {
    const platform = (await d.store.groups.query({ keys: [{ field: 'displayName', value: 'Platform' }], startIndex: 1, count: 1 })).resources[0]!;
    const engineering = (await d.store.groups.query({ keys: [{ field: 'displayName', value: 'Engineering' }], startIndex: 1, count: 1 })).resources[0]!;
    await d.store.groups.update(engineering.id, { members: [{ op: 'remove', ids: [platform.id] }] });
    try {
      const after = await reviewAccess({ gate: d.gate, store: d.store, application: 'portal' });
      expect(row(after, 'bob@contoso.com').current).toMatchObject({ outcome: 'denied', reason: 'default' });
      expect(row(after, 'ada@contoso.com').current).toMatchObject({ outcome: 'allowed' });
    } finally {
      await d.store.groups.update(engineering.id, { members: [{ op: 'add', ids: [platform.id] }] });
    }
  });

  it('refuses a gate without the directory as its group source, and an unknown application', async () => {
    const bare = createGate({ idp, applications });
    await expect(reviewAccess({ gate: bare, store: d.store, application: 'portal' })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await expect(reviewAccess({ gate: d.gate, store: d.store, application: 'nope' })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await expect(reviewAccess({ gate: d.gate, store: d.store })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });

  it('a stale directory fails the review (fail closed), where a fresh one answers', async () => {
    const stale = { index: d.store.index, users: d.store.users, isFresh: () => false };
    const gate = createGate({ idp, applications, groups: createDirectoryGroupSource({ store: stale }), tokenGroups: 'ignore' });
    await expect(reviewAccess({ gate, store: stale, application: 'portal' })).rejects.toMatchObject({ code: 'ERR_STORE_STALE' });
    const fresh = { ...stale, isFresh: () => true };
    const ok = createGate({ idp, applications, groups: createDirectoryGroupSource({ store: fresh }), tokenGroups: 'ignore' });
    expect((await reviewAccess({ gate: ok, store: fresh, application: 'portal' })).users).toBe(6);
  });

  it('geo, certificate and device posture are conditional too, and a Block on the request makes it conditional', async () => {
    const gate = createGate({
      idp,
      applications: {
        geo: { policies: [{ name: 'ch', decision: 'allow', include: [{ everyone: {} }], require: [{ geo: { country_code: 'CH' } }] }] },
        mtls: {
          policies: [
            {
              name: 'cert',
              decision: 'allow',
              include: [{ email_domain: { domain: 'contoso.com' } }],
              require: [{ certificate: {} }, { device_posture: { integration_uid: 'disk-enc' } }],
            },
          ],
        },
        block: {
          policies: [
            { name: 'not-from-cn', decision: 'deny', include: [{ geo: { country_code: 'CN' } }] },
            { name: 'all', decision: 'allow', include: [{ everyone: {} }] },
          ],
        },
      },
      groups: createDirectoryGroupSource({ store: d.store }),
      tokenGroups: 'ignore',
    });
    const r = await reviewAccess({ gate, store: d.store, application: ['geo', 'mtls', 'block'] });
    expect(row(r, 'ada@contoso.com', 'geo').current).toMatchObject({ outcome: 'conditional', policy: 'ch', attributes: ['geo'] });
    expect(row(r, 'ada@contoso.com', 'mtls').current).toMatchObject({ outcome: 'conditional', attributes: ['certificate', 'device_posture'] });
    expect(row(r, 'ada@contoso.com', 'block').current).toMatchObject({ outcome: 'conditional', policy: 'not-from-cn', attributes: ['geo'] });
    expect(row(r, 'dan@contoso.com', 'block').current).toMatchObject({ outcome: 'denied', code: 'ERR_DIRECTORY_USER_INACTIVE' });
  });
});

describe('reviewAccess on the Gateway rules', () => {
  it('identity rules decide on the directory groups; a rule on the HTTP request is conditional (http)', async () => {
    const gate = createGate({
      idp,
      applications,
      gateway: {
        rules: [
          {
            name: 'finance reports',
            action: 'allow',
            precedence: 10,
            identity: `any(identity.groups.id[*] in {"${G_FIN}"})`,
            traffic: 'http.request.uri.path == "/reports"',
          },
          { name: 'engineers', action: 'allow', precedence: 20, identity: `any(identity.groups.id[*] in {"${G_ENG}"})` },
        ],
        defaultAction: 'block',
      },
      groups: createDirectoryGroupSource({ store: d.store }),
      tokenGroups: 'ignore',
    });
    const r = await reviewAccess({ gate, store: d.store, gateway: true });
    expect(r.targets.map((t) => t.target)).toEqual(['gateway']);
    expect(row(r, 'bob@contoso.com', 'gateway').current).toMatchObject({ outcome: 'allowed', policy: 'engineers' });
    expect(row(r, 'eve@contoso.com', 'gateway').current).toMatchObject({ outcome: 'denied' });
    expect(row(r, 'cara@contoso.com', 'gateway').current).toMatchObject({ outcome: 'conditional', attributes: ['http'] });
    expect(row(r, 'dan@contoso.com', 'gateway').current).toMatchObject({ outcome: 'denied', code: 'ERR_DIRECTORY_USER_INACTIVE' });
  });
});

describe('renderings', () => {
  it('json carries the rows and the summary', () => {
    const parsed = JSON.parse(renderReview(review, 'json')) as AccessReview;
    expect(parsed.rows).toHaveLength(12);
    expect(parsed.targets[0]!.gains).toBe(2);
  });

  it('csv: one line per user and target, every cell quoted, formulas defused', () => {
    const text = renderReview(review, 'csv');
    const lines = text.trimEnd().split('\r\n');
    expect(lines).toHaveLength(13);
    expect(lines[0]).toBe('user_id,user_name,display_name,email,active,target,outcome,policy,attributes,reason,candidate_outcome,candidate_policy,change');
    expect(lines.find((l) => l.includes('"cara@contoso.com"') && l.includes('"portal"'))).toContain('"conditional","finance-office","ip"');
    expect(csvCell('=HYPERLINK("http://evil")')).toBe('"\'=HYPERLINK(""http://evil"")"');
    expect(csvCell('ada')).toBe('"ada"');
    expect(text).toContain('"<script>alert(""u"")</script>@contoso.com"');
  });

  it('html escapes hostile SCIM names everywhere (no tag, no attribute breaks out)', () => {
    const html = renderReview(review, 'html');
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('document.title="pwned"');
    expect(html).toContain('&#60;script&#62;alert(&#34;u&#34;)&#60;/script&#62;@contoso.com');
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(html).toContain("default-src 'none'");
    // Self-contained: no URL is loaded.
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
    expect(HOSTILE_NAME).toContain('<script>');
    expect(HOSTILE_USER).toContain('<script>');
  });

  it('the table shows no control character a terminal would act on', () => {
    const hostile: AccessReview = { ...review, rows: [{ ...review.rows[0]!, userName: 'x\u001b[2Jy', change: 'gain', candidate: review.rows[0]!.current }] };
    const text = renderReview(hostile, 'table');
    expect(text).not.toContain('\u001b');
    expect(text).toContain('x\\u001b[2Jy');
  });
});

function sink(): CliIo & { out: string; err: string } {
  const s = { out: '', err: '', isTTY: false, stdout: (t: string) => void (s.out += t), stderr: (t: string) => void (s.err += t) };
  return s;
}

describe('entragate review', () => {
  const config = join(dir, 'entragate.json');
  const next = join(dir, 'candidate.json');
  const onlyLosses = join(dir, 'losses.json');
  const bad = join(dir, 'bad.json');
  beforeAll(async () => {
    // The CLI opens the folder itself: the test's handle goes first (PGlite holds one writer).
    await d.store.close();
    writeFileSync(config, JSON.stringify({ idp, applications }));
    writeFileSync(next, JSON.stringify(candidate));
    writeFileSync(bad, JSON.stringify({ applications: { portal: { policies: [{ name: 'x', decision: 'allow', include: [{ okta: { id: 'g' } }] }] } } }));
    writeFileSync(
      onlyLosses,
      JSON.stringify({
        applications: { portal: { policies: [{ name: 'nobody', decision: 'allow', include: [{ email: { email: 'nobody@contoso.com' } }] }] } },
      }),
    );
  });

  it('prints the review as a table and exits 0 (positive control)', async () => {
    const io = sink();
    expect(await main(['review', '--config', config, '--store', join(dir, 'data'), '--application', 'portal'], io)).toBe(0);
    expect(io.out).toContain('portal: 3 allowed, 2 denied, 1 conditional');
    expect(io.out).toContain('cara@contoso.com portal: conditional by "finance-office" (ip)');
    expect(io.err).toBe('');
  }, 120_000);

  it('--candidate that grants access exits 1 and names the count; --allow-gains exits 0; losses only exit 0', async () => {
    const io = sink();
    expect(await main(['review', '-c', config, '-s', join(dir, 'data'), '--candidate', next, '--format', 'json', '--out', join(dir, 'r.json')], io)).toBe(1);
    expect(io.err).toContain('the candidate grants access to 2 user-application pairs the current set does not');
    const written = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as AccessReview;
    expect(
      written.rows
        .filter((r) => r.change === 'gain')
        .map((r) => r.userName)
        .sort(),
    ).toEqual(['cara@contoso.com', 'eve@contoso.com']);
    const allowed = sink();
    expect(await main(['review', '-c', config, '-s', join(dir, 'data'), '--candidate', next, '--allow-gains', '--format', 'csv'], allowed)).toBe(0);
    expect(allowed.out.split('\r\n')[0]).toMatch(/^user_id,/);
    const losses = sink();
    expect(await main(['review', '-c', config, '-s', join(dir, 'data'), '--application', 'portal', '--candidate', onlyLosses], losses)).toBe(0);
    expect(losses.out).toContain('- ada@contoso.com portal');
  }, 240_000);

  it('usage errors exit 2 and name what is wrong', async () => {
    const cases: [string[], string][] = [
      [['review', '--config', config], '`--store <pglite dir | postgres url>` is required'],
      [['review', '--config', config, '--store', join(dir, 'missing')], 'no such folder'],
      [['review', '--config', config, '--store', join(dir, 'data'), '--format', 'pdf'], '`--format` must be one of table, json, csv, html'],
      [['review', '--config', config, '--store', join(dir, 'data'), '--application', 'nope'], 'no application `nope`'],
      [['review', '--config', config, '--store', join(dir, 'data'), '--frobnicate'], 'unknown option `--frobnicate`; `review` takes --config'],
      [['review', '--config', config, '--store', join(dir, 'data'), '--candidate', bad], 'the candidate has problems'],
    ];
    for (const [argv, message] of cases) {
      const io = sink();
      expect(await main(argv, io)).toBe(2);
      expect(io.err).toContain(message);
    }
  });

  it('shows a progress bar on stderr only on a terminal', async () => {
    const s = sink();
    const io: CliIo = { isTTY: true, stdout: s.stdout, stderr: s.stderr };
    expect(await main(['review', '-c', config, '-s', join(dir, 'data'), '--application', 'wiki'], io)).toBe(0);
    expect(s.err).toContain('] 6/6 users');
    expect(s.out).not.toContain('6/6 users');
  }, 120_000);
});
