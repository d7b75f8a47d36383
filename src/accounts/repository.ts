// D1 access for accounts, subaccounts and API keys. No HTTP here: callers decide what a
// missing key or subaccount means for a request.

export interface ApiKeyOwner {
  keyId: number;
  accountId: number;
  /** null for a primary-account key. */
  subaccountId: number | null;
}

export async function findApiKeyOwner(
  db: D1Database,
  keyHash: string,
): Promise<ApiKeyOwner | null> {
  const row = await db
    .prepare(
      `SELECT id, account_id, subaccount_id FROM api_keys
       WHERE key_hash = ? AND revoked_at IS NULL`,
    )
    .bind(keyHash)
    .first<{ id: number; account_id: number; subaccount_id: number | null }>();
  return row ? { keyId: row.id, accountId: row.account_id, subaccountId: row.subaccount_id } : null;
}

export async function subaccountExists(
  db: D1Database,
  accountId: number,
  subaccountId: number,
): Promise<boolean> {
  const row = await db
    .prepare("SELECT 1 AS found FROM subaccounts WHERE account_id = ? AND id = ?")
    .bind(accountId, subaccountId)
    .first();
  return row !== null;
}

export interface Subaccount {
  id: number;
  name: string;
  createdAt: string;
}

interface SubaccountRow {
  id: number;
  name: string;
  created_at: string;
}

const toSubaccount = (row: SubaccountRow): Subaccount => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
});

export interface SubaccountKey {
  label: string;
  shortKey: string;
  hash: string;
}

/**
 * Numbers the new subaccount after the account's highest, and stores its first API key if one
 * is given, in one transaction: there is never a subaccount whose key went missing.
 */
export async function createSubaccount(
  db: D1Database,
  accountId: number,
  name: string,
  key?: SubaccountKey,
): Promise<Subaccount> {
  const insert = db
    .prepare(
      `INSERT INTO subaccounts (account_id, id, name)
       SELECT ?1, COALESCE(MAX(id), 0) + 1, ?2 FROM subaccounts WHERE account_id = ?1
       RETURNING id, name, created_at`,
    )
    .bind(accountId, name);
  const statements = [insert];
  if (key) {
    statements.push(
      db
        .prepare(
          `INSERT INTO api_keys (account_id, subaccount_id, label, short_key, key_hash)
           SELECT ?1, MAX(id), ?2, ?3, ?4 FROM subaccounts WHERE account_id = ?1`,
        )
        .bind(accountId, key.label, key.shortKey, key.hash),
    );
  }
  const [inserted] = await db.batch<SubaccountRow>(statements);
  const row = inserted?.results[0];
  if (!row) throw new Error("subaccount insert returned no row");
  return toSubaccount(row);
}

export async function listSubaccounts(db: D1Database, accountId: number): Promise<Subaccount[]> {
  const { results } = await db
    .prepare("SELECT id, name, created_at FROM subaccounts WHERE account_id = ? ORDER BY id")
    .bind(accountId)
    .all<SubaccountRow>();
  return results.map(toSubaccount);
}
