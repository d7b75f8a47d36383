// Webhooks against a real endpoint (a Node HTTP server), with the worker under wrangler dev and
// certificates from Pebble: the endpoint hears a domain become valid within seconds, signed so
// that the Standard Webhooks library accepts it, with the credentials it asked for; a batch it
// refuses is sent again, same id and same events, once the backoff has passed, and not before.
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLocalApiKeys } from "../../scripts/lib/api-key-sql";
import { getVia } from "../../scripts/lib/get-via";
import { type Received, WebhookEndpoint } from "../support/webhook-endpoint";
import {
  api,
  cronTick,
  d1Execute,
  d1Query,
  dns,
  dynamicName,
  verifiedManagedDomain,
  waitForDomain,
} from "./helpers";

async function until<T>(what: string, find: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const endpoint = new WebhookEndpoint();
let key = "";
let hook: { id: string; signing_secret: string };

beforeAll(async () => {
  await endpoint.start();
  [key] = (await createLocalApiKeys([{ account: "webhooks" }], inject("persistTo"))) as [string];
  const created = await api(key, "POST", "/webhooks", {
    name: "Certificates",
    target: endpoint.url,
    auth_type: "basic",
    auth_credentials: { username: "hooks", password: "basic-password" },
    auth_token: "sparkpost-style-token",
  });
  expect(created.status).toBe(200);
  hook = (await created.json<{ results: typeof hook }>()).results;
});

afterAll(() => endpoint.stop());

/** Checks a request the way the customer would: signature, token, basic credentials. */
function expectAuthentic(request: Received): void {
  const signed = new Webhook(hook.signing_secret).verify(request.body, {
    "webhook-id": String(request.headers["webhook-id"]),
    "webhook-timestamp": String(request.headers["webhook-timestamp"]),
    "webhook-signature": String(request.headers["webhook-signature"]),
  });
  expect(signed).toEqual(JSON.parse(request.body));
  expect(request.headers["x-messagesystems-webhook-token"]).toBe("sparkpost-style-token");
  expect(request.headers.authorization).toBe(
    `Basic ${Buffer.from("hooks:basic-password").toString("base64")}`,
  );
  expect(request.headers["x-messagesystems-batch-id"]).toBe(request.headers["webhook-id"]);
}

describe("webhooks", () => {
  it("sends a signed sample when asked to validate, and says what the endpoint answered", async () => {
    const response = await api(key, "POST", `/webhooks/${hook.id}/validate`);
    expect(response.status).toBe(200);
    expect((await response.json<{ results: unknown }>()).results).toEqual({
      ok: true,
      msg: "Test POST to endpoint succeeded",
      response: { status: 200, body: "thanks" },
    });
    const [sample] = endpoint.eventsFor("track.example.com");
    expect(sample?.event).toMatchObject({ type: "tls_status_change", tls_status: "valid" });
    expectAuthentic(sample?.request as Received);
  });

  it("replaces the signing secret with an overlap: both sign until the old one's time is up", async () => {
    const rotate = async (body?: unknown) => {
      const response = await api(key, "POST", `/webhooks/${hook.id}/signing-secret`, body);
      expect(response.status).toBe(200);
      return (
        await response.json<{
          results: { signing_secret: string; previous_valid_until: string | null };
        }>()
      ).results;
    };
    const validated = async () => {
      const before = endpoint.received.length;
      expect((await api(key, "POST", `/webhooks/${hook.id}/validate`)).status).toBe(200);
      return endpoint.received[before] as Received;
    };
    const verifies = (secret: string, request: Received) => {
      try {
        new Webhook(secret).verify(request.body, {
          "webhook-id": String(request.headers["webhook-id"]),
          "webhook-timestamp": String(request.headers["webhook-timestamp"]),
          "webhook-signature": String(request.headers["webhook-signature"]),
        });
        return true;
      } catch {
        return false;
      }
    };
    const first = hook.signing_secret;

    const overlapping = await rotate({ previous_valid_for: 3600 });
    expect(Date.parse(overlapping.previous_valid_until ?? "") - Date.now()).toBeGreaterThan(
      3500_000,
    );
    const during = await validated();
    expect(verifies(overlapping.signing_secret, during)).toBe(true);
    expect(verifies(first, during)).toBe(true);

    // Replaced again with no overlap: only the newest secret signs; both older ones stop.
    const immediate = await rotate();
    expect(immediate.previous_valid_until).toBeNull();
    const after = await validated();
    expect(verifies(immediate.signing_secret, after)).toBe(true);
    expect(verifies(overlapping.signing_secret, after)).toBe(false);
    expect(verifies(first, after)).toBe(false);
    hook.signing_secret = immediate.signing_secret;
    expectAuthentic(after);
  });

  it("tells the endpoint, within seconds and without a Cron tick, that a domain became valid", async () => {
    const domain = await verifiedManagedDomain(key, dynamicName("webhook"));
    const valid = await waitForDomain(key, domain, (d) => d.status.tls_status === "valid");
    const delivered = await until("the valid event", () =>
      endpoint.eventsFor(domain).find((e) => e.event.tls_status === "valid"),
    );
    expect(delivered.event).toMatchObject({
      type: "tls_status_change",
      domain,
      previous_tls_status: "pending",
      tls_certificate: { expires_at: valid.tls_certificate.expires_at, error_code: null },
    });
    expectAuthentic(delivered.request);

    const status = await api(key, "GET", `/webhooks/${hook.id}/batch-status`);
    const attempts = (
      await status.json<{ results: { outcome: string; response_code: number }[] }>()
    ).results;
    expect(attempts[0]).toMatchObject({ outcome: "delivered", response_code: 200 });
  });

  it("gives up on an endpoint that never answers after 10 s, and reads only the start of a huge answer", {
    timeout: 30_000,
  }, async () => {
    // One accepts the connection and says nothing; the other answers 200 with 8 MB.
    const silent = createNetServer(() => {});
    const chatty = createServer((_, response) => {
      response.writeHead(200, { "content-type": "text/plain" });
      response.end("x".repeat(8 * 1024 * 1024));
    });
    await Promise.all(
      [silent, chatty].map(
        (s) => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve)),
      ),
    );
    const urlOf = (s: { address: () => unknown }) =>
      `http://127.0.0.1:${(s.address() as { port: number }).port}/hook`;
    try {
      const validate = async (target: string) => {
        const created = await api(key, "POST", "/webhooks", { name: "hostile", target });
        const { id } = (await created.json<{ results: { id: string } }>()).results;
        const started = Date.now();
        const response = await api(key, "POST", `/webhooks/${id}/validate`);
        const elapsed = Date.now() - started;
        await api(key, "DELETE", `/webhooks/${id}`);
        return {
          elapsed,
          results: (
            await response.json<{
              results: { ok: boolean; msg: string; response: { body: string } | null };
            }>()
          ).results,
        };
      };
      const quiet = await validate(urlOf(silent));
      expect(quiet.results).toEqual({
        ok: false,
        msg: "Test POST to endpoint failed: no answer within 10 s",
        response: null,
      });
      expect(quiet.elapsed).toBeGreaterThanOrEqual(9_500);
      const loud = await validate(urlOf(chatty));
      expect(loud.results.ok).toBe(true);
      expect(loud.results.response?.body).toBe("x".repeat(1024));
    } finally {
      silent.close();
      chatty.close();
    }
  });

  it("sends a refused batch again after the backoff, with the same id and events", async () => {
    const domain = dynamicName("webhook-retry");
    expect((await api(key, "POST", "/tracking-domains", { domain, secure: false })).status).toBe(
      200,
    );
    // A change made straight in D1 (as the sweep does when it marks a certificate expired):
    // the trigger writes the event whoever changes the row.
    d1Execute(
      `UPDATE tracking_domains SET tls_status = 'failed', tls_error_code = 'caa:forbidden', tls_action_by = 'customer' WHERE domain = '${domain}'`,
    );
    endpoint.answers = [503];
    await cronTick();
    const refused = await until("the refused attempt", () => endpoint.eventsFor(domain)[0]);
    expect(refused.event).toMatchObject({ tls_status: "failed", previous_tls_status: "unknown" });

    const afterFailure = await (await api(key, "GET", `/webhooks/${hook.id}`)).json<{
      results: {
        retrying: { attempts: number; next_attempt_at: string } | null;
        last_failure_reason: string;
      };
    }>();
    expect(afterFailure.results.retrying?.attempts).toBe(1);
    expect(afterFailure.results.last_failure_reason).toBe("HTTP 503: busy, try later");
    const wait = Date.parse(afterFailure.results.retrying?.next_attempt_at ?? "") - Date.now();
    expect(wait).toBeGreaterThan(15_000);
    expect(wait).toBeLessThanOrEqual(30_000);

    // Not due yet: the next tick leaves it alone.
    await cronTick();
    expect(endpoint.eventsFor(domain)).toHaveLength(1);

    d1Execute(
      `UPDATE webhooks SET next_attempt_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 second') WHERE id = '${hook.id}'`,
    );
    await cronTick();
    const again = await until("the second attempt", () => endpoint.eventsFor(domain)[1]);
    expect(again.request.headers["webhook-id"]).toBe(refused.request.headers["webhook-id"]);
    expect(again.event).toEqual(refused.event);
    expectAuthentic(again.request);

    const status = await api(key, "GET", `/webhooks/${hook.id}/batch-status?limit=2`);
    const [latest, earlier] = (
      await status.json<{
        results: { batch_id: string; attempts: number; outcome: string; response_code: number }[];
      }>()
    ).results;
    expect(earlier).toMatchObject({ attempts: 1, outcome: "failed", response_code: 503 });
    expect(latest).toMatchObject({
      batch_id: earlier?.batch_id,
      attempts: 2,
      outcome: "delivered",
      response_code: 200,
    });
    const healed = await (await api(key, "GET", `/webhooks/${hook.id}`)).json<{
      results: { retrying: unknown };
    }>();
    expect(healed.results.retrying).toBeNull();
  });
});

describe("webhooks for clicks and opens", () => {
  const clicks = new WebhookEndpoint();
  let clickHook: { id: string; signing_secret: string };
  let domain = "";

  beforeAll(async () => {
    await clicks.start();
    const created = await api(key, "POST", "/webhooks", {
      name: "Engagement",
      target: clicks.url,
      events: ["click", "open"],
    });
    expect(created.status).toBe(200);
    clickHook = (await created.json<{ results: typeof clickHook }>()).results;
    domain = await verifiedManagedDomain(key, dynamicName("webhook-clicks"));
    await api(key, "POST", "/sending-domains", {
      domain: `mail-${domain}`,
      tracking_domain: domain,
    });
    // Issuance done and its events passed over (this webhook wants none of them), so that what
    // follows is all clicks and opens.
    await waitForDomain(key, domain, (d) => d.status.tls_status === "valid");
    await cronTick();
  });

  afterAll(async () => {
    await api(key, "DELETE", `/webhooks/${clickHook.id}`);
    await clicks.stop();
  });

  const engagementOf = (r: Received) =>
    (JSON.parse(r.body) as { msys: { track_event?: Record<string, unknown> } }[])
      .map((p) => p.msys.track_event)
      .filter((e) => e?.tracking_domain === domain);

  it("sends each click, in SparkPost's track_event shape, within seconds of the click", {
    timeout: 30_000,
  }, async () => {
    const minted = await api(key, "POST", "/tracking-links", {
      sending_domain: `mail-${domain}`,
      message_id: "msg-webhook-1",
      recipient_id: "rcpt-7",
      links: [{ url: "https://shop.example/spring?utm=mail", name: "spring-sale" }],
    });
    const link = (await minted.json<{ results: { links: { tracked_url: string }[] } }>()).results
      .links[0]?.tracked_url as string;
    const worker = new URL(inject("workerUrl"));
    const clicked = await getVia(link.replace(/^https:/, "http:"), {
      host: worker.hostname,
      port: Number(worker.port),
    });
    expect(clicked.status).toBe(302);

    const heard = await until(
      "the click",
      () => clicks.received.flatMap((r) => engagementOf(r).map((event) => ({ event, r })))[0],
    );
    expect(heard.event).toMatchObject({
      type: "click",
      tracking_domain: domain,
      message_id: "msg-webhook-1",
      recipient_id: "rcpt-7",
      target_link_name: "spring-sale",
      target_link_url: "https://shop.example/spring?utm=mail",
      secure: false,
    });
    expect(heard.event).not.toHaveProperty("ip_address");
    new Webhook(clickHook.signing_secret).verify(heard.r.body, {
      "webhook-id": String(heard.r.headers["webhook-id"]),
      "webhook-timestamp": String(heard.r.headers["webhook-timestamp"]),
      "webhook-signature": String(heard.r.headers["webhook-signature"]),
    });
    // The certificate webhook did not ask for clicks and got none.
    expect(endpoint.received.some((r) => r.body.includes('"track_event"'))).toBe(false);
  });

  it("sends an EU domain's click with its fields, stored only in the EU database", {
    timeout: 30_000,
  }, async () => {
    const eu = dynamicName("webhook-eu");
    await dns.setCname(eu, "eu.v2.track-endpoint.test");
    expect(
      (await api(key, "POST", "/tracking-domains", { domain: eu, region: "eu", secure: false }))
        .status,
    ).toBe(200);
    expect((await api(key, "POST", `/tracking-domains/${eu}/verify`)).status).toBe(200);
    await api(key, "POST", "/sending-domains", { domain: `mail-${eu}`, tracking_domain: eu });
    const minted = await api(key, "POST", "/tracking-links", {
      sending_domain: `mail-${eu}`,
      message_id: "msg-webhook-eu",
      recipient_id: "rcpt-eu-3",
      links: [{ url: "https://shop.example/eu", name: "eu-sale" }],
    });
    const link = (await minted.json<{ results: { links: { tracked_url: string }[] } }>()).results
      .links[0]?.tracked_url as string;
    const worker = new URL(inject("workerUrl"));
    const clicked = await getVia(link, { host: worker.hostname, port: Number(worker.port) });
    expect(clicked.status).toBe(302);

    const heard = await until("the EU click", () =>
      clicks.received
        .flatMap((r) => JSON.parse(r.body) as { msys: { track_event?: Record<string, unknown> } }[])
        .map((p) => p.msys.track_event)
        .find((e) => e?.tracking_domain === eu),
    );
    expect(heard).toMatchObject({
      type: "click",
      message_id: "msg-webhook-eu",
      recipient_id: "rcpt-eu-3",
      target_link_name: "eu-sale",
      target_link_url: "https://shop.example/eu",
    });
    // Stored in the EU database only; the global one holds a reference without personal fields.
    const where = "WHERE message_id = 'msg-webhook-eu'";
    expect(d1Query("DB_EU", `SELECT recipient_id FROM engagement_events ${where}`)).toEqual([
      { recipient_id: "rcpt-eu-3" },
    ]);
    expect(d1Query("DB", `SELECT id FROM engagement_events ${where}`)).toEqual([]);
    const references = d1Query<{ details: string }>(
      "DB",
      `SELECT details FROM webhook_events WHERE domain = '${eu}'`,
    );
    expect(references).toHaveLength(1);
    expect(references[0]?.details).not.toContain("rcpt-eu-3");
    expect(references[0]?.details).not.toContain("shop.example");
    // The account reads it with its other events.
    const listed = await api(key, "GET", "/events/engagement?message_id=msg-webhook-eu");
    expect(
      (await listed.json<{ results: { recipient_id: string }[] }>()).results.map(
        (e) => e.recipient_id,
      ),
    ).toEqual(["rcpt-eu-3"]);
  });

  it("sends a backlog in batches of 100, one after another in the same run", async () => {
    const before = clicks.received.length;
    // 250 opens written straight into D1, as the Queue consumer would write them.
    d1Execute(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250)
       INSERT INTO engagement_events (id, type, occurred_at, tracking_domain, account_id, subaccount_id, secure)
       SELECT 'backlog-${domain}-' || i, 'open', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), '${domain}',
              (SELECT account_id FROM tracking_domains WHERE domain = '${domain}'), 0, 0 FROM n`,
    );
    await cronTick();
    const batches = clicks.received.slice(before).map((r) => engagementOf(r).length);
    expect(batches).toEqual([100, 100, 50]);
  });
});
