// The engagement event consumer and API: a failed batch is retried and written once, a
// redelivered message is not counted twice, bad messages do not block good ones; events read
// back newest first, filtered, paged, and only by their own account.
import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  type EngagementEvent,
  pruneEngagementEvents,
  pruneExpiredEngagement,
  writeEvents,
} from "../../src/tracking/events";
import worker from "../../workers/edge";
import { type ErrorBody, newAccount } from "./helpers";

const event = (accountId: number, overrides: Partial<EngagementEvent> = {}): EngagementEvent => ({
  id: crypto.randomUUID(),
  type: "click",
  occurredAt: new Date().toISOString(),
  trackingDomain: "track.example.test",
  accountId,
  subaccountId: 0,
  messageId: "m-1",
  recipientId: "r-1",
  linkName: "cta",
  targetUrl: "https://example.com/",
  userAgent: "Mail/1.0",
  ipPrefix: "203.0.113.0/24",
  secure: true,
  ...overrides,
});

const messages = (bodies: unknown[]) =>
  bodies.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts: 1, body }));

/** A database whose batch writes fail `failures` times, then work. */
function flakyDb(failures: number): D1Database {
  let left = failures;
  return new Proxy(env.DB, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          if (left-- > 0) throw new Error("D1_ERROR: network connection lost");
          return target.batch(statements);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function consume(bodies: unknown[], db: D1Database) {
  const batch = createMessageBatch("tracking-edge-engagement", messages(bodies));
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, DB: db }, ctx);
  return getQueueResult(batch, ctx);
}

const count = async (accountId: number) =>
  (
    await env.DB.prepare("SELECT COUNT(*) AS n FROM engagement_events WHERE account_id = ?")
      .bind(accountId)
      .first<{ n: number }>()
  )?.n;

describe("the engagement event consumer", () => {
  it("retries a batch that fails, and writes it exactly once however often it comes", async () => {
    const { accountId } = await newAccount();
    const events = [
      event(accountId),
      event(accountId, { type: "open", targetUrl: null }),
      event(accountId),
    ];

    const bodies = [{ events: events.slice(0, 2) }, { events: events.slice(2) }, { events }];
    const failed = await consume(bodies, flakyDb(1));
    expect(failed.retryMessages.map((m: { msgId: string }) => m.msgId).sort()).toEqual([
      "msg-0",
      "msg-1",
      "msg-2",
    ]);
    expect(failed.explicitAcks).toEqual([]);
    expect(await count(accountId)).toBe(0);

    // The third message repeats the first two's events: each is still written once.
    const retried = await consume(bodies, env.DB);
    expect(retried.explicitAcks.sort()).toEqual(["msg-0", "msg-1", "msg-2"]);
    expect(await count(accountId)).toBe(3);

    // A redelivery (the acknowledgement was lost) changes nothing.
    await consume(bodies, env.DB);
    expect(await count(accountId)).toBe(3);
  });

  it("drops what is malformed and writes the rest", async () => {
    const { accountId } = await newAccount();
    const result = await consume(
      [
        { events: [event(accountId), { type: "click", id: 42 }] },
        "nonsense",
        { events: [] },
        event(accountId),
      ],
      env.DB,
    );
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-1", "msg-2", "msg-3"]);
    expect(result.retryMessages).toEqual([]);
    expect(await count(accountId)).toBe(1);
  });

  it("keeps every field of an event as sent, the IP prefix and nulls included", async () => {
    const { accountId } = await newAccount();
    const sent = event(accountId, {
      type: "open",
      subaccountId: 7,
      targetUrl: null,
      linkName: null,
      userAgent: "Mozilla/5.0 (“quoted” ünïcödé)",
      ipPrefix: "2001:db8:1::/48",
      secure: false,
    });
    await consume([{ events: [sent] }], env.DB);
    const row = await env.DB.prepare("SELECT * FROM engagement_events WHERE id = ?")
      .bind(sent.id)
      .first();
    expect(row).toEqual({
      id: sent.id,
      type: "open",
      occurred_at: sent.occurredAt,
      tracking_domain: sent.trackingDomain,
      account_id: accountId,
      subaccount_id: 7,
      message_id: "m-1",
      recipient_id: "r-1",
      link_name: null,
      target_url: null,
      user_agent: "Mozilla/5.0 (“quoted” ünïcödé)",
      ip_prefix: "2001:db8:1::/48",
      secure: 0,
    });
  });
});

describe("engagement event retention", () => {
  const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
  const left = async () =>
    (
      await env.DB.prepare("SELECT id FROM engagement_events ORDER BY rowid").all<{ id: string }>()
    ).results.map((r) => r.id);

  it("deletes what is older than the retention, oldest written first, a bounded number a run", async () => {
    await env.DB.prepare("DELETE FROM engagement_events").run();
    const account = await newAccount();
    const old = (n: number) =>
      event(account.accountId, { id: `old-${n}`, occurredAt: daysAgo(40) });
    await writeEvents(env.DB, [1, 2, 3, 4, 5].map(old));
    await writeEvents(env.DB, [
      event(account.accountId, { id: "recent-1", occurredAt: daysAgo(1) }),
      event(account.accountId, { id: "recent-2" }),
    ]);
    // Written late, with an old time.
    await writeEvents(env.DB, [old(6)]);

    const cutoff = new Date(Date.now() - 30 * 86_400_000);
    expect(await pruneEngagementEvents(env.DB, cutoff, 4, 2)).toBe(4);
    expect(await left()).toEqual(["old-5", "recent-1", "recent-2", "old-6"]);
    expect(await pruneEngagementEvents(env.DB, cutoff)).toBe(2);
    expect(await left()).toEqual(["recent-1", "recent-2"]);
    expect(await pruneEngagementEvents(env.DB, cutoff)).toBe(0);
  });

  it("keeps ENGAGEMENT_RETENTION_DAYS of them", async () => {
    await env.DB.prepare("DELETE FROM engagement_events").run();
    const account = await newAccount();
    await writeEvents(env.DB, [
      event(account.accountId, { id: "twelve-days", occurredAt: daysAgo(12) }),
      event(account.accountId, { id: "eight-days", occurredAt: daysAgo(8) }),
    ]);
    expect(await pruneExpiredEngagement(env, new Date())).toBe(0);
    expect(
      await pruneExpiredEngagement({ ...env, ENGAGEMENT_RETENTION_DAYS: "10" }, new Date()),
    ).toBe(1);
    expect(await left()).toEqual(["eight-days"]);
  });
});

describe("one client network replaying links", () => {
  it("stores at most the limit per domain, network and minute across batches, and counts the rest", async () => {
    const account = await newAccount();
    const domain = `flood-${crypto.randomUUID().slice(0, 8)}.example.test`;
    const minute = "2026-12-07T10:15";
    const from = (ipPrefix: string, second: number, type: "click" | "open" = "click") =>
      event(account.accountId, {
        trackingDomain: domain,
        ipPrefix,
        type,
        occurredAt: `${minute}:${String(second).padStart(2, "0")}.000Z`,
      });
    const flood = Array.from({ length: 70 }, (_, i) => from("198.51.100.0/24", i % 60));
    // Two batches, as two consumer invocations would write them; a quiet network beside them.
    await writeEvents(env.DB, [...flood.slice(0, 40), from("192.0.2.0/24", 1)], 60);
    await writeEvents(env.DB, [...flood.slice(40), from("192.0.2.0/24", 2, "open")], 60);
    // The next minute starts afresh.
    await writeEvents(
      env.DB,
      [
        event(account.accountId, {
          trackingDomain: domain,
          ipPrefix: "198.51.100.0/24",
          occurredAt: "2026-12-07T10:16:00.000Z",
        }),
      ],
      60,
    );
    const stored = await env.DB.prepare(
      "SELECT ip_prefix, COUNT(*) AS n FROM engagement_events WHERE tracking_domain = ? GROUP BY ip_prefix ORDER BY ip_prefix",
    )
      .bind(domain)
      .all<{ ip_prefix: string; n: number }>();
    expect(stored.results).toEqual([
      { ip_prefix: "192.0.2.0/24", n: 2 },
      { ip_prefix: "198.51.100.0/24", n: 61 },
    ]);
    const counted = await account.call(
      "GET",
      `/events/engagement/counted?tracking_domain=${domain}`,
    );
    expect(counted.status).toBe(200);
    expect((await counted.json<{ results: unknown[] }>()).results).toEqual([
      {
        day: "2026-12-07",
        tracking_domain: domain,
        subaccount_id: 0,
        ip_prefix: "198.51.100.0/24",
        type: "click",
        count: 10,
      },
    ]);
    // Another account sees none of it.
    const stranger = await newAccount();
    const theirs = await stranger.call(
      "GET",
      `/events/engagement/counted?tracking_domain=${domain}`,
    );
    expect((await theirs.json<{ results: unknown[] }>()).results).toEqual([]);
  });
});

describe("EU domains' events", () => {
  const stored = async (db: D1Database, id: string) =>
    (
      await db.prepare("SELECT COUNT(*) AS n FROM engagement_events WHERE id = ?").bind(id).first<{
        n: number;
      }>()
    )?.n;

  it("are stored only in the EU database, referenced once for a webhook that asks, without personal fields", async () => {
    const account = await newAccount();
    const hook = await account.call("POST", "/webhooks", {
      body: { name: "Clicks", target: "https://hooks.example.com/clicks", events: ["click"] },
    });
    expect(hook.status).toBe(200);
    const us = event(account.accountId, { trackingDomain: "track.us.example.test" });
    const eu = event(account.accountId, {
      trackingDomain: "track.eu.example.test",
      recipientId: "rcpt-eu-9",
    });
    const eu2 = event(account.accountId, { trackingDomain: "track.eu.example.test" });
    const bodies = [
      JSON.stringify({ events: [us] }),
      JSON.stringify({ region: "eu", events: [eu, eu2] }),
    ];
    // Delivered twice (a redelivery): written once, referenced once.
    for (let i = 0; i < 2; i++) {
      const result = await consume(bodies, env.DB);
      expect(result.explicitAcks).toHaveLength(2);
    }
    expect(await stored(env.DB, us.id)).toBe(1);
    expect(await stored(env.DB_EU, us.id)).toBe(0);
    for (const e of [eu, eu2]) {
      expect(await stored(env.DB_EU, e.id)).toBe(1);
      expect(await stored(env.DB, e.id)).toBe(0);
    }
    const { results } = await env.DB.prepare(
      "SELECT type, domain, details FROM webhook_events WHERE account_id = ? ORDER BY id",
    )
      .bind(account.accountId)
      .all<{ type: string; domain: string; details: string }>();
    const references = results.filter((r) => r.domain === "track.eu.example.test");
    expect(references.map((r) => JSON.parse(r.details))).toEqual([
      { event_id: eu.id, region: "eu" },
      { event_id: eu2.id, region: "eu" },
    ]);
    // The US click is in webhook_events as it always was, by the trigger.
    expect(results.filter((r) => r.domain === "track.us.example.test")).toHaveLength(1);
  });

  it("are referenced for nobody without a webhook asking for them", async () => {
    const account = await newAccount();
    const eu = event(account.accountId, { trackingDomain: "track.eu.example.test" });
    await consume([JSON.stringify({ region: "eu", events: [eu] })], env.DB);
    expect(await stored(env.DB_EU, eu.id)).toBe(1);
    const row = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM webhook_events WHERE account_id = ?",
    )
      .bind(account.accountId)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });
});

describe("GET /api/v1/events/engagement", () => {
  it("reads back an account's events newest first, filtered and paged", async () => {
    const account = await newAccount();
    const base = Date.parse("2026-11-01T00:00:00Z");
    const events = Array.from({ length: 7 }, (_, i) =>
      event(account.accountId, {
        occurredAt: new Date(base + i * 60_000).toISOString(),
        messageId: i % 2 === 0 ? "even" : "odd",
        type: i === 6 ? "open" : "click",
        trackingDomain: i < 3 ? "a.example.test" : "b.example.test",
      }),
    );
    // Some in each store (an account with US and EU domains): read as one list, paged across.
    await writeEvents(
      env.DB,
      events.filter((_, i) => i % 3 !== 1),
    );
    await writeEvents(
      env.DB_EU,
      events.filter((_, i) => i % 3 === 1),
    );

    const page = async (query: string) => {
      const response = await account.call("GET", `/events/engagement${query}`);
      expect(response.status).toBe(200);
      return response.json<{
        results: { id: string; occurred_at: string; ip_prefix: string }[];
        links: { next: string | null };
      }>();
    };
    const all = await page("");
    expect(all.results.map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
    expect(all.results[0]?.ip_prefix).toBe("203.0.113.0/24");

    expect((await page("?message_id=even")).results).toHaveLength(4);
    expect((await page("?tracking_domain=A.example.test")).results).toHaveLength(3);
    expect((await page("?type=open")).results).toHaveLength(1);
    expect(
      (
        await page(
          `?from=${new Date(base + 2 * 60_000).toISOString()}&to=${new Date(base + 5 * 60_000).toISOString()}`,
        )
      ).results,
    ).toHaveLength(3);

    const seen: string[] = [];
    let next: string | null = "?limit=3";
    while (next) {
      const current: { results: { id: string }[]; links: { next: string | null } } = await page(
        next.replace(/^\/api\/v1\/events\/engagement/, ""),
      );
      seen.push(...current.results.map((e) => e.id));
      next = current.links.next;
    }
    expect(seen).toEqual(events.map((e) => e.id).reverse());
  });

  it("shows another account nothing, and a subaccount only its own", async () => {
    const owner = await newAccount({ subaccounts: [1] });
    const stranger = await newAccount();
    await writeEvents(env.DB, [
      event(owner.accountId),
      event(owner.accountId, { subaccountId: 1 }),
    ]);
    const strangers = await stranger.call("GET", "/events/engagement");
    expect((await strangers.json<{ results: unknown[] }>()).results).toEqual([]);
    const sub = await owner.call("GET", "/events/engagement", {
      headers: { "x-msys-subaccount": "1" },
    });
    expect(
      (await sub.json<{ results: { subaccount_id: number }[] }>()).results.map(
        (e) => e.subaccount_id,
      ),
    ).toEqual([1]);
  });

  it.each([
    ["?from=yesterday", "from"],
    ["?limit=0", "limit"],
    ["?type=bounce", "type"],
    ["?cursor=%%%", "cursor"],
  ])("answers %s with a 400 naming the parameter", async (query, param) => {
    const account = await newAccount();
    const response = await account.call("GET", `/events/engagement${query}`);
    expect(response.status).toBe(400);
    expect((await response.json<ErrorBody>()).errors[0]?.param).toBe(param);
  });
});
