// Sending domains, minimally: which tracking domain each one uses. D1 access scoped to an owner,
// like tracking domains; the association must stay within one account and subaccount.
import type { OwnerScope } from "./repository";

export interface SendingDomain {
  domain: string;
  accountId: number;
  subaccountId: number;
  trackingDomain: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  domain: string;
  account_id: number;
  subaccount_id: number;
  tracking_domain: string | null;
  created_at: string;
  updated_at: string;
}

const toSendingDomain = (r: Row): SendingDomain => ({
  domain: r.domain,
  accountId: r.account_id,
  subaccountId: r.subaccount_id,
  trackingDomain: r.tracking_domain,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const ownedBy = "account_id = ?1 AND (?2 IS NULL OR subaccount_id = ?2)";
const now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/**
 * Inserts the sending domain unless the name is taken (by this account or another) or the
 * account already has `limit` of them, in one statement.
 */
export async function insertSendingDomain(
  db: D1Database,
  d: { domain: string; accountId: number; subaccountId: number; trackingDomain: string | null },
  limit: number,
): Promise<"inserted" | "exists" | "limit"> {
  const result = await db
    .prepare(
      `INSERT INTO sending_domains (domain, account_id, subaccount_id, tracking_domain)
       SELECT ?1, ?2, ?3, ?4 WHERE (SELECT COUNT(*) FROM sending_domains WHERE account_id = ?2) < ?5
       ON CONFLICT (domain) DO NOTHING`,
    )
    .bind(d.domain, d.accountId, d.subaccountId, d.trackingDomain, limit)
    .run();
  if (result.meta.changes === 1) return "inserted";
  const taken = await db
    .prepare("SELECT 1 AS found FROM sending_domains WHERE domain = ?")
    .bind(d.domain)
    .first();
  return taken ? "exists" : "limit";
}

export async function getSendingDomain(
  db: D1Database,
  scope: OwnerScope,
  domain: string,
): Promise<SendingDomain | null> {
  const row = await db
    .prepare(`SELECT * FROM sending_domains WHERE ${ownedBy} AND domain = ?3`)
    .bind(scope.accountId, scope.subaccountId, domain)
    .first<Row>();
  return row ? toSendingDomain(row) : null;
}

export async function listSendingDomains(
  db: D1Database,
  scope: OwnerScope,
): Promise<SendingDomain[]> {
  const { results } = await db
    .prepare(`SELECT * FROM sending_domains WHERE ${ownedBy} ORDER BY domain`)
    .bind(scope.accountId, scope.subaccountId)
    .all<Row>();
  return results.map(toSendingDomain);
}

export async function setTrackingDomain(
  db: D1Database,
  domain: string,
  trackingDomain: string | null,
): Promise<void> {
  await db
    .prepare(`UPDATE sending_domains SET tracking_domain = ?, updated_at = ${now} WHERE domain = ?`)
    .bind(trackingDomain, domain)
    .run();
}

export async function deleteSendingDomain(
  db: D1Database,
  scope: OwnerScope,
  domain: string,
): Promise<boolean> {
  const result = await db
    .prepare(`DELETE FROM sending_domains WHERE ${ownedBy} AND domain = ?3`)
    .bind(scope.accountId, scope.subaccountId, domain)
    .run();
  return result.meta.changes === 1;
}
