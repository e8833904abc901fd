/**
 * The HTML report in headless Chromium (Debian's `chromium`, driven by `playwright-core`; never a browser
 * download): the chart renders (bars of non-zero size, a non-blank screenshot), the search box filters,
 * hostile SCIM names stay text, and the page loads nothing from the network.
 *
 * Without `/usr/bin/chromium` the suite is skipped on a developer machine and FAILS under CI (`CI` set):
 * `.ci/run` installs the package first.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReview, reviewAccess, type AccessReview } from '../../src/review/index.js';
import { candidate, HOSTILE_USER, openDirectory } from './fixture.js';

/** Debian's package; `ENTRAGATE_TEST_CHROMIUM` points elsewhere (and checks the CI failure with a missing path). */
const CHROMIUM = process.env.ENTRAGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const present = existsSync(CHROMIUM);

if (!present && process.env.CI) {
  describe('chromium', () => {
    it('is installed (CI must run the browser test, not skip it)', () => {
      throw new Error(`${CHROMIUM} is missing: install Debian's \`chromium\` package (.ci/run does: apt-get install -y chromium)`);
    });
  });
}

/** How many distinct pixel rows a PNG has (decodes the IDAT stream; 8-bit RGB or RGBA, as Chromium writes): 1 for a blank image. */
function pngColours(png: Buffer): number {
  const width = png.readUInt32BE(16);
  const colourType = png[25]!;
  const channels = colourType === 6 ? 4 : 3;
  const chunks: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('ascii', at + 4, at + 8);
    if (type === 'IDAT') chunks.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(chunks));
  const stride = width * channels + 1;
  // Filter bytes make the raw rows differ from pixels, but a blank image's rows are all alike after
  // the first: count distinct rows as a cheap, sufficient signal of content.
  const rows = new Set<string>();
  for (let at = stride; at + stride <= raw.length; at += stride) rows.add(raw.subarray(at, at + stride).toString('base64'));
  return rows.size;
}

describe.skipIf(!present)('the HTML report in Chromium', () => {
  let review: AccessReview;
  let file: string;
  let browser: import('playwright-core').Browser;
  const requests: string[] = [];

  beforeAll(async () => {
    const d = await openDirectory();
    try {
      review = await reviewAccess({ gate: d.gate, store: d.store, application: ['portal', 'wiki'], candidate });
    } finally {
      await d.store.close();
    }
    const dir = join(tmpdir(), `entragate-report-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    file = join(dir, 'review.html');
    writeFileSync(file, renderReview(review, 'html'));
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('renders the chart: every non-zero count is a bar of non-zero size, and the screenshot is not blank', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) requests.push(r.url());
    });
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.goto(`file://${file}`);
    const bars = await page.$$eval('#chart rect.bar', (rects) =>
      rects.map((r) => {
        const box = r.getBoundingClientRect();
        return { target: r.getAttribute('data-target'), kind: r.getAttribute('data-kind'), width: box.width, height: box.height };
      }),
    );
    const portal = review.targets[0]!;
    expect(bars.filter((b) => b.target === 'portal' && b.kind === 'allowed')[0]!.width).toBeGreaterThan(0);
    for (const bar of bars) {
      const t = review.targets.find((x) => x.target === bar.target)!;
      const [prefix, kind] = bar.kind!.startsWith('candidate ') ? ['candidate', bar.kind!.slice(10)] : ['current', bar.kind!];
      const count = (prefix === 'candidate' ? t.candidate! : t.current)[kind as 'allowed'];
      if (count > 0) {
        expect(bar.width).toBeGreaterThan(0);
        expect(bar.height).toBeGreaterThan(0);
      } else expect(bar.width).toBe(0);
    }
    expect(bars.length).toBe(review.targets.length * 6);
    expect(portal.current.allowed).toBe(3);
    const shot = await page.screenshot({ fullPage: true });
    expect(shot.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(pngColours(shot)).toBeGreaterThan(20);
    // The README's screenshot: refreshed with `UPDATE_SCREENSHOT=1 npx vitest run test/review/report.browser.test.ts`.
    if (process.env.UPDATE_SCREENSHOT === '1') {
      mkdirSync('docs', { recursive: true });
      writeFileSync('docs/review-report.png', shot);
    } else writeFileSync(join(tmpdir(), `entragate-report-${process.pid}`, 'review.png'), shot);
    // Hostile names stayed text: no script of theirs ran, and the page title is the report's.
    expect(dialogs).toEqual([]);
    expect(await page.title()).toBe('entragate access review');
    expect(await page.locator('#users').innerText()).toContain(HOSTILE_USER);
    expect(requests).toEqual([]);
    await page.close();
  });

  it('the search box filters the rows', async () => {
    const page = await browser.newPage();
    await page.goto(`file://${file}`);
    const visible = () => page.$$eval('#users tr[data-search]', (rows) => rows.filter((r) => (r as HTMLElement).style.display !== 'none').length);
    expect(await visible()).toBe(12);
    await page.fill('#search', 'cara');
    expect(await visible()).toBe(2);
    expect(await page.locator('#shown').innerText()).toBe('2');
    await page.fill('#search', 'finance-office');
    expect(await visible()).toBe(1);
    await page.fill('#search', 'no such user');
    expect(await visible()).toBe(0);
    await page.fill('#search', '');
    expect(await visible()).toBe(12);
    await page.close();
  });
});
