/**
 * Renderings of an access review: a text table, JSON, CSV and one self-contained HTML file.
 *
 * Every value is hostile: SCIM names are whatever the provisioning client sent (`<script>` in a
 * displayName, `=HYPERLINK(…)` in a userName). HTML escapes every value it prints and loads nothing
 * (a Content-Security-Policy with `default-src 'none'`: no network, inline style and script only);
 * CSV quotes every cell and defuses spreadsheet formulas (OWASP, "CSV Injection").
 */
import { policyKey, type AccessReview, type OutcomeCounts, type ReviewDecision, type ReviewRow } from './review.js';

/** The formats of {@link renderReview}. */
export type ReviewFormat = 'table' | 'json' | 'csv' | 'html';

/** The formats, for option checking. */
export const REVIEW_FORMATS: readonly ReviewFormat[] = Object.freeze(['table', 'json', 'csv', 'html']);

/**
 * Renders a review. `table` is for a terminal (the summary, then the gains and losses), `json` the whole
 * review, `csv` one line per user and target, `html` a self-contained report.
 *
 * @example
 * ```ts
 * import { renderReview, reviewAccess } from 'entragate/review';
 * process.stdout.write(renderReview(await reviewAccess({ gate, store, application: 'portal' }), 'table'));
 * ```
 */
export function renderReview(review: AccessReview, format: ReviewFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(review, null, 2)}\n`;
    case 'csv':
      return renderCsv(review);
    case 'html':
      return renderHtml(review);
    case 'table':
      return renderTable(review);
  }
}

function describe(d: ReviewDecision | undefined): string {
  if (d === undefined) return '';
  const by = d.policy === undefined ? '' : ` by "${d.policy}"`;
  if (d.outcome === 'conditional') return `conditional${by} (${d.attributes.join(', ')})`;
  if (d.code !== undefined) return `${d.outcome} (${d.code})`;
  return `${d.outcome}${by}`;
}

/** Control characters (a terminal escape sequence in a name) are shown as `\u…`, never sent to the terminal. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function counts(c: OutcomeCounts): string {
  return `${c.allowed} allowed, ${c.denied} denied, ${c.conditional} conditional`;
}

function renderTable(review: AccessReview): string {
  const out: string[] = [`access review: ${review.users} users, ${review.generatedAt}`];
  for (const t of review.targets) {
    out.push('', `${printable(t.target)}: ${counts(t.current)}`);
    if (t.candidate !== undefined)
      out.push(`  candidate: ${counts(t.candidate)} (${t.gains} gains, ${t.losses} losses, ${t.policyChanges} changes of deciding policy)`);
    const width = Math.max(8, ...t.policies.map((p) => printable(p.policy).length)) + 2;
    out.push(`  ${'policy'.padEnd(width)}allowed  denied  conditional`);
    for (const p of t.policies)
      out.push(`  ${printable(p.policy).padEnd(width)}${String(p.allowed).padStart(7)} ${String(p.denied).padStart(7)} ${String(p.conditional).padStart(12)}`);
  }
  const changed = review.rows.filter((r) => r.change === 'gain' || r.change === 'loss');
  if (changed.length > 0) {
    out.push('', 'gains and losses:');
    for (const r of changed)
      out.push(
        `  ${r.change === 'gain' ? '+' : '-'} ${printable(r.userName)} ${printable(r.target)}: ${printable(describe(r.current))} → ${printable(describe(r.candidate))}`,
      );
  }
  if (!review.hasCandidate) {
    out.push('', 'users:');
    for (const r of review.rows)
      out.push(`  ${printable(r.userName)}${r.active ? '' : ' (inactive)'} ${printable(r.target)}: ${printable(describe(r.current))}`);
  }
  return `${out.join('\n')}\n`;
}

const CSV_COLUMNS = [
  'user_id',
  'user_name',
  'display_name',
  'email',
  'active',
  'target',
  'outcome',
  'policy',
  'attributes',
  'reason',
  'candidate_outcome',
  'candidate_policy',
  'change',
] as const;

/** One CSV cell: always quoted; a leading `=`, `+`, `-`, `@`, tab or CR is defused with a `'` (a spreadsheet would run it). */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

function csvRow(r: ReviewRow): string {
  const cells = [
    r.userId,
    r.userName,
    r.displayName ?? '',
    r.email ?? '',
    r.active ? 'true' : 'false',
    r.target,
    r.current.outcome,
    r.current.policy ?? '',
    r.current.attributes.join(' '),
    r.current.reason,
    r.candidate?.outcome ?? '',
    r.candidate?.policy ?? '',
    r.change ?? '',
  ];
  return cells.map(csvCell).join(',');
}

function renderCsv(review: AccessReview): string {
  return `${[CSV_COLUMNS.join(','), ...review.rows.map(csvRow)].join('\r\n')}\r\n`;
}

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const COLORS: Record<keyof OutcomeCounts, string> = { allowed: '#2f9e44', denied: '#c92a2a', conditional: '#e8a317' };

/** Grouped horizontal bars: one group per target, allowed / denied / conditional (and the candidate's, hatched). */
function chart(review: AccessReview): string {
  const labelWidth = 160;
  const barArea = 460;
  const barHeight = 14;
  const kinds = ['allowed', 'denied', 'conditional'] as const;
  const perTarget = kinds.length * (review.hasCandidate ? 2 : 1);
  const groupHeight = perTarget * (barHeight + 4) + 18;
  const max = Math.max(1, ...review.targets.flatMap((t) => [...kinds.map((k) => t.current[k]), ...kinds.map((k) => t.candidate?.[k] ?? 0)]));
  const parts: string[] = [];
  review.targets.forEach((t, i) => {
    const top = i * groupHeight + 8;
    parts.push(`<text x="0" y="${top + 12}" class="t">${escapeHtml(t.target)}</text>`);
    let row = 0;
    const bar = (kind: (typeof kinds)[number], value: number, candidate: boolean) => {
      const y = top + 18 + row * (barHeight + 4);
      row++;
      const width = value === 0 ? 0 : Math.max(2, Math.round((value / max) * barArea));
      const label = `${candidate ? 'candidate ' : ''}${kind}`;
      parts.push(
        `<rect class="bar" data-target="${escapeHtml(t.target)}" data-kind="${label}" x="${labelWidth}" y="${y}" width="${width}" height="${barHeight}" fill="${COLORS[kind]}"${candidate ? ' fill-opacity="0.55"' : ''}><title>${escapeHtml(t.target)}: ${value} ${label}</title></rect>`,
        `<text x="${labelWidth - 6}" y="${y + 11}" text-anchor="end" class="l">${label}</text>`,
        `<text x="${labelWidth + width + 4}" y="${y + 11}" class="l">${value}</text>`,
      );
    };
    for (const k of kinds) bar(k, t.current[k], false);
    if (t.candidate !== undefined) for (const k of kinds) bar(k, t.candidate[k], true);
  });
  const height = Math.max(40, review.targets.length * groupHeight + 8);
  return `<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="${labelWidth + barArea + 60}" height="${height}" viewBox="0 0 ${labelWidth + barArea + 60} ${height}" role="img" aria-label="allowed, denied and conditional per application">${parts.join('')}</svg>`;
}

function decisionCell(d: ReviewDecision | undefined): string {
  if (d === undefined) return '<td></td><td></td>';
  const detail =
    d.outcome === 'conditional'
      ? ` <small>(${escapeHtml(d.attributes.join(', '))})</small>`
      : d.code !== undefined
        ? ` <small>(${escapeHtml(d.code)})</small>`
        : '';
  return `<td><span class="o ${d.outcome}">${d.outcome}</span>${detail}</td><td>${escapeHtml(policyKey(d))}</td>`;
}

function rowHtml(r: ReviewRow, withCandidate: boolean): string {
  const search = [
    r.userName,
    r.displayName ?? '',
    r.email ?? '',
    r.target,
    policyKey(r.current),
    r.candidate === undefined ? '' : policyKey(r.candidate),
    r.current.outcome,
    r.change ?? '',
  ]
    .join(' ')
    .toLowerCase();
  return `<tr data-search="${escapeHtml(search)}"${r.change === undefined ? '' : ` class="${r.change}"`}><td>${escapeHtml(r.userName)}${r.active ? '' : ' <small>(inactive)</small>'}</td><td>${escapeHtml(r.displayName ?? '')}</td><td>${escapeHtml(r.target)}</td>${decisionCell(r.current)}${withCandidate ? `${decisionCell(r.candidate)}<td>${r.change ?? ''}</td>` : ''}</tr>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.o{font-weight:600}.allowed{color:#2f9e44}.denied{color:#c92a2a}.conditional{color:#b07b00}
tr.gain td:first-child{border-left:4px solid #2f9e44}tr.loss td:first-child{border-left:4px solid #c92a2a}
svg .t{font-weight:600;font-size:13px}svg .l{font-size:11px}#search{padding:4px 8px;width:320px}small{color:#666}`;

const SCRIPT = `(function(){var box=document.getElementById('search');var rows=document.querySelectorAll('tr[data-search]');var shown=document.getElementById('shown');
function filter(){var q=box.value.trim().toLowerCase();var n=0;for(var i=0;i<rows.length;i++){var hit=q===''||rows[i].getAttribute('data-search').indexOf(q)!==-1;rows[i].style.display=hit?'':'none';if(hit&&rows[i].closest('#users'))n++;}shown.textContent=String(n);}
box.addEventListener('input',filter);filter();})();`;

function renderHtml(review: AccessReview): string {
  const c = review.hasCandidate;
  const summaries = review.targets
    .map((t) => {
      const policies = t.policies
        .map((p) => `<tr><td>${escapeHtml(p.policy)}</td><td>${p.allowed}</td><td>${p.denied}</td><td>${p.conditional}</td></tr>`)
        .join('');
      const candidate =
        t.candidate === undefined
          ? ''
          : `<p>candidate: ${t.candidate.allowed} allowed, ${t.candidate.denied} denied, ${t.candidate.conditional} conditional — <b class="allowed">${t.gains} gains</b>, <b class="denied">${t.losses} losses</b>, ${t.policyChanges} changes of deciding policy</p>`;
      return `<h3>${escapeHtml(t.target)}</h3>${candidate}<table class="policies"><thead><tr><th>deciding policy</th><th>allowed</th><th>denied</th><th>conditional</th></tr></thead><tbody>${policies}</tbody></table>`;
    })
    .join('');
  const changed = review.rows.filter((r) => r.change === 'gain' || r.change === 'loss');
  const changes = !c
    ? ''
    : `<h2>Gains and losses (${changed.length})</h2><table id="changes"><thead><tr><th>user</th><th>name</th><th>application</th><th>current</th><th>policy</th><th>candidate</th><th>caused by</th><th>change</th></tr></thead><tbody>${changed.map((r) => rowHtml(r, true)).join('')}</tbody></table>`;
  const head = `<tr><th>user</th><th>name</th><th>application</th><th>decision</th><th>policy</th>${c ? '<th>candidate</th><th>candidate policy</th><th>change</th>' : ''}</tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>entragate access review</title><style>${STYLE}</style></head><body>
<h1>Access review</h1><p>${review.users} users · generated ${escapeHtml(review.generatedAt)}</p>
${chart(review)}
<p><span class="o allowed">■ allowed</span> <span class="o denied">■ denied</span> <span class="o conditional">■ conditional</span> (depends on the request: ip, geo, certificate, device posture)${c ? ' · lighter: the candidate' : ''}</p>
<h2>Per policy</h2>${summaries}${changes}
<h2>Users (<span id="shown">${review.rows.length}</span>)</h2>
<input id="search" type="search" placeholder="filter: user, name, application, policy" aria-label="filter rows">
<table id="users"><thead>${head}</thead><tbody>${review.rows.map((r) => rowHtml(r, c)).join('')}</tbody></table>
<script>${SCRIPT}</script></body></html>
`;
}
