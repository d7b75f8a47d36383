// Webhook deliverers side by side: the Cron tick, a certificate object and a verify call may all
// deliver one account's webhooks at the same moment, and a deliverer may die mid-POST. The
// endpoint is a stand-in on the isolate's fetch (tests and the code they call share it) that
// records every POST it receives and answers slowly, as it is told.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deliverDueWebhooks } from "../../src/webhooks/delivery";
import { insertManagedDomain, newAccount, type TestAccount } from "./helpers";

const target = "https://slow-hook.example.test/events";

interface Received {
  webhookId: string;
  batchId: string;
  /** Each event's domain and new status, in the order sent. */
  events: string[];
}

/** The endpoint: answers each POST after `delayMs` with the next status in `answers` (then 200). */
class SlowEndpoint {
  readonly received: Received[] = [];
  readonly #original = globalThis.fetch;
  answers: number[] = [];
  delayMs = 300;
  /** Set: the next POST is received and then never answered (the deliverer is lost). */
  hangNext = false;
  #release: (() => void)[] = [];

  install(): this {
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      if (!request.url.startsWith(target)) return this.#original(request);
      const payload = (await request.json()) as { msys: Record<string, unknown> }[];
      this.received.push({
        webhookId: request.headers.get("webhook-id") ?? "",
        batchId: request.headers.get("x-messagesystems-batch-id") ?? "",
        events: payload.map((p) => JSON.stringify(Object.values(p.msys)[0])),
      });
      if (this.hangNext) {
        this.hangNext = false;
        await new Promise<void>((resolve) => this.#release.push(resolve));
      } else {
        await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      }
      return new Response("ok", { status: this.answers.shift() ?? 200 });
    }) as typeof fetch;
    return this;
  }

  /** A hung POST is answered after all (200), long after its deliverer's lease ran out. */
  releaseHung(): void {
    for (const release of this.#release.splice(0)) release();
  }

  uninstall(): void {
    this.releaseHung();
    globalThis.fetch = this.#original;
  }
}

let endpoint: SlowEndpoint;
beforeEach(() => {
  endpoint = new SlowEndpoint().install();
});
afterEach(() => endpoint.uninstall());

/** An account with a webhook on the endpoint, and a domain of its whose status changes. */
async function webhookAndDomain(): Promise<{ account: TestAccount; domain: string }> {
  const account = await newAccount();
  const response = await account.call("POST", "/webhooks", {
    body: { name: "race", target, events: ["tls_status_change"] },
  });
  expect(response.status).toBe(200);
  const domain = await insertManagedDomain(account.accountId);
  return { account, domain };
}

/** The domain's status changes: a D1 trigger writes one tls_status_change event. */
async function statusBecomes(domain: string, status: string): Promise<void> {
  await env.DB.prepare("UPDATE tracking_domains SET tls_status = ? WHERE domain = ?")
    .bind(status, domain)
    .run();
}

const statusesOf = (received: Received[]) =>
  received.flatMap((r) =>
    r.events.map((e) => (JSON.parse(e) as { tls_status: string }).tls_status),
  );

describe("two deliverers at once", () => {
  it("send each event once, and the next change once more", async () => {
    const { domain } = await webhookAndDomain();
    await statusBecomes(domain, "failed");
    const now = Date.now();
    const reports = await Promise.all([
      deliverDueWebhooks(env, new Date(now), { domain }),
      deliverDueWebhooks(env, new Date(now), { domain }),
      deliverDueWebhooks(env, new Date(now), { domain }),
    ]);
    expect(endpoint.received).toHaveLength(1);
    expect(statusesOf(endpoint.received)).toEqual(["failed"]);
    expect(reports.map((r) => r.delivered).sort()).toEqual([0, 0, 1]);

    // The same deliverers again, with a new event: it is sent (once), and the first is not.
    await statusBecomes(domain, "valid");
    await Promise.all([
      deliverDueWebhooks(env, new Date(now + 1000), { domain }),
      deliverDueWebhooks(env, new Date(now + 1000), { domain }),
    ]);
    expect(statusesOf(endpoint.received)).toEqual(["failed", "valid"]);
    expect(new Set(endpoint.received.map((r) => r.webhookId)).size).toBe(2);
  });

  it("retry a failed batch once, with its webhook-id and its events", async () => {
    const { account, domain } = await webhookAndDomain();
    await statusBecomes(domain, "failed");
    endpoint.answers = [503];
    const now = Date.now();
    await deliverDueWebhooks(env, new Date(now), { domain });
    expect(endpoint.received).toHaveLength(1);
    // A new event meanwhile waits for the next batch: the retry carries what failed, no more.
    await statusBecomes(domain, "valid");

    // Due again after 30 s: three deliverers at once send the retry once.
    await Promise.all(
      [1, 2, 3].map(() => deliverDueWebhooks(env, new Date(now + 31_000), { domain })),
    );
    const [first, retry, next] = endpoint.received;
    expect(retry).toEqual(first);
    expect(next?.webhookId).not.toBe(first?.webhookId);
    expect(statusesOf(endpoint.received)).toEqual(["failed", "failed", "valid"]);
    const attempts = (
      (await (
        await account.call("GET", `/webhooks/${await webhookIdOf(account)}/batch-status`)
      ).json()) as { results: { batch_id: string; attempts: number; outcome: string }[] }
    ).results;
    expect(attempts.map((a) => [a.batch_id, a.outcome])).toEqual([
      [next?.batchId, "delivered"],
      [first?.batchId, "delivered"],
      [first?.batchId, "failed"],
    ]);
  });
});

describe("a deliverer lost mid-POST", () => {
  it("is followed, once its lease runs out, by one that sends the same id and events", async () => {
    const { account, domain } = await webhookAndDomain();
    await statusBecomes(domain, "failed");
    endpoint.hangNext = true;
    const now = Date.now();
    // The first deliverer's POST reaches the endpoint and is never answered: lost.
    const lost = deliverDueWebhooks(env, new Date(now), { domain });
    await until(() => endpoint.received.length === 1);

    // Within its lease nobody else sends; after it (60 s), the next deliverer sends the batch
    // again under the same id, so the endpoint can tell it is a repeat.
    await deliverDueWebhooks(env, new Date(now + 30_000), { domain });
    expect(endpoint.received).toHaveLength(1);
    await deliverDueWebhooks(env, new Date(now + 61_000), { domain });
    expect(endpoint.received).toHaveLength(2);
    expect(endpoint.received[1]).toEqual(endpoint.received[0]);

    // The lost one's answer comes at last: its lease is gone, so it records nothing over the
    // other's delivery, and nothing is sent a third time.
    endpoint.releaseHung();
    await lost;
    await deliverDueWebhooks(env, new Date(now + 62_000), { domain });
    expect(endpoint.received).toHaveLength(2);
    const attempts = (
      (await (
        await account.call("GET", `/webhooks/${await webhookIdOf(account)}/batch-status`)
      ).json()) as { results: { batch_id: string; outcome: string }[] }
    ).results;
    expect(attempts).toEqual([
      expect.objectContaining({ batch_id: endpoint.received[0]?.batchId, outcome: "delivered" }),
    ]);
  });
});

async function webhookIdOf(account: TestAccount): Promise<string> {
  const list = (await (await account.call("GET", "/webhooks")).json()) as {
    results: { id: string }[];
  };
  return list.results[0]?.id ?? "";
}

async function until(done: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("not within the time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
