// D1 access for accounts, subaccounts and API keys. No HTTP here: callers decide what a
// missing key or subaccount means for a request.
import { parseRanges } from "./address-ranges";
import { type Grant, parseGrants } from "./grants";

/** A key that is not revoked, found by its hash, with the account it belongs to. */
export interface ApiKeyOwner extends ApiKeyRecord {
  accountId: number;
}

export async function findApiKeyOwner(
  db: D1Database,
  keyHash: string,
): Promise<ApiKeyOwner | null> {
  const row = await db
    .prepare(
      `SELECT ${keyColumns}, account_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL`,
    )
    .bind(keyHash)
    .first<ApiKeyRow & { account_id: number }>();
  return row ? { ...toApiKey(row), accountId: row.account_id } : null;
}

/** Records that a key was used (callers do so at most once an hour per key). */
export async function touchApiKey(db: D1Database, keyId: number, at: Date): Promise<void> {
  await db
    .prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
    .bind(at.toISOString(), keyId)
    .run();
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
  publicId: string;
  label: string;
  shortKey: string;
  hash: string;
  grants: readonly Grant[];
  validIps: readonly string[];
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
          `INSERT INTO api_keys (account_id, subaccount_id, label, short_key, key_hash, public_id, grants,
             valid_ips)
           SELECT ?1, MAX(id), ?2, ?3, ?4, ?5, ?6, ?7 FROM subaccounts WHERE account_id = ?1`,
        )
        .bind(
          accountId,
          key.label,
          key.shortKey,
          key.hash,
          key.publicId,
          JSON.stringify(key.grants),
          JSON.stringify(key.validIps),
        ),
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

/** Whose keys a request sees: the whole account (subaccount null), the primary's own (0), or a subaccount's. */
export interface KeyScope {
  accountId: number;
  subaccountId: number | null;
}

export interface ApiKeyRecord {
  keyId: number;
  publicId: string;
  /** null for a primary-account key. */
  subaccountId: number | null;
  label: string;
  shortKey: string;
  grants: Grant[];
  validIps: string[];
  createdAt: string;
  lastUsedAt: string | null;
}

interface ApiKeyRow {
  id: number;
  public_id: string;
  subaccount_id: number | null;
  label: string;
  short_key: string;
  grants: string;
  valid_ips: string;
  created_at: string;
  last_used_at: string | null;
}

const keyColumns =
  "id, public_id, subaccount_id, label, short_key, grants, valid_ips, created_at, last_used_at";
/** ?1 the account, ?2 the subaccount in scope (NULL: all of them). Revoked keys are gone. */
const inKeyScope =
  "account_id = ?1 AND revoked_at IS NULL AND (?2 IS NULL OR COALESCE(subaccount_id, 0) = ?2)";

const toApiKey = (row: ApiKeyRow): ApiKeyRecord => ({
  keyId: row.id,
  publicId: row.public_id,
  subaccountId: row.subaccount_id,
  label: row.label,
  shortKey: row.short_key,
  grants: parseGrants(row.grants),
  validIps: parseRanges(row.valid_ips),
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

/** An account holds at most this many keys that are not revoked. */
export const maxActiveKeys = 100;

export interface NewApiKeyRow {
  accountId: number;
  subaccountId: number | null;
  publicId: string;
  label: string;
  shortKey: string;
  hash: string;
  grants: readonly Grant[];
  validIps: readonly string[];
}

/** Stores a key unless the account already holds `maxActiveKeys` (then null), in one statement. */
export async function insertApiKey(
  db: D1Database,
  key: NewApiKeyRow,
): Promise<ApiKeyRecord | null> {
  const row = await db
    .prepare(
      `INSERT INTO api_keys (account_id, subaccount_id, public_id, label, short_key, key_hash, grants,
         valid_ips)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9
       WHERE (SELECT COUNT(*) FROM api_keys WHERE account_id = ?1 AND revoked_at IS NULL) < ?8
       RETURNING ${keyColumns}`,
    )
    .bind(
      key.accountId,
      key.subaccountId,
      key.publicId,
      key.label,
      key.shortKey,
      key.hash,
      JSON.stringify(key.grants),
      maxActiveKeys,
      JSON.stringify(key.validIps),
    )
    .first<ApiKeyRow>();
  return row ? toApiKey(row) : null;
}

export async function listApiKeys(db: D1Database, scope: KeyScope): Promise<ApiKeyRecord[]> {
  const { results } = await db
    .prepare(`SELECT ${keyColumns} FROM api_keys WHERE ${inKeyScope} ORDER BY id`)
    .bind(scope.accountId, scope.subaccountId)
    .all<ApiKeyRow>();
  return results.map(toApiKey);
}

export async function findApiKey(
  db: D1Database,
  scope: KeyScope,
  publicId: string,
): Promise<ApiKeyRecord | null> {
  const row = await db
    .prepare(`SELECT ${keyColumns} FROM api_keys WHERE ${inKeyScope} AND public_id = ?3`)
    .bind(scope.accountId, scope.subaccountId, publicId)
    .first<ApiKeyRow>();
  return row ? toApiKey(row) : null;
}

export async function updateApiKey(
  db: D1Database,
  scope: KeyScope,
  publicId: string,
  change: { label?: string; grants?: readonly Grant[]; validIps?: readonly string[] },
): Promise<ApiKeyRecord | null> {
  const row = await db
    .prepare(
      `UPDATE api_keys SET label = COALESCE(?4, label), grants = COALESCE(?5, grants),
         valid_ips = COALESCE(?6, valid_ips)
       WHERE ${inKeyScope} AND public_id = ?3 RETURNING ${keyColumns}`,
    )
    .bind(
      scope.accountId,
      scope.subaccountId,
      publicId,
      change.label ?? null,
      change.grants === undefined ? null : JSON.stringify(change.grants),
      change.validIps === undefined ? null : JSON.stringify(change.validIps),
    )
    .first<ApiKeyRow>();
  return row ? toApiKey(row) : null;
}

/** How long a revoked key's row is kept (its label and short key, for tracing what it did). */
export const revokedKeyRetentionMs = 90 * 86_400_000;

/** Deletes keys revoked before `before`; the number deleted. */
export async function pruneRevokedKeys(db: D1Database, before: Date): Promise<number> {
  const { meta } = await db
    .prepare("DELETE FROM api_keys WHERE revoked_at IS NOT NULL AND revoked_at < ?")
    .bind(before.toISOString())
    .run();
  return meta.changes;
}

/** Revokes a key at once (its row stays for a while, so that what it did can still be traced). */
export async function revokeApiKey(
  db: D1Database,
  scope: KeyScope,
  publicId: string,
  at: Date,
): Promise<boolean> {
  const row = await db
    .prepare(
      `UPDATE api_keys SET revoked_at = ?4 WHERE ${inKeyScope} AND public_id = ?3 RETURNING id`,
    )
    .bind(scope.accountId, scope.subaccountId, publicId, at.toISOString())
    .first();
  return row !== null;
}
