// How clicks and opens leave the hot path: a per-isolate outbox gathers events for a few
// milliseconds and sends them to the Queue as one message, so a busy isolate makes one Queue call
// (and is billed one operation) per batch instead of one per click. The request that opens a batch
// carries its sending in its own waitUntil; the others only add to it, so no request ever waits on
// another's I/O.

import type { Region } from "../domains/model";
import { logProblem, messageOf } from "../util/log";
import type { EngagementEvent } from "./events";

/** Queues take messages of up to 128 KB; a batch is closed well before, and split if need be. */
export const messageLimits = { events: 500, approximateChars: 60_000, bytes: 120_000 } as const;
/** How long a batch stays open: far below anyone's notice, long enough to gather a burst. */
export const gatherMs = 20;
const retryDelaysMs = [100, 1_000];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A cheap size estimate (the exact size is measured once per message, when it is sent). */
function approximateChars(event: EngagementEvent): number {
  return (
    300 +
    event.trackingDomain.length +
    (event.messageId?.length ?? 0) +
    (event.recipientId?.length ?? 0) +
    (event.linkName?.length ?? 0) +
    (event.targetUrl?.length ?? 0) +
    (event.userAgent?.length ?? 0)
  );
}

export class EventOutbox {
  #events: EngagementEvent[] = [];
  #chars = 0;
  #open = false;

  constructor(
    private readonly queue: Queue,
    private readonly delayMs = gatherMs,
    /** Whose events: an EU outbox sends to the EU queue, and says so in each message. */
    private readonly region: Region = "us",
  ) {}

  /** Adds an event; whichever request opens or fills a batch keeps itself alive to send it. */
  add(event: EngagementEvent, ctx: ExecutionContext): void {
    const chars = approximateChars(event);
    if (this.#chars + chars > messageLimits.approximateChars) ctx.waitUntil(this.#sendGathered());
    this.#events.push(event);
    this.#chars += chars;
    if (this.#events.length >= messageLimits.events) {
      ctx.waitUntil(this.#sendGathered());
    } else if (!this.#open) {
      this.#open = true;
      ctx.waitUntil(
        sleep(this.delayMs).then(() => {
          this.#open = false;
          return this.#sendGathered();
        }),
      );
    }
  }

  /** Sends what has gathered (taken synchronously, so nothing goes twice). */
  #sendGathered(): Promise<void> {
    const events = this.#events;
    this.#events = [];
    this.#chars = 0;
    return events.length === 0 ? Promise.resolve() : this.#send(events);
  }

  /** One message of JSON text (serialised once, here), halved while it is too large. */
  async #send(events: EngagementEvent[]): Promise<void> {
    const body = JSON.stringify(this.region === "eu" ? { region: "eu", events } : { events });
    if (events.length > 1 && new TextEncoder().encode(body).length > messageLimits.bytes) {
      const half = events.length >> 1;
      await Promise.all([this.#send(events.slice(0, half)), this.#send(events.slice(half))]);
      return;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.queue.send(body, { contentType: "text" });
        return;
      } catch (error) {
        const delay = retryDelaysMs[attempt];
        if (delay === undefined) {
          logProblem("engagement_events_not_queued", {
            count: events.length,
            message: messageOf(error),
          });
          return;
        }
        await sleep(delay);
      }
    }
  }
}

const outboxes = new WeakMap<Queue, EventOutbox>();

/** The isolate's outbox for a Queue binding (the EU queue's: `region` eu). */
export function outboxFor(queue: Queue, region: Region = "us"): EventOutbox {
  let outbox = outboxes.get(queue);
  if (!outbox) {
    outbox = new EventOutbox(queue, gatherMs, region);
    outboxes.set(queue, outbox);
  }
  return outbox;
}
