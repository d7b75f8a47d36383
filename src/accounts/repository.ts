// D1 access for accounts, subaccounts and API keys. No HTTP here: callers decide what a
// missing key or subaccount means for a request.
import { parseRanges } from "./address-ranges";
import { type Grant, parseGrants } from "./grants";

/** A key that is not revoked, found by its hash, with the account it belongs to. */
export interface ApiKeyOwner extends ApiKeyRecord {
  accountId: number;
  /** The status of the key's subaccount; null for a primary-account key. */
  subaccountStatus: SubaccountStatus | null;
}

export async function findApiKeyOwner(
  db: D1Database,
  keyHash: string,
): Promise<ApiKeyOwner | null> {
  const row = await db
    .prepare(
      `SELECT ${keyColumns}, account_id,
         (SELECT status FROM subaccounts s
          WHERE s.account_id = api_keys.account_id AND s.id = api_keys.subaccount_id) AS subaccount_status
       FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL`,
    )
    .bind(keyHash)
    .first<ApiKeyRow & { account_id: number; subaccount_status: SubaccountStatus | null }>();
  return row
    ? { ...toApiKey(row), accountId: row.account_id, subaccountStatus: row.subaccount_status }
    : null;
}

/** Records that a key was used (callers do so at most once an hour per key). */
export async function touchApiKey(db: D1Database, keyId: number, at: Date): Promise<void> {
  await db
    .prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
    .bind(at.toISOString(), keyId)
    .run();
}

/** What identifies an account for its ownership value (src/domains/ownership.ts). */
export async function accountIdentity(
  db: D1Database,
  accountId: number,
): Promise<{ id: number; createdAt: string } | null> {
  const row = await db
    .prepare("SELECT id, created_at FROM accounts WHERE id = ?")
    .bind(accountId)
    .first<{ id: number; created_at: string }>();
  return row ? { id: row.id, createdAt: row.created_at } : null;
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

export const subaccountStatuses = ["active", "suspended", "terminated"] as const;
export type SubaccountStatus = (typeof subaccountStatuses)[number];

export interface Subaccount {
  id: number;
  name: string;
  status: SubaccountStatus;
  createdAt: string;
}

interface SubaccountRow {
  id: number;
  name: string;
  status: SubaccountStatus;
  created_at: string;
}

const toSubaccount = (row: SubaccountRow): Subaccount => ({
  id: row.id,
  name: row.name,
  status: row.status,
  createdAt: row.created_at,
});

/**
 * Renames a subaccount or changes its status; a terminated one stays terminated. The subaccount
 * as it is now, null when the account has none by that id, or "terminated" when it was already.
 */
export async function updateSubaccount(
  db: D1Database,
  accountId: number,
  id: number,
  change: { name?: string | undefined; status?: SubaccountStatus | undefined },
): Promise<Subaccount | null | "terminated"> {
  const row = await db
    .prepare(
      `UPDATE subaccounts SET name = COALESCE(?3, name), status = COALESCE(?4, status)
       WHERE account_id = ?1 AND id = ?2 AND status <> 'terminated'
       RETURNING id, name, status, created_at`,
    )
    .bind(accountId, id, change.name ?? null, change.status ?? null)
    .first<SubaccountRow>();
  if (row) return toSubaccount(row);
  return (await getSubaccount(db, accountId, id)) ? "terminated" : null;
}

export interface SubaccountKey {
  publicId: string;
  label: string;
  shortKey: string;
  hash: string;
  grants: readonly Grant[];
  validIps: readonly string[];
}

export interface SubaccountLimits {
  /** Most subaccounts an account has. */
  subaccounts: number;
  /** Most active API keys an account holds (a key made with the subaccount counts). */
  keys: number;
}

/**
 * Numbers the new subaccount after the account's highest, and stores its first API key if one
 * is given, in one transaction: there is never a subaccount whose key went missing, and never
 * one past a limit. The key's row finds its subaccount by the key's public id. Null, and nothing
 * stored, when a limit stands in the way: which one is given.
 */
export async function createSubaccount(
  db: D1Database,
  accountId: number,
  name: string,
  limits: SubaccountLimits,
  key?: SubaccountKey,
): Promise<{ created: Subaccount } | { limit: "subaccounts" | "keys" }> {
  const activeKeys = "(SELECT COUNT(*) FROM api_keys WHERE account_id = ?1 AND revoked_at IS NULL)";
  const insert = db
    .prepare(
      `INSERT INTO subaccounts (account_id, id, name, created_with_key)
       SELECT ?1, next, ?2, ?3 FROM (
         SELECT COALESCE(MAX(id), 0) + 1 AS next, COUNT(*) AS held FROM subaccounts WHERE account_id = ?1
       ) WHERE held < ?4 AND (?3 IS NULL OR ${activeKeys} < ?5)
       RETURNING id, name, status, created_at`,
    )
    .bind(accountId, name, key?.publicId ?? null, limits.subaccounts, limits.keys);
  const statements = [insert];
  if (key) {
    statements.push(
      db
        .prepare(
          `INSERT INTO api_keys (account_id, subaccount_id, label, short_key, key_hash, public_id, grants,
             valid_ips)
           SELECT ?1, id, ?2, ?3, ?4, ?5, ?6, ?7 FROM subaccounts
           WHERE account_id = ?1 AND created_with_key = ?5`,
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
  if (row) return { created: toSubaccount(row) };
  const held = await db
    .prepare("SELECT COUNT(*) AS n FROM subaccounts WHERE account_id = ?")
    .bind(accountId)
    .first<{ n: number }>();
  return { limit: (held?.n ?? 0) >= limits.subaccounts ? "subaccounts" : "keys" };
}

export async function listSubaccounts(db: D1Database, accountId: number): Promise<Subaccount[]> {
  const { results } = await db
    .prepare(
      "SELECT id, name, status, created_at FROM subaccounts WHERE account_id = ? ORDER BY id",
    )
    .bind(accountId)
    .all<SubaccountRow>();
  return results.map(toSubaccount);
}

/** One subaccount of the account; null when it has none by that id. */
export async function getSubaccount(
  db: D1Database,
  accountId: number,
  id: number,
): Promise<Subaccount | null> {
  const row = await db
    .prepare("SELECT id, name, status, created_at FROM subaccounts WHERE account_id = ? AND id = ?")
    .bind(accountId, id)
    .first<SubaccountRow>();
  return row ? toSubaccount(row) : null;
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
