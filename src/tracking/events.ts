// Engagement events: what a click or an open records, how it travels (the ENGAGEMENT_EVENTS
// Queue, so the response never waits for storage), and how the consumer writes batches to D1:
// all of a batch or none, retried whole on failure, and idempotent by event id, so a redelivered
// message is never counted twice. No raw IP address is kept: only its network prefix.
import { z } from "zod";

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

export async function writeEvents(
  db: D1Database,
  events: readonly EngagementEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const insert = db.prepare(
    `INSERT INTO engagement_events (id, type, occurred_at, tracking_domain, account_id, subaccount_id,
       message_id, recipient_id, link_name, target_url, user_agent, ip_prefix, secure)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  );
  await db.batch(
    events.map((e) =>
      insert.bind(
        e.id,
        e.type,
        e.occurredAt,
        e.trackingDomain,
        e.accountId,
        e.subaccountId,
        e.messageId,
        e.recipientId,
        e.linkName,
        e.targetUrl,
        e.userAgent,
        e.ipPrefix,
        e.secure ? 1 : 0,
      ),
    ),
  );
}

/**
 * The Queue consumer: validates each message, writes the valid ones in one transaction, then
 * acknowledges them; if the write fails, they are all retried. A malformed message is logged and
 * acknowledged, so one bad message cannot hold the others back.
 */
export async function consumeEngagementBatch(
  batch: MessageBatch<unknown>,
  db: D1Database,
): Promise<void> {
  const valid: { message: Message<unknown>; event: EngagementEvent }[] = [];
  for (const message of batch.messages) {
    const parsed = EngagementEventSchema.safeParse(message.body);
    if (parsed.success) valid.push({ message, event: parsed.data });
    else {
      console.error(
        JSON.stringify({
          event: "engagement_event_dropped",
          id: message.id,
          problem: parsed.error.issues[0]?.message,
        }),
      );
      message.ack();
    }
  }
  try {
    await writeEvents(
      db,
      valid.map((v) => v.event),
    );
    for (const { message } of valid) message.ack();
  } catch (error) {
    console.error(
      JSON.stringify({
        event: "engagement_batch_failed",
        size: valid.length,
        message: (error as Error).message,
      }),
    );
    for (const { message } of valid) message.retry({ delaySeconds: 5 });
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
