// Engagement events: what a click or an open records, how it travels (the ENGAGEMENT_EVENTS
// Queue, so the response never waits for storage), and how the consumer writes batches to D1:
// all of a batch or none, retried whole on failure, and idempotent by event id, so a redelivered
// message is never counted twice. No raw IP address is kept: only its network prefix.
import { z } from "zod";
import { loadConfig } from "../config";
import { logProblem, messageOf } from "../util/log";

export const EngagementEventSchema = z.object({
  id: z.string().min(1).max(64),
  type: z.enum(["click", "open"]),
  occurredAt: z.iso.datetime(),
  trackingDomain: z.string().min(1).max(253),
  accountId: z.number().int(),
  subaccountId: z.number().int(),
  messageId: z.string().max(256).nullable(),
  recipientId: z.string().max(256).nullable(),
  linkName: z.string().max(256).nullable(),
  targetUrl: z.string().max(4096).nullable(),
  userAgent: z.string().max(512).nullable(),
  ipPrefix: z.string().max(64).nullable(),
  secure: z.boolean(),
});
export type EngagementEvent = z.infer<typeof EngagementEventSchema>;

/** An IPv4 address's /24 or an IPv6 address's /48: enough for geography, not a person. */
export function ipPrefix(ip: string | null | undefined): string | null {
  if (!ip) return null;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/.exec(ip);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  if (!ip.includes(":")) return null;
  const [head = ""] = ip.split("::");
  const groups = head.split(":").filter(Boolean);
  const full = ip.includes("::")
    ? [...groups, "0", "0", "0"].slice(0, 3)
    : ip.split(":").slice(0, 3);
  return `${full.map((g) => g.toLowerCase()).join(":")}::/48`;
}

/**
 * What travels on the Queue: the events one isolate gathered in a few milliseconds, as JSON text
 * `{"events": [...]}`. One message for many events keeps Queue operations (and their cost) a
 * small fraction of the clicks.
 */
export const EngagementMessageSchema = z.object({
  events: z.array(z.unknown()).min(1).max(1000),
});
export type EngagementMessage = { events: EngagementEvent[] };

function messageBody(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** JSON characters per statement: even at 3 UTF-8 bytes each, under D1's 2 MB bound value. */
const maxJsonPerStatement = 600_000;

/**
 * Writes events in one transaction, each statement inserting a JSON array of them (one bound
 * value, however many events: D1 allows 100 bound values). An event already written is skipped.
 */
export async function writeEvents(
  db: D1Database,
  events: readonly EngagementEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const insert = db.prepare(
    `INSERT INTO engagement_events (id, type, occurred_at, tracking_domain, account_id, subaccount_id,
       message_id, recipient_id, link_name, target_url, user_agent, ip_prefix, secure)
     SELECT value ->> '$.id', value ->> '$.type', value ->> '$.occurredAt',
            value ->> '$.trackingDomain', value ->> '$.accountId', value ->> '$.subaccountId',
            value ->> '$.messageId', value ->> '$.recipientId', value ->> '$.linkName',
            value ->> '$.targetUrl', value ->> '$.userAgent', value ->> '$.ipPrefix',
            value ->> '$.secure'
     FROM json_each(?) WHERE true
     ON CONFLICT (id) DO NOTHING`,
  );
  const statements: D1PreparedStatement[] = [];
  let chunk: string[] = [];
  let size = 0;
  for (const event of events) {
    const json = JSON.stringify(event);
    if (size + json.length > maxJsonPerStatement && chunk.length > 0) {
      statements.push(insert.bind(`[${chunk.join(",")}]`));
      chunk = [];
      size = 0;
    }
    chunk.push(json);
    size += json.length + 1;
  }
  statements.push(insert.bind(`[${chunk.join(",")}]`));
  await db.batch(statements);
}

/** Rows one pruning statement deletes at most: small enough for one D1 statement's time. */
const pruneStatementRows = 5_000;

/**
 * Deletes clicks and opens that occurred before `before`, oldest written first, at most
 * `maxRows` (then the next tick goes on); the number deleted. Rows are taken in the order they
 * were written (rowid), which needs no index on the time: a row written late with an old time
 * waits until the rows before it are gone. No trigger fires on delete, so D1's count is exact.
 */
export async function pruneEngagementEvents(
  db: D1Database,
  before: Date,
  maxRows = 20_000,
  statementRows = pruneStatementRows,
): Promise<number> {
  const remove = db.prepare(
    `DELETE FROM engagement_events
     WHERE rowid IN (SELECT rowid FROM engagement_events ORDER BY rowid LIMIT ?1)
       AND occurred_at < ?2`,
  );
  let deleted = 0;
  while (deleted < maxRows) {
    const limit = Math.min(statementRows, maxRows - deleted);
    const { meta } = await remove.bind(limit, before.toISOString()).run();
    deleted += meta.changes;
    // Fewer than asked: the oldest rows left are recent enough (or none are left).
    if (meta.changes < limit) break;
  }
  return deleted;
}

/** The Cron tick's chore: clicks and opens older than ENGAGEMENT_RETENTION_DAYS go. */
export async function pruneExpiredEngagement(env: Env, now: Date): Promise<number> {
  const days = loadConfig(env).engagementRetentionDays;
  return pruneEngagementEvents(env.DB, new Date(now.getTime() - days * 86_400_000));
}

/**
 * The Queue consumer: validates each message and each event in it, writes the valid events in
 * one transaction, then acknowledges the messages; if the write fails, they are all retried.
 * What is malformed is logged and dropped, so one bad event cannot hold the others back.
 * Returns the accounts whose events were written (their webhooks may have clicks to send).
 */
export async function consumeEngagementBatch(
  batch: MessageBatch<unknown>,
  db: D1Database,
): Promise<number[]> {
  const events: EngagementEvent[] = [];
  const carrying: Message<unknown>[] = [];
  const dropped = (message: Message<unknown>, problem: string | undefined) =>
    logProblem("engagement_event_dropped", { id: message.id, problem });
  for (const message of batch.messages) {
    const envelope = EngagementMessageSchema.safeParse(messageBody(message.body));
    if (!envelope.success) {
      dropped(message, envelope.error.issues[0]?.message);
      message.ack();
      continue;
    }
    let valid = 0;
    for (const body of envelope.data.events) {
      const parsed = EngagementEventSchema.safeParse(body);
      if (parsed.success) {
        events.push(parsed.data);
        valid++;
      } else dropped(message, parsed.error.issues[0]?.message);
    }
    if (valid > 0) carrying.push(message);
    else message.ack();
  }
  try {
    await writeEvents(db, events);
    for (const message of carrying) message.ack();
    return [...new Set(events.map((e) => e.accountId))];
  } catch (error) {
    logProblem("engagement_batch_failed", {
      messages: carrying.length,
      events: events.length,
      message: messageOf(error),
    });
    for (const message of carrying) message.retry({ delaySeconds: 5 });
    return [];
  }
}

export interface EventFilter {
  trackingDomain?: string;
  messageId?: string;
  type?: "click" | "open";
  /** Inclusive. */
  from?: string;
  /** Exclusive. */
  to?: string;
}

export interface EventCursor {
  occurredAt: string;
  id: string;
}

/**
 * A page of an account's events, newest first, after `cursor` (keyset pagination on time and id:
 * stable while new events arrive).
 */
export async function listEvents(
  db: D1Database,
  scope: { accountId: number; subaccountId: number | null },
  filter: EventFilter,
  cursor: EventCursor | null,
  limit: number,
): Promise<EngagementEvent[]> {
  const conditions = ["account_id = ?1", "(?2 IS NULL OR subaccount_id = ?2)"];
  const params: (string | number | null)[] = [scope.accountId, scope.subaccountId];
  const add = (sql: string, value: string | number) => {
    params.push(value);
    conditions.push(sql.replaceAll("?", `?${params.length}`));
  };
  if (filter.trackingDomain !== undefined) add("tracking_domain = ?", filter.trackingDomain);
  if (filter.messageId !== undefined) add("message_id = ?", filter.messageId);
  if (filter.type !== undefined) add("type = ?", filter.type);
  if (filter.from !== undefined) add("occurred_at >= ?", filter.from);
  if (filter.to !== undefined) add("occurred_at < ?", filter.to);
  if (cursor) {
    params.push(cursor.occurredAt, cursor.id);
    conditions.push(`(occurred_at, id) < (?${params.length - 1}, ?${params.length})`);
  }
  params.push(limit);
  const { results } = await db
    .prepare(
      `SELECT * FROM engagement_events WHERE ${conditions.join(" AND ")} ORDER BY occurred_at DESC, id DESC LIMIT ?${params.length}`,
    )
    .bind(...params)
    .all<{
      id: string;
      type: "click" | "open";
      occurred_at: string;
      tracking_domain: string;
      account_id: number;
      subaccount_id: number;
      message_id: string | null;
      recipient_id: string | null;
      link_name: string | null;
      target_url: string | null;
      user_agent: string | null;
      ip_prefix: string | null;
      secure: number;
    }>();
  return results.map((r) => ({
    id: r.id,
    type: r.type,
    occurredAt: r.occurred_at,
    trackingDomain: r.tracking_domain,
    accountId: r.account_id,
    subaccountId: r.subaccount_id,
    messageId: r.message_id,
    recipientId: r.recipient_id,
    linkName: r.link_name,
    targetUrl: r.target_url,
    userAgent: r.user_agent,
    ipPrefix: r.ip_prefix,
    secure: r.secure === 1,
  }));
}
