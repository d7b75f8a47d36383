// Webhook targets as production has them (WEBHOOK_ALLOW_INSECURE_TARGETS off; the tests' own
// worker allows loopback for its endpoints): a target must be a public HTTPS name, and a name
// that resolves to an address that is not public (loopback, private, link-local, CGNAT, unique
// local) is refused when the webhook is made, and again at each delivery (the name may have
// been pointed elsewhere since). Names under TEST_PUBLIC_ZONE (example.net, reserved) have a
// public suffix and are answered by challtestsrv, so a test points them where it wants.
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deliverDueWebhooks } from "../../src/webhooks/delivery";
import worker from "../../workers/edge";
import { insertManagedDomain, newAccount, type TestAccount } from "./helpers";

const production = { ...env, WEBHOOK_ALLOW_INSECURE_TARGETS: "false" } as Env;

async function call(account: TestAccount, method: string, path: string, body?: unknown) {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request<unknown, IncomingRequestCfProperties>(`http://localhost/api/v1${path}`, {
      method,
      headers: { authorization: account.key, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
    production,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: response.status, body: (await response.json()) as unknown };
}

/** A name under the public-looking zone answering `addresses` (A or AAAA by their form). */
async function publicName(addresses: string[]): Promise<string> {
  const host = `hook-${crypto.randomUUID().slice(0, 8)}.${env.TEST_PUBLIC_ZONE}`;
  await pointAt(host, addresses);
  return host;
}

async function pointAt(host: string, addresses: string[]): Promise<void> {
  for (const [path, family] of [
    ["/add-a", (a: string) => !a.includes(":")],
    ["/add-aaaa", (a: string) => a.includes(":")],
  ] as const) {
    const chosen = addresses.filter(family);
    await fetch(`${env.TEST_CHALLTESTSRV}${path.replace("add", "clear")}`, {
      method: "POST",
      body: JSON.stringify({ host: `${host}.` }),
    });
    if (chosen.length === 0) continue;
    const response = await fetch(`${env.TEST_CHALLTESTSRV}${path}`, {
      method: "POST",
      body: JSON.stringify({ host: `${host}.`, addresses: chosen }),
    });
    if (!response.ok) throw new Error(`challtestsrv ${path}: HTTP ${response.status}`);
  }
}

/** POSTs that reached the network for hosts of the public-looking zone (answered 200 here). */
let posted: string[];
const original = globalThis.fetch;
beforeEach(() => {
  posted = [];
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (new URL(request.url).hostname.endsWith(`.${env.TEST_PUBLIC_ZONE}`)) {
      posted.push(request.url);
      return new Response("ok");
    }
    return original(request);
  }) as typeof fetch;
});
afterEach(() => {
  globalThis.fetch = original;
});

describe("a webhook's target, where insecure targets are refused", () => {
  it.each([
    ["an http:// URL", "http://hooks.example.com/events", /https:\/\//],
    ["an IPv4 address", "https://10.0.0.7/events", /not an IP address/],
    ["an IPv6 address", "https://[::1]/events", /not an IP address/],
    ["the metadata address", "https://169.254.169.254/latest", /not an IP address/],
    ["localhost", "https://localhost/events", /not a public name/],
    ["an internal name", "https://hooks.corp.internal/events", /not a public name/],
  ])("refuses %s, naming the field", async (_, target, reason) => {
    const account = await newAccount();
    const response = await call(account, "POST", "/webhooks", { name: "t", target });
    expect(response.status).toBe(422);
    const [error] = (response.body as { errors: { message: string; description: string }[] })
      .errors;
    expect(error?.description).toMatch(/target/);
    expect(error?.description).toMatch(reason);
  });

  it.each([
    ["loopback", ["127.0.0.1"]],
    ["a private network", ["10.0.0.7"]],
    ["link-local (the cloud metadata address)", ["169.254.169.254"]],
    ["carrier-grade NAT", ["100.64.0.9"]],
    ["IPv6 loopback", ["::1"]],
    ["IPv6 unique local, beside a public IPv4", ["93.184.215.14", "fd00::7"]],
  ])("refuses a name that resolves to %s", async (_, addresses) => {
    const account = await newAccount();
    const host = await publicName(addresses);
    const response = await call(account, "POST", "/webhooks", {
      name: "t",
      target: `https://${host}/events`,
    });
    expect(response.status).toBe(422);
    const [error] = (response.body as { errors: { description: string }[] }).errors;
    expect(error?.description).toMatch(/target's host .* is not a public address/);
  });

  it("takes a public name that resolves to public addresses", async () => {
    const account = await newAccount();
    const host = await publicName(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]);
    const response = await call(account, "POST", "/webhooks", {
      name: "t",
      target: `https://${host}/events`,
    });
    expect(response.status).toBe(200);
  });
});

describe("a delivery, where insecure targets are refused", () => {
  it("goes to a public address, and not once the name points at a private one", async () => {
    const account = await newAccount();
    const host = await publicName(["93.184.215.14"]);
    const created = await call(account, "POST", "/webhooks", {
      name: "t",
      target: `https://${host}/events`,
      events: ["tls_status_change"],
    });
    expect(created.status).toBe(200);
    const id = (created.body as { results: { id: string } }).results.id;
    const domain = await insertManagedDomain(account.accountId);
    const change = (status: string) =>
      env.DB.prepare("UPDATE tracking_domains SET tls_status = ? WHERE domain = ?")
        .bind(status, domain)
        .run();

    // While the name is public, the batch is sent.
    await change("failed");
    const now = Date.now();
    expect((await deliverDueWebhooks(production, new Date(now), { domain })).delivered).toBe(1);
    expect(posted).toEqual([`https://${host}/events`]);

    // The name now points into a private network: no POST, a failed attempt saying why.
    await pointAt(host, ["10.0.0.7"]);
    await change("valid");
    expect((await deliverDueWebhooks(production, new Date(now + 1000), { domain })).failed).toBe(1);
    expect(posted).toHaveLength(1);
    const attempts = await call(account, "GET", `/webhooks/${id}/batch-status`);
    const [latest] = (attempts.body as { results: { outcome: string; failure_code: string }[] })
      .results;
    expect(latest).toMatchObject({ outcome: "failed" });
    expect(latest?.failure_code).toBe(
      `target's host ${host} resolves to 10.0.0.7, which is not a public address`,
    );
    // Validating says the same, and sends nothing.
    const validated = await call(account, "POST", `/webhooks/${id}/validate`);
    expect((validated.body as { results: { ok: boolean; msg: string } }).results).toMatchObject({
      ok: false,
      msg: expect.stringMatching(/resolves to 10\.0\.0\.7/),
    });
    expect(posted).toHaveLength(1);

    // Public again: the retry (after its 30 s) goes out.
    await pointAt(host, ["93.184.215.14"]);
    expect(
      (await deliverDueWebhooks(production, new Date(now + 32_000), { domain })).delivered,
    ).toBe(1);
    expect(posted).toHaveLength(2);
  });
});
