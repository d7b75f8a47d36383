// The Webhooks API inside workerd, and the D1 triggers that turn a domain's certificate changes
// into webhook events. Deliveries to a real endpoint are in test/e2e/webhooks.test.ts.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { awaitingCertificate, type TlsState } from "../../src/domains/model";
import {
  markExpired,
  mirrorCertificateStatus,
  recordHttpsCheck,
  recordWatchProbe,
} from "../../src/domains/repository";
import { writeEvents } from "../../src/tracking/events";
import { deliverDueWebhooks } from "../../src/webhooks/delivery";
import { sparkPostOnlyEventTypes } from "../../src/webhooks/events";
import {
  callApi,
  type ErrorBody,
  insertManagedDomain,
  newAccount,
  newKey,
  type TestAccount,
  uniqueDomain,
} from "./helpers";

interface WebhookBody {
  id: string;
  name: string;
  target: string;
  events: string[];
  active: boolean;
  auth_type: string;
  auth_token_set: boolean;
  subaccount_id: number | null;
  signing_secret?: string;
}

async function create(account: TestAccount, body: Record<string, unknown>) {
  const response = await account.call("POST", "/webhooks", { body });
  return { status: response.status, body: (await response.json()) as unknown };
}

async function createWebhook(
  account: TestAccount,
  body: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<WebhookBody> {
  const response = await account.call("POST", "/webhooks", {
    body: { name: "TLS changes", target: "https://hooks.example.com/tls", ...body },
    headers,
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { results: WebhookBody }).results;
}

const errorOf = (body: unknown) => (body as ErrorBody).errors[0];

describe("creating a webhook", () => {
  it("shows the signing secret once, and never the credentials", async () => {
    const account = await newAccount();
    const created = await createWebhook(account, {
      auth_type: "basic",
      auth_credentials: { username: "hooks", password: "s3cret-password" },
      auth_token: "token-for-sparkpost-clients",
    });
    expect(created).toMatchObject({
      name: "TLS changes",
      target: "https://hooks.example.com/tls",
      events: [
        "tls_status_change",
        "tls_certificate_renewed",
        "tls_error_change",
        "https_check_change",
        "domain_claimed",
      ],
      active: true,
      auth_type: "basic",
      auth_token_set: true,
      subaccount_id: null,
    });
    expect(created.signing_secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    const read = await account.call("GET", `/webhooks/${created.id}`);
    const text = await read.text();
    expect(read.status).toBe(200);
    expect(text).not.toContain(created.signing_secret);
    expect(text).not.toContain("s3cret-password");
    expect(text).not.toContain("token-for-sparkpost-clients");

    // At rest: sealed, so none of them is readable in D1 either.
    const row = await env.DB.prepare("SELECT * FROM webhooks WHERE id = ?")
      .bind(created.id)
      .first<Record<string, unknown>>();
    const stored = JSON.stringify(row);
    for (const secret of [
      created.signing_secret as string,
      "s3cret-password",
      "token-for-sparkpost-clients",
    ]) {
      expect(stored).not.toContain(secret);
    }
  });

  it("names the field that is wrong", async () => {
    const account = await newAccount();
    const cases: [Record<string, unknown>, string][] = [
      [{ target: "https://hooks.example.com/" }, "name"],
      [{ name: "x", target: "not a url" }, "target"],
      [{ name: "x", target: "ftp://hooks.example.com/" }, "target"],
      [{ name: "x", target: "https://user:pw@hooks.example.com/" }, "target"],
      [{ name: "x", target: "https://hooks.example.com/", events: ["delivery"] }, "events"],
      [{ name: "x", target: "https://hooks.example.com/", events: [] }, "events"],
      [{ name: "x", target: "https://hooks.example.com/", auth_type: "oauth2" }, "auth_type"],
      [{ name: "x", target: "https://hooks.example.com/", auth_type: "basic" }, "auth_credentials"],
      [
        {
          name: "x",
          target: "https://hooks.example.com/",
          auth_credentials: { username: "u", password: "p" },
        },
        "auth_credentials",
      ],
    ];
    for (const [body, field] of cases) {
      const { status, body: answer } = await create(account, body);
      expect({ body, status }).toEqual({
        body,
        status: expect.toSatisfy((s: number) => s >= 400 && s < 500),
      });
      expect(JSON.stringify(errorOf(answer))).toContain(field);
    }
    const list = await account.call("GET", "/webhooks");
    expect(((await list.json()) as { results: unknown[] }).results).toEqual([]);
    // A signing secret of the caller's choosing is not a field: ignored and named; ours is made.
    const chosen = await account.call("POST", "/webhooks", {
      body: { name: "x", target: "https://hooks.example.com/", signing_secret: "mine" },
    });
    expect(chosen.status).toBe(200);
    expect(chosen.headers.get("x-ignored-fields")).toBe("signing_secret");
    expect(
      ((await chosen.json()) as { results: { signing_secret: string } }).results.signing_secret,
    ).not.toBe("mine");
  });
});

describe("the OpenAPI document", () => {
  it("describes the Webhooks API, its event types and its rate limit", async () => {
    const document = (await (await callApi("GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
      components: {
        schemas: Record<string, { properties?: Record<string, { items?: { enum?: string[] } }> }>;
      };
    };
    expect(Object.keys(document.paths["/webhooks/{id}"] ?? {}).sort()).toEqual([
      "delete",
      "get",
      "put",
    ]);
    expect(Object.keys(document.paths["/webhooks/{id}/validate"]?.post?.responses ?? {})).toContain(
      "429",
    );
    expect(document.paths).toHaveProperty("/webhooks/{id}/batch-status");
    // Ours first; then SparkPost's, accepted from its clients and ignored.
    expect(document.components.schemas.CreateWebhook?.properties?.events?.items?.enum).toEqual([
      "tls_status_change",
      "tls_certificate_renewed",
      "tls_error_change",
      "https_check_change",
      "domain_claimed",
      "click",
      "open",
      ...sparkPostOnlyEventTypes,
    ]);
  });
});

describe("event documentation and samples", () => {
  it("lists every event type, which are sent by default, and shows what each delivers", async () => {
    const account = await newAccount();
    // SparkPost's shape: event classes, their types, and each type's fields with samples.
    const docs = (await (await account.call("GET", "/webhooks/events/documentation")).json()) as {
      results: Record<
        string,
        {
          display_name: string;
          events: Record<
            string,
            { default: boolean; event: Record<string, { sampleValue: unknown }> }
          >;
        }
      >;
    };
    expect(Object.keys(docs.results)).toEqual(["tracking_domain_event", "track_event"]);
    expect(docs.results.track_event?.events.click?.event.ip_prefix?.sampleValue).toBe(
      "192.0.2.0/24",
    );
    const types = Object.values(docs.results).flatMap((c) =>
      Object.entries(c.events).map(([type, d]) => [type, d.default]),
    );
    expect(types).toEqual([
      ["tls_status_change", true],
      ["tls_certificate_renewed", true],
      ["tls_error_change", true],
      ["https_check_change", true],
      ["domain_claimed", true],
      ["click", false],
      ["open", false],
    ]);

    const samples = await account.call(
      "GET",
      "/webhooks/events/samples?events=click,tls_error_change",
    );
    expect(samples.status).toBe(200);
    const [click, error] = (await samples.json()) as {
      msys: Record<string, Record<string, unknown>>;
    }[];
    expect(click?.msys.track_event).toMatchObject({ type: "click", ip_prefix: "192.0.2.0/24" });
    expect(click?.msys.track_event).not.toHaveProperty("ip_address");
    expect(error?.msys.tracking_domain_event).toMatchObject({
      type: "tls_error_change",
      tls_certificate: { error_code: "dns:cname_missing", action_by: "customer" },
    });

    const unknown = await account.call("GET", "/webhooks/events/samples?events=click,bounce");
    expect(unknown.status).toBe(422);
    expect(errorOf(await unknown.json())).toMatchObject({ param: "events" });
    expect(
      errorOf(await (await account.call("GET", "/webhooks/events/samples?events=bounce")).json())
        ?.description,
    ).toContain("not bounce");
  });
});

describe("whose webhooks", () => {
  it("are invisible to other accounts, and a subaccount's key sees only its own", async () => {
    const owner = await newAccount({ subaccounts: [3] });
    const other = await newAccount();
    const accountWide = await createWebhook(owner);
    const forSubaccount = await createWebhook(owner, { name: "sub" }, { "x-msys-subaccount": "3" });
    expect(forSubaccount.subaccount_id).toBe(3);

    for (const [method, path, body] of [
      ["GET", `/webhooks/${accountWide.id}`, undefined],
      ["PUT", `/webhooks/${accountWide.id}`, { name: "mine now" }],
      ["POST", `/webhooks/${accountWide.id}/validate`, undefined],
      ["POST", `/webhooks/${accountWide.id}/signing-secret`, undefined],
      ["GET", `/webhooks/${accountWide.id}/batch-status`, undefined],
      ["DELETE", `/webhooks/${accountWide.id}`, undefined],
    ] as const) {
      const response = await other.call(method, path, body ? { body } : {});
      expect({ method, path, status: response.status }).toEqual({ method, path, status: 404 });
    }
    const othersList = await other.call("GET", "/webhooks");
    expect(((await othersList.json()) as { results: unknown[] }).results).toEqual([]);

    const subKey = await newKey(owner.accountId, 3);
    const subList = await owner.call("GET", "/webhooks", { headers: { authorization: subKey } });
    const seen = ((await subList.json()) as { results: WebhookBody[] }).results.map((w) => w.id);
    expect(seen).toEqual([forSubaccount.id]);
    const ownerList = await owner.call("GET", "/webhooks");
    const all = ((await ownerList.json()) as { results: WebhookBody[] }).results.map((w) => w.id);
    expect(all.sort()).toEqual([accountWide.id, forSubaccount.id].sort());
  });
});

describe("changing a webhook", () => {
  it("updates what is given, keeps credentials unless replaced, and rotates the secret", async () => {
    const account = await newAccount();
    const hook = await createWebhook(account, { auth_token: "first-token" });
    const updated = await account.call("PUT", `/webhooks/${hook.id}`, {
      body: { name: "Renamed", events: ["tls_status_change"], active: false },
    });
    expect(updated.status).toBe(200);
    expect(((await updated.json()) as { results: WebhookBody }).results).toMatchObject({
      name: "Renamed",
      events: ["tls_status_change"],
      active: false,
      auth_token_set: true,
      target: "https://hooks.example.com/tls",
    });
    const cleared = await account.call("PUT", `/webhooks/${hook.id}`, {
      body: { auth_token: null },
    });
    expect(((await cleared.json()) as { results: WebhookBody }).results.auth_token_set).toBe(false);

    const rotated = await account.call("POST", `/webhooks/${hook.id}/signing-secret`);
    const secret = ((await rotated.json()) as { results: { signing_secret: string } }).results
      .signing_secret;
    expect(secret).toMatch(/^whsec_/);
    expect(secret).not.toBe(hook.signing_secret);
    for (const previous_valid_for of [-1, 604801, "1h"]) {
      const refused = await account.call("POST", `/webhooks/${hook.id}/signing-secret`, {
        body: { previous_valid_for },
      });
      expect(refused.status).toBe(422);
      expect(errorOf(await refused.json())?.param).toBe("previous_valid_for");
    }

    const badTarget = await account.call("PUT", `/webhooks/${hook.id}`, {
      body: { target: "mailto:ops@example.com" },
    });
    expect(badTarget.status).toBe(422);
    expect(errorOf(await badTarget.json())?.param).toBe("target");

    expect((await account.call("DELETE", `/webhooks/${hook.id}`)).status).toBe(204);
    expect((await account.call("GET", `/webhooks/${hook.id}`)).status).toBe(404);
  });
});

describe("webhook events", () => {
  const tls = (overrides: Partial<TlsState>): TlsState => ({
    ...awaitingCertificate,
    ...overrides,
  });

  async function domainOf(account: TestAccount, subaccountId = 0): Promise<string> {
    const domain = uniqueDomain();
    await env.DB.prepare(
      `INSERT INTO tracking_domains (domain, account_id, subaccount_id, region, https_mode, verified, tls_status)
       VALUES (?, ?, ?, 'us', 'managed', 1, 'pending')`,
    )
      .bind(domain, account.accountId, subaccountId)
      .run();
    return domain;
  }

  const eventsOf = async (domain: string) =>
    (
      await env.DB.prepare(
        "SELECT type, tls_status, previous_tls_status, error_code, expires_at FROM webhook_events WHERE domain = ? ORDER BY id",
      )
        .bind(domain)
        .all()
    ).results;

  it("records status changes, renewals and error changes, and nothing else", async () => {
    const account = await newAccount();
    await createWebhook(account);
    const domain = await domainOf(account);
    const first = "2027-01-01T00:00:00.000Z";
    const renewed = "2027-03-01T00:00:00.000Z";
    const steps: Partial<TlsState>[] = [
      { status: "pending", step: "new_order" }, // same status: no event
      { status: "valid", issuedAt: "2026-10-01T00:00:00.000Z", expiresAt: first },
      { status: "valid", expiresAt: first, step: "renewal" }, // nothing a customer needs
      { status: "valid", expiresAt: first, errorCode: "dns:cname_missing", actionBy: "customer" },
      { status: "valid", expiresAt: renewed },
    ];
    for (const step of steps) {
      // The row is found even when its trigger writes an event (the object would stop otherwise).
      expect(await mirrorCertificateStatus(env.DB, domain, tls(step))).toBe(true);
    }
    expect(await eventsOf(domain)).toEqual([
      {
        type: "tls_status_change",
        tls_status: "valid",
        previous_tls_status: "pending",
        error_code: null,
        expires_at: first,
      },
      {
        type: "tls_error_change",
        tls_status: "valid",
        previous_tls_status: "valid",
        error_code: "dns:cname_missing",
        expires_at: first,
      },
      {
        type: "tls_certificate_renewed",
        tls_status: "valid",
        previous_tls_status: "valid",
        error_code: null,
        expires_at: renewed,
      },
    ]);
  });

  it("records an expiry the sweep marks", async () => {
    const account = await newAccount();
    await createWebhook(account);
    const domain = await domainOf(account);
    await mirrorCertificateStatus(
      env.DB,
      domain,
      tls({ status: "valid", expiresAt: "2020-01-01T00:00:00.000Z" }),
    );
    expect(await markExpired(env.DB, new Date().toISOString(), 10_000)).toBeGreaterThanOrEqual(1);
    expect((await eventsOf(domain)).map((e) => e.tls_status)).toEqual(["valid", "expired"]);
  });

  it("records a self-managed domain's first check through its proxy and each change after", async () => {
    const account = await newAccount();
    await createWebhook(account);
    const domain = await domainOf(account);
    await env.DB.prepare("UPDATE tracking_domains SET https_mode = 'self_managed' WHERE domain = ?")
      .bind(domain)
      .run();
    const check = (errorCode: string | null, detail: string) =>
      recordWatchProbe(env.DB, domain, { checkedAt: new Date().toISOString(), errorCode, detail });
    await recordHttpsCheck(env.DB, domain, {
      checkedAt: new Date().toISOString(),
      errorCode: null,
      detail: "passed",
    });
    await check(null, "passed again"); // same result: nothing
    await check("https:tcp", "Nothing accepted a connection");
    await check("https:tcp", "Still nothing"); // same reason: nothing
    await check("https:tls", "The certificate expired");
    await check(null, "passed");
    const { results } = await env.DB.prepare(
      "SELECT type, https_error_code, previous_https_error_code, https_detail FROM webhook_events WHERE domain = ? ORDER BY id",
    )
      .bind(domain)
      .all();
    expect(results).toEqual(
      [
        [null, null, "passed"],
        ["https:tcp", null, "Nothing accepted a connection"],
        ["https:tls", "https:tcp", "The certificate expired"],
        [null, "https:tls", "passed"],
      ].map(([code, previous, detail]) => ({
        type: "https_check_change",
        https_error_code: code,
        previous_https_error_code: previous,
        https_detail: detail,
      })),
    );
  });

  it("records clicks and opens only for active webhooks that ask for them, and once each", async () => {
    const clicksOnly = await newAccount();
    await createWebhook(clicksOnly, { events: ["click"] });
    const certificatesOnly = await newAccount();
    await createWebhook(certificatesOnly); // the default: certificate events
    const switchedOff = await newAccount();
    await createWebhook(switchedOff, { events: ["click", "open"], active: false });
    const event = (account: TestAccount, type: "click" | "open", n: number) => ({
      id: `${account.accountId}-${type}-${n}`,
      type,
      occurredAt: new Date().toISOString(),
      trackingDomain: "track.example.com",
      accountId: account.accountId,
      subaccountId: 0,
      messageId: "m1",
      recipientId: null,
      linkName: null,
      targetUrl: "https://shop.example/",
      userAgent: "test",
      ipPrefix: "192.0.2.0/24",
      secure: true,
    });
    const events = [clicksOnly, certificatesOnly, switchedOff].flatMap((a) => [
      event(a, "click", 1),
      event(a, "open", 1),
    ]);
    await writeEvents(env.DB, events);
    await writeEvents(env.DB, events); // a redelivered queue message
    const written = async (account: TestAccount) =>
      (
        await env.DB.prepare(
          "SELECT type, json_extract(details, '$.event_id') AS id FROM webhook_events WHERE account_id = ?",
        )
          .bind(account.accountId)
          .all()
      ).results;
    expect(await written(clicksOnly)).toEqual([
      { type: "click", id: `${clicksOnly.accountId}-click-1` },
    ]);
    expect(await written(certificatesOnly)).toEqual([]);
    expect(await written(switchedOff)).toEqual([]);
  });

  it("writes nothing for an account without webhooks", async () => {
    const account = await newAccount();
    const domain = await domainOf(account);
    await mirrorCertificateStatus(
      env.DB,
      domain,
      tls({ status: "failed", errorCode: "caa:forbidden" }),
    );
    expect(await eventsOf(domain)).toEqual([]);
  });
});

describe("delivery when the endpoint cannot be reached", () => {
  // Nothing listens on port 1: every POST fails to connect, so no endpoint is needed here. Each
  // delivery is asked for one domain's account, so other tests' webhooks are left alone.
  const unreachable = "http://127.0.0.1:1/hook";

  async function webhookWithEvent(
    events?: string[],
  ): Promise<{ account: TestAccount; hook: WebhookBody; domain: string }> {
    const account = await newAccount();
    const hook = await createWebhook(account, {
      target: unreachable,
      ...(events ? { events } : {}),
    });
    const domain = await insertManagedDomain(account.accountId);
    await env.DB.prepare("UPDATE tracking_domains SET tls_status = 'failed' WHERE domain = ?")
      .bind(domain)
      .run();
    return { account, hook, domain };
  }

  const attemptsOf = async (account: TestAccount, id: string) =>
    (
      (await (await account.call("GET", `/webhooks/${id}/batch-status`)).json()) as {
        results: { batch_id: string; attempts: number; outcome: string; failure_code: string }[];
      }
    ).results;

  it("says so when asked to validate", async () => {
    const { account, hook } = await webhookWithEvent();
    const response = await account.call("POST", `/webhooks/${hook.id}/validate`);
    expect(response.status).toBe(200);
    const { results } = (await response.json()) as {
      results: { ok: boolean; msg: string; response: unknown };
    };
    expect(results.ok).toBe(false);
    expect(results.msg).toMatch(/^Test POST to endpoint failed: could not connect/);
    expect(results.response).toBeNull();
  });

  it("retries with backoff, then gives the batch up after a day and moves on", async () => {
    const { account, hook, domain } = await webhookWithEvent();
    const start = Date.now();
    const first = await deliverDueWebhooks(env, new Date(start), { domain: uniqueDomain() });
    expect(first.webhooks).toBe(0); // another account's domain: not this webhook's turn

    await deliverDueWebhooks(env, new Date(start), { domain });
    let [latest] = await attemptsOf(account, hook.id);
    expect(latest).toMatchObject({ attempts: 1, outcome: "failed" });
    expect(latest?.failure_code).toMatch(/^could not connect/);

    // Not due again until the backoff has passed (30 s).
    expect((await deliverDueWebhooks(env, new Date(start + 10_000), { domain })).failed).toBe(0);
    await deliverDueWebhooks(env, new Date(start + 31_000), { domain });
    [latest] = await attemptsOf(account, hook.id);
    expect(latest).toMatchObject({ attempts: 2, outcome: "failed" });

    // A day after the first failure the batch is given up, recorded, and the webhook moves on.
    const dayLater = new Date(start + 86_400_000 + 60_000);
    expect((await deliverDueWebhooks(env, dayLater, { domain })).dropped).toBe(1);
    const attempts = await attemptsOf(account, hook.id);
    expect(attempts[0]).toMatchObject({ attempts: 3, outcome: "dropped" });
    expect(new Set(attempts.map((a) => a.batch_id)).size).toBe(1);
    const view = (await (await account.call("GET", `/webhooks/${hook.id}`)).json()) as {
      results: { retrying: unknown; last_failure_reason: string };
    };
    expect(view.results.retrying).toBeNull();
    expect(view.results.last_failure_reason).toMatch(/^could not connect/);
    expect(
      (await deliverDueWebhooks(env, new Date(dayLater.getTime() + 1000), { domain })).failed,
    ).toBe(0);
  });

  it("sends nothing while off, and turned on again starts from the latest event", async () => {
    const { account, hook, domain } = await webhookWithEvent();
    const off = await account.call("PUT", `/webhooks/${hook.id}`, { body: { active: false } });
    expect(off.status).toBe(200);
    expect((await deliverDueWebhooks(env, new Date(Date.now() + 1000), { domain })).webhooks).toBe(
      0,
    );
    expect(await attemptsOf(account, hook.id)).toEqual([]);

    await account.call("PUT", `/webhooks/${hook.id}`, { body: { active: true } });
    await deliverDueWebhooks(env, new Date(Date.now() + 1000), { domain });
    expect(await attemptsOf(account, hook.id)).toEqual([]); // what happened while off is not sent

    await env.DB.prepare("UPDATE tracking_domains SET tls_status = 'valid' WHERE domain = ?")
      .bind(domain)
      .run();
    await deliverDueWebhooks(env, new Date(Date.now() + 1000), { domain });
    const attempts = await attemptsOf(account, hook.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ attempts: 1, outcome: "failed" });
  });

  it("sends nothing a webhook did not ask for, and moves past it", async () => {
    const { account, hook, domain } = await webhookWithEvent(["tls_certificate_renewed"]);
    await deliverDueWebhooks(env, new Date(Date.now() + 1000), { domain });
    expect(await attemptsOf(account, hook.id)).toEqual([]);
    const row = await env.DB.prepare("SELECT cursor FROM webhooks WHERE id = ?")
      .bind(hook.id)
      .first<{ cursor: number }>();
    expect(row?.cursor).toBeGreaterThan(0);
  });

  it("leaves a subaccount's webhook alone for another subaccount's domains", async () => {
    const account = await newAccount({ subaccounts: [3] });
    const hook = await createWebhook(
      account,
      { target: unreachable },
      { "x-msys-subaccount": "3" },
    );
    const domain = uniqueDomain();
    await env.DB.prepare(
      `INSERT INTO tracking_domains (domain, account_id, subaccount_id, region, https_mode, verified, tls_status)
       VALUES (?, ?, 0, 'us', 'managed', 1, 'pending')`,
    )
      .bind(domain, account.accountId)
      .run();
    await env.DB.prepare("UPDATE tracking_domains SET tls_status = 'valid' WHERE domain = ?")
      .bind(domain)
      .run();
    await deliverDueWebhooks(env, new Date(Date.now() + 1000), { domain });
    expect(await attemptsOf(account, hook.id)).toEqual([]);
  });
});
