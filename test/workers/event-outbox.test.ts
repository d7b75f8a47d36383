// The per-isolate outbox between clicks and the Queue: a burst becomes a few messages within the
// Queue's limits, every event goes exactly once, and a Queue that fails for a moment loses nothing.
// The Queue is Miniflare's, with the worker's own consumer writing to D1 (what is counted at the
// end is what reached D1); a recording wrapper around it counts the messages and fails sends.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import type { EngagementEvent, EngagementMessage } from "../../src/tracking/events";
import { EventOutbox, messageLimits } from "../../src/tracking/outbox";

/** Each test's events carry a run of their own, so that what reached D1 can be counted. */
let run = "";
const event = (i: number, url = `https://example.com/${i}`): EngagementEvent => ({
  id: `event-${run}-${i}`,
  type: "click",
  occurredAt: new Date().toISOString(),
  trackingDomain: "track.example.test",
  accountId: 1,
  subaccountId: 0,
  messageId: `m-${run}`,
  recipientId: null,
  linkName: null,
  targetUrl: url,
  userAgent: null,
  // Each from a network of its own: one network's events past 60 a minute are only counted.
  ipPrefix: `10.${(i >> 8) & 255}.${i & 255}.0/24`,
  secure: true,
});

/** The real Queue, recording what it is sent and failing the first `failures` sends. */
function recordingQueue(failures = 0) {
  const sent: EngagementMessage[] = [];
  let left = failures;
  const queue = {
    async send(body: string, options?: QueueSendOptions) {
      if (left-- > 0) throw new Error("Queue send failed: internal error");
      // JSON text, within what the Queue carries: 128 KB.
      expect(options?.contentType).toBe("text");
      expect(new TextEncoder().encode(body).length).toBeLessThanOrEqual(128 * 1024);
      sent.push(JSON.parse(body));
      await env.ENGAGEMENT_EVENTS.send(body, options);
    },
  } as unknown as Queue;
  return { queue, sent };
}

/** Waits until the consumer wrote `count` of this run's events to D1, then their ids. */
async function written(count: number): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { results } = await env.DB.prepare(
      "SELECT id FROM engagement_events WHERE message_id = ?",
    )
      .bind(`m-${run}`)
      .all<{ id: string }>();
    if (results.length >= count || Date.now() > deadline) return results.map((r) => r.id);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Adds events as separate requests would, each with its own execution context. */
async function clicks(outbox: EventOutbox, events: EngagementEvent[]) {
  const contexts = events.map((e) => {
    const ctx = createExecutionContext();
    outbox.add(e, ctx);
    return ctx;
  });
  await Promise.all(contexts.map((ctx) => waitOnExecutionContext(ctx)));
}

const ids = (sent: EngagementMessage[]) => sent.flatMap((m) => m.events.map((e) => e.id));

describe("the engagement event outbox", () => {
  beforeEach(() => {
    run = crypto.randomUUID().slice(0, 8);
  });

  it("sends a burst of clicks as one message", async () => {
    const { queue, sent } = recordingQueue();
    const events = Array.from({ length: 40 }, (_, i) => event(i));
    await clicks(new EventOutbox(queue, 5), events);
    expect(sent).toHaveLength(1);
    expect(ids(sent)).toEqual(events.map((e) => e.id));
    expect((await written(40)).sort()).toEqual(events.map((e) => e.id).sort());
  }, 30_000);

  it("splits a large burst into messages within the Queue's limits, each event once", async () => {
    const { queue, sent } = recordingQueue();
    const long = (i: number) => `https://example.com/${"€".repeat(1300)}/${i}`;
    const events = [
      ...Array.from({ length: 1200 }, (_, i) => event(i)),
      ...Array.from({ length: 60 }, (_, i) => event(2000 + i, long(i))),
    ];
    await clicks(new EventOutbox(queue, 5), events);
    expect(sent.length).toBeGreaterThan(2);
    for (const message of sent)
      expect(message.events.length).toBeLessThanOrEqual(messageLimits.events);
    expect(ids(sent).sort()).toEqual(events.map((e) => e.id).sort());
    // Each event reached D1 once.
    expect((await written(events.length)).sort()).toEqual(events.map((e) => e.id).sort());
  }, 30_000);

  it("sends clicks that come after a batch went in a batch of their own", async () => {
    const { queue, sent } = recordingQueue();
    const outbox = new EventOutbox(queue, 5);
    await clicks(outbox, [event(1), event(2)]);
    await clicks(outbox, [event(3)]);
    expect(sent.map((m) => m.events.map((e) => e.id))).toEqual([
      [`event-${run}-1`, `event-${run}-2`],
      [`event-${run}-3`],
    ]);
  });

  it("tries again when the Queue fails for a moment", async () => {
    const { queue, sent } = recordingQueue(2);
    await clicks(new EventOutbox(queue, 5), [event(1), event(2)]);
    expect(ids(sent)).toEqual([`event-${run}-1`, `event-${run}-2`]);
    expect((await written(2)).sort()).toEqual([`event-${run}-1`, `event-${run}-2`]);
  }, 30_000);
});
