// D1 access for tracking domains. Every read and write is scoped to an owner, so a domain of
// another account is simply not there. Rows map to the TrackingDomain model of model.ts.
import type {
  ActionBy,
  CnameStatus,
  ComplianceStatus,
  DnsCheckRecord,
  EdgeAdmissionRecord,
  ErrorCode,
  HttpsMode,
  OwnershipStatus,
  Region,
  TlsState,
  TlsStatus,
  TrackingDomain,
} from "./model";

/** Who is asking: an account, narrowed to one subaccount (0: the primary) or not narrowed (null). */
export interface OwnerScope {
  accountId: number;
  subaccountId: number | null;
}

interface TrackingDomainRow {
  domain: string;
  account_id: number;
  subaccount_id: number;
  region: Region;
  https_mode: HttpsMode;
  is_default: number;
  verified: number;
  cname_status: CnameStatus;
  compliance_status: ComplianceStatus;
  dns_checked_at: string | null;
  dns_chain: string | null;
  dns_error_code: ErrorCode | null;
  dns_detail: string | null;
  tls_status: TlsStatus;
  tls_issued_at: string | null;
  tls_expires_at: string | null;
  tls_renews_at: string | null;
  tls_error_code: ErrorCode | null;
  tls_error_detail: string | null;
  tls_action_by: ActionBy | null;
  tls_step: string | null;
  tls_progress_at: string | null;
  tls_next_run_at: string | null;
  https_checked_at: string | null;
  https_error_code: string | null;
  https_detail: string | null;
  edge_status: string | null;
  edge_active: number | null;
  edge_txt_name: string | null;
  edge_txt_value: string | null;
  edge_detail: string | null;
  edge_checked_at: string | null;
  ownership_status: OwnershipStatus;
  ownership_checked_at: string | null;
  ownership_found: string | null;
  account_v2_endpoint: string | null;
  account_created_at: string;
  created_at: string;
  updated_at: string;
}

function toTrackingDomain(row: TrackingDomainRow): TrackingDomain {
  return {
    domain: row.domain,
    accountId: row.account_id,
    subaccountId: row.subaccount_id,
    region: row.region,
    httpsMode: row.https_mode,
    isDefault: row.is_default === 1,
    verified: row.verified === 1,
    cnameStatus: row.cname_status,
    complianceStatus: row.compliance_status,
    lastDnsCheck:
      row.dns_checked_at === null
        ? null
        : {
            checkedAt: row.dns_checked_at,
            chain: row.dns_chain ? (JSON.parse(row.dns_chain) as string[]) : [],
            errorCode: row.dns_error_code,
            detail: row.dns_detail ?? "",
          },
    tls: {
      status: row.tls_status,
      issuedAt: row.tls_issued_at,
      expiresAt: row.tls_expires_at,
      renewsAt: row.tls_renews_at,
      errorCode: row.tls_error_code,
      errorDetail: row.tls_error_detail,
      actionBy: row.tls_action_by,
      step: row.tls_step,
      progressAt: row.tls_progress_at,
      nextRunAt: row.tls_next_run_at,
    },
    lastHttpsCheck:
      row.https_checked_at === null
        ? null
        : {
            checkedAt: row.https_checked_at,
            errorCode: row.https_error_code,
            detail: row.https_detail ?? "",
          },
    edgeAdmission:
      row.edge_status === null || row.edge_checked_at === null
        ? null
        : {
            checkedAt: row.edge_checked_at,
            status: row.edge_status,
            active: row.edge_active === 1,
            record:
              row.edge_txt_name && row.edge_txt_value
                ? { name: row.edge_txt_name, value: row.edge_txt_value }
                : null,
            detail: row.edge_detail ?? "",
          },
    ownership: {
      status: row.ownership_status,
      checkedAt: row.ownership_checked_at,
      found: row.ownership_found ? (JSON.parse(row.ownership_found) as string[]) : [],
    },
    accountEndpoint: row.account_v2_endpoint,
    accountCreatedAt: row.account_created_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const ownedBy = "account_id = ?1 AND (?2 IS NULL OR subaccount_id = ?2)";
/** Every column, and the owning account's own V2 endpoint and creation time. */
const domainColumns = `*,
  (SELECT v2_endpoint FROM accounts WHERE accounts.id = tracking_domains.account_id) AS account_v2_endpoint,
  (SELECT created_at FROM accounts WHERE accounts.id = tracking_domains.account_id) AS account_created_at`;
/** A verification counts only with the ownership proof, where the name needs one. */
const ownershipHolds = "ownership_status IN ('not_required', 'valid')";
const now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

export interface NewTrackingDomain {
  domain: string;
  accountId: number;
  subaccountId: number;
  region: Region;
  httpsMode: HttpsMode;
  tls: TlsState;
}

export type InsertOutcome = "inserted" | "exists" | "limit";

/**
 * Inserts the domain unless the name is taken (by this account or any other) or the account
 * already holds `limit` domains, in one statement. The new domain needs the ownership proof when
 * another account verified the name before, or when the account's operator requires it always.
 */
export async function insertTrackingDomain(
  db: D1Database,
  d: NewTrackingDomain,
  limit: number,
): Promise<InsertOutcome> {
  const result = await db
    .prepare(
      `INSERT INTO tracking_domains (domain, account_id, subaccount_id, region, https_mode, tls_status,
         ownership_status)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6,
         CASE WHEN (SELECT require_ownership_proof FROM accounts WHERE id = ?2) = 1
             OR EXISTS (SELECT 1 FROM domain_holders WHERE domain = ?1 AND account_id <> ?2)
           THEN 'pending' ELSE 'not_required' END
       WHERE (SELECT COUNT(*) FROM tracking_domains WHERE account_id = ?2) < ?7
       ON CONFLICT (domain) DO NOTHING`,
    )
    .bind(d.domain, d.accountId, d.subaccountId, d.region, d.httpsMode, d.tls.status, limit)
    .run();
  if (result.meta.changes === 1) return "inserted";
  return (await holderOf(db, d.domain)) ? "exists" : "limit";
}

/** The first of `names` that an account has as its own V2 endpoint; null when none is. */
export async function accountEndpointAmong(
  db: D1Database,
  names: readonly string[],
): Promise<string | null> {
  const row = await db
    .prepare(
      "SELECT v2_endpoint FROM accounts WHERE v2_endpoint IN (SELECT value FROM json_each(?)) LIMIT 1",
    )
    .bind(JSON.stringify(names))
    .first<{ v2_endpoint: string }>();
  return row?.v2_endpoint ?? null;
}

/** Who holds a name now: its account and subaccount, whoever asks; null when nobody does. */
export async function holderOf(
  db: D1Database,
  domain: string,
): Promise<{ accountId: number; subaccountId: number } | null> {
  const row = await db
    .prepare("SELECT account_id, subaccount_id FROM tracking_domains WHERE domain = ?")
    .bind(domain)
    .first<{ account_id: number; subaccount_id: number }>();
  return row ? { accountId: row.account_id, subaccountId: row.subaccount_id } : null;
}

/** A name moving to the account that proved it owns it (POST …/claim). */
export interface DomainClaim {
  claimant: NewTrackingDomain;
  /** Who held it when the claim was checked; null when nobody did. */
  from: { accountId: number } | null;
  /** The TXT values found, the claimant's among them. */
  found: readonly string[];
  /** What the former holder's webhook is told. */
  detail: string;
  /** The claimant's domain limit. */
  limit: number;
}

/**
 * Moves a name to its proven owner in one transaction: the former holder's domain ends (its
 * webhooks hear domain_claimed), the claimant's begins with its ownership proven, and the name's
 * last holder becomes the claimant. Nothing happens if the name went to a third account
 * meanwhile or the claimant is at its domain limit; false then.
 */
export async function claimTrackingDomain(db: D1Database, claim: DomainClaim): Promise<boolean> {
  const { claimant } = claim;
  // ?1 the name, ?2 the former holder (NULL: nobody), ?3 the claimant, ?4 its domain limit.
  // Each statement checks the limit: the claimant's count does not change until the last insert.
  const allowed = "(SELECT COUNT(*) FROM tracking_domains WHERE account_id = ?3) < ?4";
  const args = [claimant.domain, claim.from?.accountId ?? null, claimant.accountId, claim.limit];
  const statements = [
    db
      .prepare(
        `INSERT INTO webhook_events (type, account_id, subaccount_id, domain, tls_status,
           previous_tls_status, error_detail, issued_at, expires_at)
         SELECT 'domain_claimed', account_id, subaccount_id, domain, 'unknown', tls_status, ?5,
           tls_issued_at, tls_expires_at
         FROM tracking_domains WHERE domain = ?1 AND account_id = ?2 AND ${allowed}
           AND EXISTS (SELECT 1 FROM webhooks WHERE webhooks.account_id = ?2)`,
      )
      .bind(...args, claim.detail),
    db
      .prepare(`DELETE FROM tracking_domains WHERE domain = ?1 AND account_id = ?2 AND ${allowed}`)
      .bind(...args),
    db
      .prepare(
        `INSERT INTO tracking_domains (domain, account_id, subaccount_id, region, https_mode,
           tls_status, ownership_status, ownership_checked_at, ownership_found)
         SELECT ?1, ?3, ?5, ?6, ?7, ?8, 'valid', ${now}, ?9
         WHERE ${allowed}
         ON CONFLICT (domain) DO NOTHING`,
      )
      .bind(
        ...args,
        claimant.subaccountId,
        claimant.region,
        claimant.httpsMode,
        claimant.tls.status,
        JSON.stringify(claim.found),
      ),
    // Proven: a later holder other than the claimant needs its own proof.
    db
      .prepare(
        `INSERT INTO domain_holders (domain, account_id, verified_at)
         SELECT domain, account_id, ${now} FROM tracking_domains WHERE domain = ?1 AND account_id = ?2
         ON CONFLICT (domain) DO UPDATE SET account_id = excluded.account_id,
           verified_at = excluded.verified_at`,
      )
      .bind(claimant.domain, claimant.accountId),
  ];
  await db.batch(statements);
  const holder = await holderOf(db, claimant.domain);
  return holder?.accountId === claimant.accountId;
}

/** Records the last look at a domain's ownership TXT record. */
export async function recordOwnershipCheck(
  db: D1Database,
  domain: string,
  check: { status: "pending" | "valid" | "invalid"; checkedAt: string; found: readonly string[] },
): Promise<void> {
  await db
    .prepare(
      `UPDATE tracking_domains SET ownership_status = ?2, ownership_checked_at = ?3,
         ownership_found = ?4, updated_at = ${now}
       WHERE domain = ?1 AND ownership_status <> 'not_required'`,
    )
    .bind(domain, check.status, check.checkedAt, JSON.stringify(check.found))
    .run();
}

/**
 * Keeps who verified the name last, after the domain is gone too: the statement a verification
 * runs with its update, so that the record and the row never disagree.
 */
const rememberHolder = (db: D1Database, domain: string) =>
  db
    .prepare(
      `INSERT INTO domain_holders (domain, account_id, verified_at)
       SELECT domain, account_id, ${now} FROM tracking_domains WHERE domain = ?1 AND verified = 1
       ON CONFLICT (domain) DO UPDATE SET account_id = excluded.account_id,
         verified_at = excluded.verified_at`,
    )
    .bind(domain);

export async function getTrackingDomain(
  db: D1Database,
  scope: OwnerScope,
  domain: string,
): Promise<TrackingDomain | null> {
  const row = await db
    .prepare(`SELECT ${domainColumns} FROM tracking_domains WHERE ${ownedBy} AND domain = ?3`)
    .bind(scope.accountId, scope.subaccountId, domain)
    .first<TrackingDomainRow>();
  return row ? toTrackingDomain(row) : null;
}

export interface TrackingDomainFilter {
  isDefault?: boolean;
  /** Only these subaccounts (0: the primary account). */
  subaccountIds?: readonly number[];
}

export async function listTrackingDomains(
  db: D1Database,
  scope: OwnerScope,
  filter: TrackingDomainFilter = {},
): Promise<TrackingDomain[]> {
  const conditions = [ownedBy];
  const params: (number | string | null)[] = [scope.accountId, scope.subaccountId];
  if (filter.isDefault !== undefined) {
    params.push(filter.isDefault ? 1 : 0);
    conditions.push(`is_default = ?${params.length}`);
  }
  if (filter.subaccountIds !== undefined) {
    // One bound value however many ids: D1 allows 100 per statement.
    params.push(JSON.stringify(filter.subaccountIds));
    conditions.push(`subaccount_id IN (SELECT value FROM json_each(?${params.length}))`);
  }
  const { results } = await db
    .prepare(
      `SELECT ${domainColumns} FROM tracking_domains WHERE ${conditions.join(" AND ")} ORDER BY domain`,
    )
    .bind(...params)
    .all<TrackingDomainRow>();
  return results.map(toTrackingDomain);
}

export interface TrackingDomainChange {
  httpsMode?: HttpsMode;
  tls?: TlsState;
  isDefault?: boolean;
}

/**
 * Applies a change to a domain already read through its owner's scope, in one transaction.
 * Making a domain the default takes the mark from the previous default of the same owner.
 */
export async function updateTrackingDomain(
  db: D1Database,
  current: TrackingDomain,
  change: TrackingDomainChange,
): Promise<void> {
  const statements: D1PreparedStatement[] = [];
  if (change.isDefault === true && !current.isDefault) {
    statements.push(
      db
        .prepare(
          `UPDATE tracking_domains SET is_default = 0, updated_at = ${now}
           WHERE account_id = ? AND subaccount_id = ? AND is_default = 1`,
        )
        .bind(current.accountId, current.subaccountId),
    );
  }
  const sets: string[] = [];
  const params: (string | number | null)[] = [];
  const set = (column: string, value: string | number | null) => {
    params.push(value);
    sets.push(`${column} = ?${params.length}`);
  };
  if (change.isDefault !== undefined) set("is_default", change.isDefault ? 1 : 0);
  if (change.httpsMode !== undefined) set("https_mode", change.httpsMode);
  if (change.tls !== undefined) {
    set("tls_status", change.tls.status);
    set("tls_issued_at", change.tls.issuedAt);
    set("tls_expires_at", change.tls.expiresAt);
    set("tls_renews_at", change.tls.renewsAt);
    set("tls_error_code", change.tls.errorCode);
    set("tls_error_detail", change.tls.errorDetail);
    set("tls_action_by", change.tls.actionBy);
    set("tls_step", change.tls.step);
    set("tls_progress_at", change.tls.progressAt);
    set("tls_next_run_at", change.tls.nextRunAt);
  }
  if (sets.length === 0 && statements.length === 0) return;
  params.push(current.domain);
  statements.push(
    db
      .prepare(
        `UPDATE tracking_domains SET ${[...sets, `updated_at = ${now}`].join(", ")} WHERE domain = ?${params.length}`,
      )
      .bind(...params),
  );
  await db.batch(statements);
}

export async function deleteTrackingDomain(
  db: D1Database,
  scope: OwnerScope,
  domain: string,
): Promise<boolean> {
  const result = await db
    .prepare(`DELETE FROM tracking_domains WHERE ${ownedBy} AND domain = ?3`)
    .bind(scope.accountId, scope.subaccountId, domain)
    .run();
  return result.meta.changes === 1;
}

export interface DnsCheckOutcome {
  check: DnsCheckRecord;
  /** Absent when DNS could not be asked: the verification status stays as it was. */
  verdict?: { verified: boolean; cnameStatus: CnameStatus; complianceStatus: ComplianceStatus };
}

export async function recordDnsCheck(
  db: D1Database,
  domain: string,
  outcome: DnsCheckOutcome,
): Promise<void> {
  const { check, verdict } = outcome;
  const update = db
    .prepare(
      `UPDATE tracking_domains SET
         dns_checked_at = ?2, dns_chain = ?3, dns_error_code = ?4, dns_detail = ?5,
         verified = CASE WHEN ?6 IS NULL THEN verified WHEN ?6 = 1 AND ${ownershipHolds} THEN 1 ELSE 0 END,
         cname_status = COALESCE(?7, cname_status),
         compliance_status = COALESCE(?8, compliance_status),
         updated_at = ${now}
       WHERE domain = ?1`,
    )
    .bind(
      domain,
      check.checkedAt,
      JSON.stringify(check.chain),
      check.errorCode,
      check.detail,
      verdict === undefined ? null : verdict.verified ? 1 : 0,
      verdict?.cnameStatus ?? null,
      verdict?.complianceStatus ?? null,
    );
  await db.batch([update, rememberHolder(db, domain)]);
}

/**
 * What the edge said of a self-managed name (see EdgeAdmissionRecord). Nothing is written if the
 * domain left self-managed HTTPS meanwhile.
 */
export async function recordEdgeAdmission(
  db: D1Database,
  domain: string,
  admission: Omit<EdgeAdmissionRecord, "checkedAt"> & { checkedAt: string },
): Promise<void> {
  await db
    .prepare(
      `UPDATE tracking_domains SET
         edge_status = ?2, edge_active = ?3, edge_txt_name = ?4, edge_txt_value = ?5,
         edge_detail = ?6, edge_checked_at = ?7, updated_at = ${now}
       WHERE domain = ?1 AND https_mode = 'self_managed'`,
    )
    .bind(
      domain,
      admission.status,
      admission.active ? 1 : 0,
      admission.record?.name ?? null,
      admission.record?.value ?? null,
      admission.detail,
      admission.checkedAt,
    )
    .run();
}

/**
 * Self-managed names the edge has not admitted yet whose status was last read before
 * `readBefore`, the longest unread first.
 */
export async function pendingEdgeAdmissions(
  db: D1Database,
  readBefore: string,
  limit: number,
): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT domain FROM tracking_domains
       WHERE https_mode = 'self_managed' AND edge_status = 'pending'
         AND edge_checked_at < ?1
       ORDER BY edge_checked_at LIMIT ?2`,
    )
    .bind(readBefore, limit)
    .all<{ domain: string }>();
  return results.map((r) => r.domain);
}

/** The outcome of an HTTPS probe (self-managed domains): it alone decides `verified`. */
export async function recordHttpsCheck(
  db: D1Database,
  domain: string,
  check: { checkedAt: string; errorCode: string | null; detail: string },
): Promise<void> {
  const passed = check.errorCode === null;
  const update = db
    .prepare(
      `UPDATE tracking_domains SET
         https_checked_at = ?2, https_error_code = ?3, https_detail = ?4,
         verified = CASE WHEN ?5 = 1 AND ${ownershipHolds} THEN 1 ELSE 0 END,
         cname_status = CASE WHEN ?5 = 1 THEN 'valid' ELSE 'invalid' END,
         compliance_status = CASE WHEN ?5 = 1 AND compliance_status = 'pending' THEN 'valid' ELSE compliance_status END,
         updated_at = ${now}
       WHERE domain = ?1`,
    )
    .bind(domain, check.checkedAt, check.errorCode, check.detail, passed ? 1 : 0);
  await db.batch([update, rememberHolder(db, domain)]);
}

/**
 * Verified self-managed domains whose proxy is due another probe (their last one passed before
 * `passedBefore`, or failed before `failedBefore`), the longest unprobed first.
 */
export async function selfManagedDueForProbe(
  db: D1Database,
  due: { passedBefore: string; failedBefore: string },
  limit: number,
): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT domain FROM tracking_domains
       WHERE https_mode = 'self_managed' AND verified = 1 AND https_checked_at < ?2
         AND (https_error_code IS NOT NULL OR https_checked_at < ?1)
       ORDER BY https_checked_at LIMIT ?3`,
    )
    .bind(due.passedBefore, due.failedBefore, limit)
    .all<{ domain: string }>();
  return results.map((r) => r.domain);
}

/**
 * A background probe's outcome for a self-managed domain: it decides what its links say (https
 * only after a pass) and is shown with the domain; `verified` stays what the customer's last
 * verify made it. Nothing is written if the domain changed mode meanwhile.
 */
export async function recordWatchProbe(
  db: D1Database,
  domain: string,
  check: { checkedAt: string; errorCode: string | null; detail: string },
): Promise<void> {
  await db
    .prepare(
      `UPDATE tracking_domains SET
         https_checked_at = ?2, https_error_code = ?3, https_detail = ?4, updated_at = ${now}
       WHERE domain = ?1 AND https_mode = 'self_managed'`,
    )
    .bind(domain, check.checkedAt, check.errorCode, check.detail)
    .run();
}

/**
 * What the eligibility checks need to know of `domain` beyond its name: its account's own V2
 * endpoint (if an operator gave it one) and when an HTTPS probe through its proxy last passed.
 */
export async function eligibilityFactsOf(
  db: D1Database,
  domain: string,
): Promise<{ accountEndpoint: string | null; httpsProbePassedAt: string | null }> {
  const row = await db
    .prepare(
      `SELECT a.v2_endpoint, CASE WHEN t.https_error_code IS NULL THEN t.https_checked_at END AS probe_passed_at
       FROM tracking_domains t JOIN accounts a ON a.id = t.account_id WHERE t.domain = ?`,
    )
    .bind(domain)
    .first<{ v2_endpoint: string | null; probe_passed_at: string | null }>();
  return {
    accountEndpoint: row?.v2_endpoint ?? null,
    httpsProbePassedAt: row?.probe_passed_at ?? null,
  };
}

/**
 * Writes the certificate object's public status into the domain's row. False when the row is
 * gone (the domain was deleted), which tells the object to stop. (Whether the row was found is
 * read from RETURNING, not from the count of changes: that count includes the webhook events
 * the row's triggers write.)
 */
export async function mirrorCertificateStatus(
  db: D1Database,
  domain: string,
  tls: TlsState,
): Promise<boolean> {
  const result = await db
    .prepare(
      `UPDATE tracking_domains SET
         tls_status = ?2, tls_issued_at = ?3, tls_expires_at = ?4, tls_renews_at = ?5,
         tls_error_code = ?6, tls_error_detail = ?7, tls_action_by = ?8, tls_step = ?9,
         tls_progress_at = ?10, tls_next_run_at = ?11, updated_at = ${now}
       WHERE domain = ?1 RETURNING domain`,
    )
    .bind(
      domain,
      tls.status,
      tls.issuedAt,
      tls.expiresAt,
      tls.renewsAt,
      tls.errorCode,
      tls.errorDetail,
      tls.actionBy,
      tls.step,
      tls.progressAt,
      tls.nextRunAt,
    )
    .first();
  return result !== null;
}

/** A domain's region by name, whoever owns it (the edge routes challenge requests with it). */
export async function regionOf(db: D1Database, domain: string): Promise<Region | null> {
  const row = await db
    .prepare("SELECT region FROM tracking_domains WHERE domain = ?")
    .bind(domain)
    .first<{ region: Region }>();
  return row?.region ?? null;
}

export interface OverdueCertificate {
  domain: string;
  region: Region;
  nextRunAt: string;
}

export interface SweepCursor {
  nextRunAt: string;
  domain: string;
}

/**
 * Domains whose certificate object should have acted before `before`, in (time, name) order,
 * after `cursor`: one page of an index range scan, whatever the number of domains.
 */
export async function overdueCertificates(
  db: D1Database,
  before: string,
  cursor: SweepCursor | null,
  limit: number,
): Promise<OverdueCertificate[]> {
  const { results } = await db
    .prepare(
      `SELECT domain, region, tls_next_run_at FROM tracking_domains
       WHERE tls_next_run_at IS NOT NULL AND tls_next_run_at <= ?1
         AND (?2 IS NULL OR (tls_next_run_at, domain) > (?2, ?3))
       ORDER BY tls_next_run_at, domain LIMIT ?4`,
    )
    .bind(before, cursor?.nextRunAt ?? null, cursor?.domain ?? null, limit)
    .all<{ domain: string; region: Region; tls_next_run_at: string }>();
  return results.map((r) => ({ domain: r.domain, region: r.region, nextRunAt: r.tls_next_run_at }));
}

/** Marks at most `limit` serving certificates past their expiry as expired; how many it marked. */
export async function markExpired(db: D1Database, at: string, limit: number): Promise<number> {
  const result = await db
    .prepare(
      `UPDATE tracking_domains SET tls_status = 'expired', updated_at = ${now}
       WHERE domain IN (
         SELECT domain FROM tracking_domains WHERE tls_status = 'valid' AND tls_expires_at < ?1 LIMIT ?2
       ) RETURNING domain`,
    )
    .bind(at, limit)
    .all();
  return result.results.length;
}

export async function loadSweepCursor(db: D1Database): Promise<SweepCursor | null> {
  const row = await db
    .prepare("SELECT next_run_at, domain FROM sweep_cursor WHERE id = 1")
    .first<{ next_run_at: string; domain: string }>();
  return row ? { nextRunAt: row.next_run_at, domain: row.domain } : null;
}

export async function saveSweepCursor(db: D1Database, cursor: SweepCursor | null): Promise<void> {
  if (!cursor) {
    await db.prepare("DELETE FROM sweep_cursor").run();
    return;
  }
  await db
    .prepare(
      `INSERT INTO sweep_cursor (id, next_run_at, domain, updated_at) VALUES (1, ?1, ?2, ${now})
       ON CONFLICT (id) DO UPDATE SET next_run_at = ?1, domain = ?2, updated_at = ${now}`,
    )
    .bind(cursor.nextRunAt, cursor.domain)
    .run();
}
