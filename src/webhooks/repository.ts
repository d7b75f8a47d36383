// Webhooks, their events and their delivery attempts in D1 (migrations/0008_webhooks.sql).
// A webhook is visible to its account; one made for a subaccount, to that subaccount too.
import type { OwnerScope } from "../domains/repository";
import type { EngagementDetails, WebhookEvent, WebhookEventType } from "./events";

const now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
const ownedBy = "account_id = ?1 AND (?2 IS NULL OR subaccount_id = ?2)";

export type AuthType = "none" | "basic";

export interface Webhook {
  id: string;
  accountId: number;
  /** null: every domain of the account. */
  subaccountId: number | null;
  name: string;
  target: string;
  events: WebhookEventType[];
  active: boolean;
  authType: AuthType;
  authTokenSet: boolean;
  /** Sealed; see delivery.ts. */
  secrets: string;
  cursor: number;
  batchId: string | null;
  batchLastEventId: number | null;
  batchAttempts: number;
  batchFirstAttemptAt: string | null;
  nextAttemptAt: string;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastFailure: string | null;
  createdAt: string;
  updatedAt: string;
}

interface WebhookRow {
  id: string;
  account_id: number;
  subaccount_id: number | null;
  name: string;
  target: string;
  events: string;
  active: number;
  auth_type: AuthType;
  auth_token_set: number;
  secrets: string;
  cursor: number;
  batch_id: string | null;
  batch_last_event_id: number | null;
  batch_attempts: number;
  batch_first_attempt_at: string | null;
  next_attempt_at: string;
  last_success_at: string | null;
  last_failure_at: string | null;
  last_failure: string | null;
  created_at: string;
  updated_at: string;
}

const toWebhook = (row: WebhookRow): Webhook => ({
  id: row.id,
  accountId: row.account_id,
  subaccountId: row.subaccount_id,
  name: row.name,
  target: row.target,
  events: JSON.parse(row.events) as WebhookEventType[],
  active: row.active === 1,
  authType: row.auth_type,
  authTokenSet: row.auth_token_set === 1,
  secrets: row.secrets,
  cursor: row.cursor,
  batchId: row.batch_id,
  batchLastEventId: row.batch_last_event_id,
  batchAttempts: row.batch_attempts,
  batchFirstAttemptAt: row.batch_first_attempt_at,
  nextAttemptAt: row.next_attempt_at,
  lastSuccessAt: row.last_success_at,
  lastFailureAt: row.last_failure_at,
  lastFailure: row.last_failure,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export interface NewWebhook {
  id: string;
  accountId: number;
  subaccountId: number | null;
  name: string;
  target: string;
  events: readonly WebhookEventType[];
  active: boolean;
  authType: AuthType;
  authTokenSet: boolean;
  secrets: string;
}

/** Inserts a webhook that starts after every event already written: it gets no backlog. */
/** Stores the webhook unless the account already has `limit` (then false), in one statement. */
export async function insertWebhook(
  db: D1Database,
  hook: NewWebhook,
  limit: number,
): Promise<boolean> {
  const result = await db
    .prepare(
      `INSERT INTO webhooks (id, account_id, subaccount_id, name, target, events, active, auth_type,
         auth_token_set, secrets, cursor)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
         (SELECT COALESCE(MAX(id), 0) FROM webhook_events)
       WHERE (SELECT COUNT(*) FROM webhooks WHERE account_id = ?2) < ?11`,
    )
    .bind(
      hook.id,
      hook.accountId,
      hook.subaccountId,
      hook.name,
      hook.target,
      JSON.stringify(hook.events),
      hook.active ? 1 : 0,
      hook.authType,
      hook.authTokenSet ? 1 : 0,
      hook.secrets,
      limit,
    )
    .run();
  return result.meta.changes === 1;
}

export async function getWebhook(
  db: D1Database,
  scope: OwnerScope,
  id: string,
): Promise<Webhook | null> {
  const row = await db
    .prepare(`SELECT * FROM webhooks WHERE ${ownedBy} AND id = ?3`)
    .bind(scope.accountId, scope.subaccountId, id)
    .first<WebhookRow>();
  return row ? toWebhook(row) : null;
}

export async function listWebhooks(db: D1Database, scope: OwnerScope): Promise<Webhook[]> {
  const { results } = await db
    .prepare(`SELECT * FROM webhooks WHERE ${ownedBy} ORDER BY created_at, id`)
    .bind(scope.accountId, scope.subaccountId)
    .all<WebhookRow>();
  return results.map(toWebhook);
}

export interface WebhookChange {
  name?: string;
  target?: string;
  events?: readonly WebhookEventType[];
  active?: boolean;
  authType?: AuthType;
  /** The sealed secrets, and whether they include an auth_token. */
  secrets?: { sealed: string; authTokenSet: boolean };
}

/**
 * Applies a change. A webhook turned on again starts after the events written while it was off,
 * and a new target starts afresh: neither gets a backlog, and a failing batch is given up.
 */
export async function updateWebhook(
  db: D1Database,
  current: Webhook,
  change: WebhookChange,
): Promise<void> {
  const sets: string[] = [];
  const params: unknown[] = [current.id];
  const set = (column: string, value: unknown) => {
    params.push(value);
    sets.push(`${column} = ?${params.length}`);
  };
  if (change.name !== undefined) set("name", change.name);
  if (change.target !== undefined) set("target", change.target);
  if (change.events !== undefined) set("events", JSON.stringify(change.events));
  if (change.active !== undefined) set("active", change.active ? 1 : 0);
  if (change.authType !== undefined) set("auth_type", change.authType);
  if (change.secrets !== undefined) {
    set("secrets", change.secrets.sealed);
    set("auth_token_set", change.secrets.authTokenSet ? 1 : 0);
  }
  const restart =
    (change.active === true && !current.active) ||
    (change.target !== undefined && change.target !== current.target);
  if (restart) {
    sets.push(
      "cursor = (SELECT COALESCE(MAX(id), 0) FROM webhook_events)",
      "batch_id = NULL, batch_last_event_id = NULL, batch_attempts = 0",
      `batch_first_attempt_at = NULL, next_attempt_at = ${now}`,
    );
  }
  await db
    .prepare(`UPDATE webhooks SET ${[...sets, `updated_at = ${now}`].join(", ")} WHERE id = ?1`)
    .bind(...params)
    .run();
}

export async function deleteWebhook(db: D1Database, id: string): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM webhooks WHERE id = ?").bind(id),
    db.prepare("DELETE FROM webhook_attempts WHERE webhook_id = ?").bind(id),
  ]);
}

/** Whose webhooks: the account that owns `domain`, the `accounts` listed, or (neither) all. */
export interface WebhookScope {
  domain?: string;
  accounts?: readonly number[];
}

/**
 * Active webhooks with events to deliver whose next attempt is due and that nobody holds, the
 * most overdue first, within `scope`.
 */
export async function dueWebhooks(
  db: D1Database,
  at: string,
  limit: number,
  scope: WebhookScope = {},
): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT id FROM webhooks w
       WHERE active = 1 AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)
         AND (?3 IS NULL OR account_id = (SELECT account_id FROM tracking_domains WHERE domain = ?3))
         AND (?4 IS NULL OR account_id IN (SELECT value FROM json_each(?4)))
         AND EXISTS (SELECT 1 FROM webhook_events e WHERE e.account_id = w.account_id
           AND e.id > w.cursor AND (w.subaccount_id IS NULL OR e.subaccount_id = w.subaccount_id))
       ORDER BY next_attempt_at LIMIT ?2`,
    )
    .bind(at, limit, scope.domain ?? null, scope.accounts ? JSON.stringify(scope.accounts) : null)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Takes the webhook until `until` if it is due and nobody holds it; null when it cannot. */
export async function claimWebhook(
  db: D1Database,
  id: string,
  at: string,
  until: string,
): Promise<Webhook | null> {
  const row = await db
    .prepare(
      `UPDATE webhooks SET lease_until = ?3
       WHERE id = ?1 AND active = 1 AND next_attempt_at <= ?2
         AND (lease_until IS NULL OR lease_until <= ?2)
       RETURNING *`,
    )
    .bind(id, at, until)
    .first<WebhookRow>();
  return row ? toWebhook(row) : null;
}

interface EventRow {
  id: number;
  type: WebhookEventType;
  account_id: number;
  subaccount_id: number;
  domain: string;
  tls_status: string | null;
  previous_tls_status: string | null;
  error_code: string | null;
  error_detail: string | null;
  action_by: string | null;
  issued_at: string | null;
  expires_at: string | null;
  renews_at: string | null;
  https_checked_at: string | null;
  https_error_code: string | null;
  https_detail: string | null;
  previous_https_error_code: string | null;
  details: string | null;
  created_at: string;
}

/** The webhook's events after its cursor (up to `through` when a batch is being retried). */
export async function eventsAfterCursor(
  db: D1Database,
  hook: Webhook,
  through: number | null,
  limit: number,
): Promise<WebhookEvent[]> {
  const { results } = await db
    .prepare(
      `SELECT * FROM webhook_events
       WHERE account_id = ?1 AND (?2 IS NULL OR subaccount_id = ?2) AND id > ?3
         AND (?4 IS NULL OR id <= ?4)
       ORDER BY id LIMIT ?5`,
    )
    .bind(hook.accountId, hook.subaccountId, hook.cursor, through, limit)
    .all<EventRow>();
  return results.map((r) => ({
    id: r.id,
    type: r.type,
    accountId: r.account_id,
    subaccountId: r.subaccount_id,
    domain: r.domain,
    tlsStatus: r.tls_status,
    previousTlsStatus: r.previous_tls_status,
    errorCode: r.error_code,
    errorDetail: r.error_detail,
    actionBy: r.action_by,
    issuedAt: r.issued_at,
    expiresAt: r.expires_at,
    renewsAt: r.renews_at,
    https:
      r.https_checked_at === null
        ? null
        : {
            checkedAt: r.https_checked_at,
            errorCode: r.https_error_code,
            detail: r.https_detail,
            previousErrorCode: r.previous_https_error_code,
          },
    engagement: r.details === null ? null : (JSON.parse(r.details) as EngagementDetails),
    createdAt: r.created_at,
  }));
}

export interface AttemptRecord {
  batchId: string;
  events: number;
  attempt: number;
  outcome: "delivered" | "failed" | "dropped";
  responseCode: number | null;
  failure: string | null;
  attemptedAt: string;
}

/** The attempt, recorded only while `leaseUntil` still holds the webhook (run before its release). */
const insertAttempt = (db: D1Database, webhookId: string, leaseUntil: string, a: AttemptRecord) =>
  db
    .prepare(
      `INSERT INTO webhook_attempts (webhook_id, batch_id, events, attempt, outcome, response_code,
         failure, attempted_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
       WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?1 AND lease_until = ?9)`,
    )
    .bind(
      webhookId,
      a.batchId,
      a.events,
      a.attempt,
      a.outcome,
      a.responseCode,
      a.failure,
      a.attemptedAt,
      leaseUntil,
    );

/**
 * The batch is done with (delivered, given up, or nothing in it was wanted): the cursor moves past
 * it and the webhook is released, due again from `at`. Only while the caller still holds it
 * (`leaseUntil`).
 */
export async function finishBatch(
  db: D1Database,
  hook: Webhook,
  leaseUntil: string,
  lastEventId: number,
  attempt: AttemptRecord | null,
  at: Date,
): Promise<void> {
  // The attempt first: the update that follows releases the lease it is checked against.
  const statements = attempt ? [insertAttempt(db, hook.id, leaseUntil, attempt)] : [];
  statements.push(
    db
      .prepare(
        `UPDATE webhooks SET cursor = ?3, batch_id = NULL, batch_last_event_id = NULL,
           batch_attempts = 0, batch_first_attempt_at = NULL, next_attempt_at = ?7,
           lease_until = NULL,
           last_success_at = CASE WHEN ?4 = 'delivered' THEN ?5 ELSE last_success_at END,
           last_failure_at = CASE WHEN ?4 = 'dropped' THEN ?5 ELSE last_failure_at END,
           last_failure = CASE WHEN ?4 = 'dropped' THEN ?6 ELSE last_failure END
         WHERE id = ?1 AND lease_until = ?2`,
      )
      .bind(
        hook.id,
        leaseUntil,
        lastEventId,
        attempt?.outcome ?? null,
        attempt?.attemptedAt ?? null,
        attempt?.failure ?? null,
        at.toISOString(),
      ),
  );
  await db.batch(statements);
}

/**
 * Records the batch about to be sent, before its POST: a deliverer that dies mid-POST leaves it
 * to the next one, which sends the same id and events (so an endpoint can drop a repeat). False
 * when the lease was lost meanwhile.
 */
export async function openBatch(
  db: D1Database,
  hook: Webhook,
  leaseUntil: string,
  batchId: string,
  lastEventId: number,
): Promise<boolean> {
  const result = await db
    .prepare(
      `UPDATE webhooks SET batch_id = ?3, batch_last_event_id = ?4
       WHERE id = ?1 AND lease_until = ?2`,
    )
    .bind(hook.id, leaseUntil, batchId, lastEventId)
    .run();
  return result.meta.changes > 0;
}

/** The batch failed and will be tried again at `retryAt`, with the same id and events. */
export async function retryBatch(
  db: D1Database,
  hook: Webhook,
  leaseUntil: string,
  lastEventId: number,
  attempt: AttemptRecord,
  retryAt: string,
): Promise<void> {
  await db.batch([
    insertAttempt(db, hook.id, leaseUntil, attempt),
    db
      .prepare(
        `UPDATE webhooks SET batch_id = ?3, batch_last_event_id = ?4, batch_attempts = ?5,
           batch_first_attempt_at = COALESCE(batch_first_attempt_at, ?6), next_attempt_at = ?7,
           lease_until = NULL, last_failure_at = ?6, last_failure = ?8
         WHERE id = ?1 AND lease_until = ?2`,
      )
      .bind(
        hook.id,
        leaseUntil,
        attempt.batchId,
        lastEventId,
        attempt.attempt,
        attempt.attemptedAt,
        retryAt,
        attempt.failure,
      ),
  ]);
}

/** The newest attempts first. */
export async function listAttempts(
  db: D1Database,
  webhookId: string,
  limit: number,
): Promise<AttemptRecord[]> {
  const { results } = await db
    .prepare("SELECT * FROM webhook_attempts WHERE webhook_id = ? ORDER BY id DESC LIMIT ?")
    .bind(webhookId, limit)
    .all<{
      batch_id: string;
      events: number;
      attempt: number;
      outcome: AttemptRecord["outcome"];
      response_code: number | null;
      failure: string | null;
      attempted_at: string;
    }>();
  return results.map((r) => ({
    batchId: r.batch_id,
    events: r.events,
    attempt: r.attempt,
    outcome: r.outcome,
    responseCode: r.response_code,
    failure: r.failure,
    attemptedAt: r.attempted_at,
  }));
}

/** Forgets events and attempts older than `before`; how many rows went. */
export async function pruneWebhookHistory(db: D1Database, before: Date): Promise<number> {
  const at = before.toISOString();
  const [events, attempts] = await db.batch([
    db.prepare("DELETE FROM webhook_events WHERE created_at < ?").bind(at),
    db.prepare("DELETE FROM webhook_attempts WHERE attempted_at < ?").bind(at),
  ]);
  return (events?.meta.changes ?? 0) + (attempts?.meta.changes ?? 0);
}
