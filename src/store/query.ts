/*
 * SCIM list queries: indexed equalities as SQL, a residual predicate over keyset-paged scans.
 */
import { GROUP_COLUMNS, USER_COLUMNS, userNameKey, type GroupRow, type UserRow } from './columns.js';
import type { SqlExecutor } from './driver.js';
import type { IndexedKey, ResourceQuery, StoredResource } from './types.js';

/** Rows read per page of a residual-filter scan. */
const SCAN_PAGE = 500;

/**
 * One page of a table. `keys` become indexed SQL equalities; a residual `match`
 * runs in memory over keyset-paged scans (bounded memory), on resources built by
 * `toResources` (groups load their members there, so a members filter can match).
 * Paging values are bind parameters, so the statement text stays the same.
 */
export async function queryTable<Row extends UserRow | GroupRow>(
  sql: SqlExecutor,
  table: 'scim_users' | 'scim_groups',
  q: ResourceQuery,
  toResources: (rows: Row[]) => Promise<StoredResource[]>,
): Promise<{ total: number; resources: StoredResource[] }> {
  const columns = table === 'scim_users' ? USER_COLUMNS : GROUP_COLUMNS;
  const where: string[] = [];
  const params: unknown[] = [];
  for (const key of q.keys ?? []) where.push(keyClause(table, key, params));
  const cond = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const count = Number.isSafeInteger(q.count) && q.count > 0 ? q.count : 0;
  const offset = Number.isSafeInteger(q.startIndex) && q.startIndex > 1 ? q.startIndex - 1 : 0;
  const page = `LIMIT $${params.length + 1} OFFSET $${params.length + 2}`;
  if (!q.match) {
    if (q.keys?.some((k) => k.field === 'id' || k.field === (table === 'scim_users' ? 'userName' : 'displayName'))) {
      // A unique key (Entra's matching queries): at most one row, so no count, sort or window.
      const rows = await sql.query<Row>(`SELECT ${columns} FROM ${table} ${cond}`, params);
      return { total: rows.length, resources: offset === 0 && count > 0 ? await toResources(rows) : [] };
    }
    if (count > 0 && where.length > 0) {
      // Other index look-ups answer rows and total in one round trip.
      const rows = await sql.query<Row & { total_count: string | number }>(
        `SELECT ${columns}, count(*) OVER () AS total_count FROM ${table} ${cond} ORDER BY id ${page}`,
        [...params, count, offset],
      );
      if (rows.length > 0 || offset === 0) return { total: Number(rows[0]?.total_count ?? 0), resources: await toResources(rows) };
    }
    const [countRow] = await sql.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table} ${cond}`, params);
    const rows = count > 0 ? await sql.query<Row>(`SELECT ${columns} FROM ${table} ${cond} ORDER BY id ${page}`, [...params, count, offset]) : [];
    return { total: Number(countRow?.n ?? 0), resources: await toResources(rows) };
  }
  let total = 0;
  const resources: StoredResource[] = [];
  let after = '';
  for (;;) {
    const pageParams = [...params, after];
    const rows = await sql.query<Row>(
      `SELECT ${columns} FROM ${table} ${cond ? `${cond} AND` : 'WHERE'} id > $${pageParams.length} ORDER BY id LIMIT ${SCAN_PAGE}`,
      pageParams,
    );
    for (const resource of await toResources(rows)) {
      if (!q.match(resource)) continue;
      if (total >= offset && resources.length < count) resources.push(resource);
      total++;
    }
    if (rows.length < SCAN_PAGE) break;
    after = rows[rows.length - 1]!.id;
  }
  return { total, resources };
}

function keyClause(table: 'scim_users' | 'scim_groups', key: IndexedKey, params: unknown[]): string {
  const add = (v: unknown): string => {
    params.push(v);
    return `$${params.length}`;
  };
  switch (key.field) {
    case 'id':
      return `id = ${add(key.value)}`;
    case 'externalId':
      return `external_id = ${add(key.value)}`;
    case 'userName':
      return table === 'scim_users' ? `user_name_lc = ${add(userNameKey(key.value))}` : 'false';
    case 'email':
      return table === 'scim_users' ? `emails_lc @> ARRAY[${add(key.value.toLowerCase())}::text]` : 'false';
    case 'workEmail':
      return table === 'scim_users' ? `work_email_lc = ${add(key.value.toLowerCase())}` : 'false';
    case 'displayName':
      return table === 'scim_groups' ? `display_name_lc = ${add(key.value.toLowerCase())}` : `lower(display_name) = ${add(key.value.toLowerCase())}`;
  }
}
