// Engagement events: what a click or an open records, how it travels (the ENGAGEMENT_EVENTS
// Queue, so the response never waits for storage), and how the consumer writes batches to D1:
// all of a batch or none, retried whole on failure, and idempotent by event id, so a redelivered
// message is never counted twice. No raw IP address is kept: only its network prefix.
// EU domains' events come on their own queue (ENGAGEMENT_EVENTS_EU, EU jurisdiction) and are
// stored only in DB_EU; the global database gets a reference per event for webhooks (its id, no
// personal field). Reading an account's events reads both stores.
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
  /** Sent by the EU outbox only: the events belong in DB_EU. */
  region: z.literal("eu").optional(),
});
export type EngagementMessage = { events: EngagementEvent[]; region?: "eu" };

/** Where clicks and opens are stored: the global database, and the EU one for EU domains. */
export interface EngagementStores {
  global: D1Database;
  eu: D1Database;
}

export const engagementStores = (env: Env): EngagementStores => ({ global: env.DB, eu: env.DB_EU });

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
 *
 * Each tracking domain, client network and minute stores at most `perNetworkPerMinute` events
 * one by one; the rest are counted in engagement_overflow (per day, network and type). The count
 * of what each (domain, network, minute) has seen is raised first, by what this batch brings;
 * an event is stored when its place among them is within the limit. A batch delivered twice is
 * counted twice (its events are still stored once): rare, and only ever towards counting more.
 */
export async function writeEvents(
  db: D1Database,
  events: readonly EngagementEvent[],
  perNetworkPerMinute: number = Number.MAX_SAFE_INTEGER,
): Promise<void> {
  if (events.length === 0) return;
  // What each event carries for the statements: its minute, network, place and group size.
  const groups = new Map<string, { m: string; d: string; p: string; n: number }>();
  const placed = events.map((event) => {
    const m = event.occurredAt.slice(0, 16);
    const p = event.ipPrefix ?? "";
    const key = `${m}|${event.trackingDomain}|${p}`;
    const group = groups.get(key) ?? { m, d: event.trackingDomain, p, n: 0 };
    group.n++;
    groups.set(key, group);
    return { ...event, _m: m, _p: p, _k: group.n, _g: group };
  });
  const rows = placed.map(({ _g, ...event }) => JSON.stringify({ ...event, _n: _g.n }));
  // Where this event stands among everything its domain, network and minute has seen.
  const place = `(SELECT seen FROM engagement_rates r WHERE r.minute = value ->> '$._m'
      AND r.tracking_domain = value ->> '$.trackingDomain' AND r.ip_prefix = value ->> '$._p')
    - (value ->> '$._n') + (value ->> '$._k')`;
  const count = db
    .prepare(
      `INSERT INTO engagement_rates (minute, tracking_domain, ip_prefix, seen)
       SELECT value ->> '$.m', value ->> '$.d', value ->> '$.p', value ->> '$.n' FROM json_each(?1)
       WHERE true
       ON CONFLICT DO UPDATE SET seen = seen + excluded.seen`,
    )
    .bind(JSON.stringify([...groups.values()]));
  const insert = db.prepare(
    `INSERT INTO engagement_events (id, type, occurred_at, tracking_domain, account_id, subaccount_id,
       message_id, recipient_id, link_name, target_url, user_agent, ip_prefix, secure)
     SELECT value ->> '$.id', value ->> '$.type', value ->> '$.occurredAt',
            value ->> '$.trackingDomain', value ->> '$.accountId', value ->> '$.subaccountId',
            value ->> '$.messageId', value ->> '$.recipientId', value ->> '$.linkName',
            value ->> '$.targetUrl', value ->> '$.userAgent', value ->> '$.ipPrefix',
            value ->> '$.secure'
     FROM json_each(?1) WHERE ${place} <= ?2
     ON CONFLICT (id) DO NOTHING`,
  );
  const overflow = db.prepare(
    `INSERT INTO engagement_overflow (account_id, tracking_domain, day, ip_prefix, type,
       subaccount_id, count)
     SELECT value ->> '$.accountId', value ->> '$.trackingDomain', substr(value ->> '$._m', 1, 10),
            value ->> '$._p', value ->> '$.type', value ->> '$.subaccountId', COUNT(*)
     FROM json_each(?1) WHERE ${place} > ?2
     GROUP BY 1, 2, 3, 4, 5
     ON CONFLICT DO UPDATE SET count = count + excluded.count`,
  );
  const chunks = chunked(rows);
  await db.batch([
    count,
    ...chunks.map((chunk) => insert.bind(chunk, perNetworkPerMinute)),
    ...chunks.map((chunk) => overflow.bind(chunk, perNetworkPerMinute)),
  ]);
}

/** JSON arrays of the rows, each small enough for one bound value. */
function chunked(rows: readonly string[]): string[] {
  const chunks: string[] = [];
  let chunk: string[] = [];
  let size = 0;
  for (const json of rows) {
    if (size + json.length > maxJsonPerStatement && chunk.length > 0) {
      chunks.push(`[${chunk.join(",")}]`);
      chunk = [];
      size = 0;
    }
    chunk.push(json);
    size += json.length + 1;
  }
  chunks.push(`[${chunk.join(",")}]`);
  return chunks;
}

/** How long the per-minute counts are kept: long enough for late batches of the same minute. */
export const engagementRateRetentionMs = 15 * 60_000;

/** Deletes per-minute counts older than `before` (the Cron tick's chore). */
export async function pruneEngagementRates(db: D1Database, before: Date): Promise<number> {
  const { meta } = await db
    .prepare("DELETE FROM engagement_rates WHERE minute < ?")
    .bind(before.toISOString().slice(0, 16))
    .run();
  return meta.changes;
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

/**
 * The Cron tick's chore: clicks and opens older than ENGAGEMENT_RETENTION_DAYS go, with the
 * counts of those that were not stored one by one, and the per-minute counts past their use.
 */
export async function pruneExpiredEngagement(env: Env, now: Date): Promise<number> {
  const days = loadConfig(env).engagementRetentionDays;
  const before = new Date(now.getTime() - days * 86_400_000);
  let deleted = 0;
  for (const db of [env.DB, env.DB_EU]) {
    await db
      .prepare("DELETE FROM engagement_overflow WHERE day < ?")
      .bind(before.toISOString().slice(0, 10))
      .run();
    await pruneEngagementRates(db, new Date(now.getTime() - engagementRateRetentionMs));
    deleted += await pruneEngagementEvents(db, before);
  }
  return deleted;
}

/**
 * The Queue consumer: validates each message and each event in it, writes the valid events in
 * one transaction per store, then acknowledges the messages; if a write fails, they are all
 * retried. What is malformed is logged and dropped, so one bad event cannot hold the others
 * back. Returns the accounts whose events were written (their webhooks may have clicks to send).
 */
export async function consumeEngagementBatch(
  batch: MessageBatch<unknown>,
  stores: EngagementStores,
  perNetworkPerMinute?: number,
): Promise<number[]> {
  const events: EngagementEvent[] = [];
  const euEvents: EngagementEvent[] = [];
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
    const into = envelope.data.region === "eu" ? euEvents : events;
    let valid = 0;
    for (const body of envelope.data.events) {
      const parsed = EngagementEventSchema.safeParse(body);
      if (parsed.success) {
        into.push(parsed.data);
        valid++;
      } else dropped(message, parsed.error.issues[0]?.message);
    }
    if (valid > 0) carrying.push(message);
    else message.ack();
  }
  try {
    await writeEvents(stores.global, events, perNetworkPerMinute);
    if (euEvents.length > 0) {
      await writeEvents(stores.eu, euEvents, perNetworkPerMinute);
      await referenceEuEvents(stores, euEvents);
    }
    for (const message of carrying) message.ack();
    return [...new Set([...events, ...euEvents].map((e) => e.accountId))];
  } catch (error) {
    logProblem("engagement_batch_failed", {
      messages: carrying.length,
      events: events.length + euEvents.length,
      message: messageOf(error),
    });
    for (const message of carrying) message.retry({ delaySeconds: 5 });
    return [];
  }
}

/**
 * For the webhooks of accounts that asked for clicks or opens: a reference in the global
 * webhook_events to each EU event stored in DB_EU (one stored by an earlier delivery of the same
 * message counts too: references are unique by event id, so none is written twice).
 */
async function referenceEuEvents(
  stores: EngagementStores,
  events: readonly EngagementEvent[],
): Promise<void> {
  const { results } = await stores.eu
    .prepare("SELECT id FROM engagement_events WHERE id IN (SELECT value FROM json_each(?1))")
    .bind(JSON.stringify(events.map((e) => e.id)))
    .all<{ id: string }>();
  const stored = new Set(results.map((r) => r.id));
  const references = events
    .filter((e) => stored.has(e.id))
    .map((e) => ({
      id: e.id,
      type: e.type,
      accountId: e.accountId,
      subaccountId: e.subaccountId,
      trackingDomain: e.trackingDomain,
    }));
  if (references.length === 0) return;
  await stores.global
    .prepare(
      `INSERT INTO webhook_events (type, account_id, subaccount_id, domain, details)
       SELECT value ->> '$.type', value ->> '$.accountId', value ->> '$.subaccountId',
              value ->> '$.trackingDomain', json_object('event_id', value ->> '$.id', 'region', 'eu')
       FROM json_each(?1)
       WHERE EXISTS (SELECT 1 FROM webhooks WHERE account_id = value ->> '$.accountId'
         AND active = 1 AND instr(events, '"' || (value ->> '$.type') || '"') > 0)
       ON CONFLICT DO NOTHING`,
    )
    .bind(JSON.stringify(references))
    .run();
}

/** The engagement details of EU events by id, read from DB_EU for webhook delivery. */
export async function euEngagementDetails(
  eu: D1Database,
  ids: readonly string[],
): Promise<Map<string, EngagementEvent>> {
  if (ids.length === 0) return new Map();
  const { results } = await eu
    .prepare("SELECT * FROM engagement_events WHERE id IN (SELECT value FROM json_each(?1))")
    .bind(JSON.stringify(ids))
    .all<EventRow>();
  return new Map(results.map((r) => [r.id, eventOf(r)]));
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
 * stable while new events arrive), from both stores: each gives its newest `limit` after the
 * cursor, and the page is the newest `limit` of them together.
 */
export async function listEvents(
  stores: EngagementStores,
  scope: { accountId: number; subaccountId: number | null },
  filter: EventFilter,
  cursor: EventCursor | null,
  limit: number,
): Promise<EngagementEvent[]> {
  const pages = await Promise.all(
    [stores.global, stores.eu].map((db) => listEventsIn(db, scope, filter, cursor, limit)),
  );
  return pages
    .flat()
    .sort((a, b) => compareDesc(a.occurredAt, b.occurredAt) || compareDesc(a.id, b.id))
    .slice(0, limit);
}

/** Descending order of two strings, as SQLite's ORDER BY … DESC on text (binary). */
const compareDesc = (a: string, b: string) => (a < b ? 1 : a > b ? -1 : 0);

async function listEventsIn(
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
    .all<EventRow>();
  return results.map(eventOf);
}

interface EventRow {
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
}

function eventOf(r: EventRow): EngagementEvent {
  return {
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
  };
}

/** Clicks and opens counted but not stored one by one: per day, domain, network and type. */
export interface CountedEngagement {
  day: string;
  trackingDomain: string;
  subaccountId: number;
  ipPrefix: string;
  type: "click" | "open";
  count: number;
}

/** The account's counted-only clicks and opens, newest day first, at most `limit` rows. */
export async function listCountedEngagement(
  stores: EngagementStores,
  scope: { accountId: number; subaccountId: number | null },
  filter: { trackingDomain?: string; fromDay?: string; toDay?: string },
  limit: number,
): Promise<CountedEngagement[]> {
  const parts = await Promise.all(
    [stores.global, stores.eu].map((db) => listCountedIn(db, scope, filter, limit)),
  );
  const key = (r: CountedEngagement) => [r.trackingDomain, r.ipPrefix, r.type] as const;
  return parts
    .flat()
    .sort((a, b) => {
      const [ka, kb] = [key(a), key(b)];
      return (
        compareDesc(a.day, b.day) ||
        -compareDesc(ka[0], kb[0]) ||
        -compareDesc(ka[1], kb[1]) ||
        -compareDesc(ka[2], kb[2])
      );
    })
    .slice(0, limit);
}

async function listCountedIn(
  db: D1Database,
  scope: { accountId: number; subaccountId: number | null },
  filter: { trackingDomain?: string; fromDay?: string; toDay?: string },
  limit: number,
): Promise<CountedEngagement[]> {
  const { results } = await db
    .prepare(
      `SELECT day, tracking_domain, subaccount_id, ip_prefix, type, count FROM engagement_overflow
       WHERE account_id = ?1 AND (?2 IS NULL OR subaccount_id = ?2)
         AND (?3 IS NULL OR tracking_domain = ?3) AND (?4 IS NULL OR day >= ?4)
         AND (?5 IS NULL OR day <= ?5)
       ORDER BY day DESC, tracking_domain, ip_prefix, type LIMIT ?6`,
    )
    .bind(
      scope.accountId,
      scope.subaccountId,
      filter.trackingDomain ?? null,
      filter.fromDay ?? null,
      filter.toDay ?? null,
      limit,
    )
    .all<{
      day: string;
      tracking_domain: string;
      subaccount_id: number;
      ip_prefix: string;
      type: "click" | "open";
      count: number;
    }>();
  return results.map((r) => ({
    day: r.day,
    trackingDomain: r.tracking_domain,
    subaccountId: r.subaccount_id,
    ipPrefix: r.ip_prefix,
    type: r.type,
    count: r.count,
  }));
}
