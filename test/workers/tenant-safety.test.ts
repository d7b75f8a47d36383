// What one account may do to the platform everyone shares, tried as an attacker with an account
// of their own would: our own names are never anyone's tracking domain, a key is made only
// through api_keys/manage and within the key cap, every shared resource has a per-account limit
// with a 403 or 429 that names it, new certificate orders are paced per account (renewals are
// not), and links stop once their account no longer holds the domain.
import {
  createExecutionContext,
  env,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { domainCertificateStub } from "../../durable-objects/stubs";
import { generateApiKey } from "../../src/accounts/api-keys";
import { type CertificateState, initialState } from "../../src/issuance/state";
import { cachedHolder, forgetHolders, lookUpHolder } from "../../src/tracking/holders";
import worker from "../../workers/edge";
import { type ErrorBody, newAccount, newKey, type TestAccount, uniqueDomain } from "./helpers";

/** An API call through the worker with some variables changed (a limit lowered for the test). */
async function callWith(
  vars: Partial<Record<keyof Env, string>>,
  account: TestAccount,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request<unknown, IncomingRequestCfProperties>(`http://localhost/api/v1${path}`, {
      method,
      headers: {
        authorization: account.key,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }),
    { ...env, ...vars } as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return response;
}

const errorOf = async (response: Response) => (await response.json<ErrorBody>()).errors[0];

describe("our own names", () => {
  it.each([
    ["the US V2 endpoint", "v2.track-endpoint.test"],
    ["the EU V2 endpoint", "eu.v2.track-endpoint.test"],
    ["the EU standard endpoint", "eu.track-endpoint.test"],
    ["a name under the V2 endpoint", "x.v2.track-endpoint.test"],
    ["a name under the standard endpoint", "deep.x.track-endpoint.test"],
  ])("refuses %s as a tracking domain, saying why", async (_, domain) => {
    const account = await newAccount();
    const response = await account.call("POST", "/tracking-domains", { body: { domain } });
    // SparkPost's answer for a name it will not take: 400, 7000 restricted domain.
    expect(response.status).toBe(400);
    const error = await errorOf(response);
    expect(error).toMatchObject({ param: "domain", code: "7000", message: "restricted domain" });
    expect(error?.description).toContain("this service's own names");
    // And nobody can claim it either, nor is told a record that would.
    expect((await account.call("POST", `/tracking-domains/${domain}/claim`)).status).toBe(400);
    expect((await account.call("GET", `/tracking-domains/${domain}/claim`)).status).toBe(400);
  });

  it("refuses an account's own V2 endpoint, and names under it, to every account", async () => {
    const enterprise = await newAccount();
    const endpoint = `edge.${crypto.randomUUID().slice(0, 8)}.bigsender.test`;
    await env.DB.prepare("UPDATE accounts SET v2_endpoint = ? WHERE id = ?")
      .bind(endpoint, enterprise.accountId)
      .run();
    const other = await newAccount();
    for (const domain of [endpoint, `t.${endpoint}`]) {
      const response = await other.call("POST", "/tracking-domains", { body: { domain } });
      expect(response.status).toBe(400);
      expect((await errorOf(response))?.description).toContain("own names");
    }
    // Its parent is an ordinary name.
    const parent = endpoint.split(".").slice(1).join(".");
    const sibling = `track.${parent}`;
    expect(
      (await other.call("POST", "/tracking-domains", { body: { domain: sibling } })).status,
    ).toBe(200);
  });

  it("gives the self-managed proof only on hosts that are somebody's tracking domain", async () => {
    const proof = (host: string) =>
      worker.fetch(
        new Request<unknown, IncomingRequestCfProperties>(
          `http://${host}/.well-known/tracking-edge/verify/${"n".repeat(32)}`,
        ),
        env,
        createExecutionContext(),
      );
    expect((await proof("v2.track-endpoint.test")).status).toBe(404);
    expect((await proof(uniqueDomain("nobody"))).status).toBe(404);
    const account = await newAccount();
    const domain = uniqueDomain("proxied");
    await account.call("POST", "/tracking-domains", {
      body: { domain, https_mode: "self_managed" },
    });
    expect((await proof(domain)).status).toBe(200);
  });
});

describe("making API keys", () => {
  it("refuses setup_api_key to a key without api_keys/manage, and makes no subaccount", async () => {
    const account = await newAccount();
    const limited = await newKey(account.accountId, null, [
      "subaccounts/manage",
      "tracking_domains/view",
    ]);
    const call = (method: string, path: string, body?: unknown) =>
      account.call(method, path, {
        ...(body === undefined ? {} : { body }),
        headers: { authorization: limited },
      });
    const before = (await (await call("GET", "/subaccounts")).json()) as { results: unknown[] };
    const response = await call("POST", "/subaccounts", {
      name: "Sneaky",
      setup_api_key: true,
      key_grants: ["tracking_domains/view"],
    });
    expect(response.status).toBe(403);
    const error = await errorOf(response);
    expect(error?.description).toContain("api_keys/manage");
    expect(error?.param).toBe("setup_api_key");
    const after = (await (await call("GET", "/subaccounts")).json()) as { results: unknown[] };
    expect(after.results).toHaveLength(before.results.length);
    // Without a key, the same key may still make a subaccount: that is its grant.
    expect((await call("POST", "/subaccounts", { name: "Plain" })).status).toBe(200);
  });

  it("counts a subaccount's key toward the account's 100, and makes nothing past it", async () => {
    const account = await newAccount();
    // The account's first key exists; 99 more fill the cap.
    const statements = [];
    for (let i = 0; i < 99; i++) {
      const key = await generateApiKey();
      statements.push(
        env.DB.prepare(
          `INSERT INTO api_keys (account_id, label, short_key, key_hash, public_id, grants)
           VALUES (?, 'filler', ?, ?, ?, '[]')`,
        ).bind(account.accountId, key.shortKey, key.hash, key.publicId),
      );
    }
    await env.DB.batch(statements);
    const response = await account.call("POST", "/subaccounts", {
      body: { name: "One too many", setup_api_key: true },
    });
    expect(response.status).toBe(403);
    expect((await errorOf(response))?.description).toContain("100 API keys");
    const made = await env.DB.prepare("SELECT COUNT(*) AS n FROM subaccounts WHERE account_id = ?")
      .bind(account.accountId)
      .first<{ n: number }>();
    expect(made?.n).toBe(0);
    const keys = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM api_keys WHERE account_id = ? AND revoked_at IS NULL",
    )
      .bind(account.accountId)
      .first<{ n: number }>();
    expect(keys?.n).toBe(100);
  });
});

describe("per-account limits", () => {
  it.each([
    [
      "tracking domains",
      { MAX_TRACKING_DOMAINS_PER_ACCOUNT: "2" },
      "/tracking-domains",
      () => ({ domain: uniqueDomain() }),
      "MAX_TRACKING_DOMAINS_PER_ACCOUNT",
    ],
    [
      "sending domains",
      { MAX_SENDING_DOMAINS_PER_ACCOUNT: "2" },
      "/sending-domains",
      () => ({ domain: `mail-${crypto.randomUUID().slice(0, 8)}.example.com` }),
      "MAX_SENDING_DOMAINS_PER_ACCOUNT",
    ],
    [
      "webhooks",
      { MAX_WEBHOOKS_PER_ACCOUNT: "2" },
      "/webhooks",
      () => ({ name: "hook", target: "https://hooks.example.com/x" }),
      "MAX_WEBHOOKS_PER_ACCOUNT",
    ],
    [
      "subaccounts",
      { MAX_SUBACCOUNTS_PER_ACCOUNT: "2" },
      "/subaccounts",
      () => ({ name: "Customer" }),
      "MAX_SUBACCOUNTS_PER_ACCOUNT",
    ],
  ])(
    "stops an account at its limit of %s with a 403 naming it; others are unaffected",
    async (_, vars, path, body, variable) => {
      const account = await newAccount();
      for (let i = 0; i < 2; i++)
        expect((await callWith(vars, account, "POST", path, body())).status).toBe(200);
      const refused = await callWith(vars, account, "POST", path, body());
      expect(refused.status).toBe(403);
      expect((await errorOf(refused))?.description).toContain(variable);
      const listed = (await (await callWith(vars, account, "GET", path)).json()) as {
        results: unknown[];
      };
      expect(listed.results).toHaveLength(2);
      const other = await newAccount();
      expect((await callWith(vars, other, "POST", path, body())).status).toBe(200);
    },
  );

  it("counts HTTPS mode changes and enabling as DNS checks: flipping meets the limit", async () => {
    const account = await newAccount();
    const domain = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain, secure: false } });
    const limit = env.TEST_RATE_LIMITS.lookups;
    let refused: Response | undefined;
    for (let i = 0; i <= 2 * limit && !refused; i++) {
      const response = await account.call("PUT", `/tracking-domains/${domain}`, {
        body: { https_mode: i % 2 === 0 ? "managed" : "none" },
      });
      if (response.status === 429) refused = response;
      else expect(response.status).toBe(200);
    }
    expect(refused?.headers.get("retry-after")).toBe("60");
    expect((await errorOf(refused as Response))?.description).toContain("HTTPS mode changes");
    expect(
      (await account.call("POST", `/tracking-domains/${domain}/certificate/enable`)).status,
    ).toBe(429);
    // A change of the default alone is no check.
    expect(
      (await account.call("PUT", `/tracking-domains/${domain}`, { body: { default: false } }))
        .status,
    ).toBe(200);
  });
});

describe("new certificate orders", () => {
  const hourStart = () => new Date(Math.floor(Date.now() / 3600_000) * 3600_000);

  async function verifiedDomain(account: TestAccount, https: "managed" | "none") {
    const domain = uniqueDomain();
    await account.call("POST", "/tracking-domains", {
      body: { domain, https_mode: https },
    });
    await env.DB.prepare(
      "UPDATE tracking_domains SET verified = 1, cname_status = 'valid' WHERE domain = ?",
    )
      .bind(domain)
      .run();
    return domain;
  }

  const useUp = (accountId: number, used: number) =>
    env.DB.prepare(
      `INSERT INTO account_budgets (account_id, kind, window_start, used) VALUES (?, 'new_orders', ?, ?)
       ON CONFLICT (account_id, kind) DO UPDATE SET window_start = excluded.window_start, used = excluded.used`,
    )
      .bind(accountId, hourStart().toISOString(), used)
      .run();

  it("refuses enabling and switching to managed with a 429 once the hour's orders are used, changing nothing", async () => {
    const account = await newAccount();
    const domain = await verifiedDomain(account, "none");
    await useUp(account.accountId, 30);
    for (const [method, path, body] of [
      ["POST", `/tracking-domains/${domain}/certificate/enable`, undefined],
      ["PUT", `/tracking-domains/${domain}`, { https_mode: "managed" }],
    ] as const) {
      const response = await account.call(method, path, body === undefined ? {} : { body });
      expect(response.status).toBe(429);
      const wait = Number(response.headers.get("retry-after"));
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(3600);
      expect((await errorOf(response))?.description).toContain("NEW_ORDERS_PER_ACCOUNT_PER_HOUR");
    }
    const after = (await (await account.call("GET", `/tracking-domains/${domain}`)).json()) as {
      results: { https_mode: string; status: { tls_status: string } };
    };
    expect(after.results).toMatchObject({ https_mode: "none", status: { tls_status: "unknown" } });
    // Another account's budget is its own.
    const other = await newAccount();
    const theirs = await verifiedDomain(other, "none");
    expect(
      (await other.call("PUT", `/tracking-domains/${theirs}`, { body: { https_mode: "managed" } }))
        .status,
    ).not.toBe(429);
  });

  /** A domain's object about to place an order: for a first certificate, or for a renewal. */
  async function atOrderStep(accountId: number, renewal: boolean) {
    const domain = uniqueDomain("order");
    await env.DB.prepare(
      `INSERT INTO tracking_domains (domain, account_id, region, https_mode, verified, tls_status)
       VALUES (?, ?, 'us', 'managed', 1, 'pending')`,
    )
      .bind(domain, accountId)
      .run();
    const now = Date.now();
    const state: CertificateState = {
      ...initialState(domain, "us", new Date(now)),
      enabled: true,
      phase: "order",
      status: renewal ? "valid" : "pending",
      nextRunAt: new Date(now - 1000).toISOString(),
      current: renewal
        ? {
            serial: "0b",
            notBefore: new Date(now - 60 * 86_400_000).toISOString(),
            notAfter: new Date(now + 30 * 86_400_000).toISOString(),
            issuedAt: new Date(now - 60 * 86_400_000).toISOString(),
            renewsAt: new Date(now).toISOString(),
            spread: 0,
            ariId: null,
            ari: null,
            nextAriCheckAt: null,
          }
        : null,
    };
    const stub = domainCertificateStub(env, domain, "us");
    await runInDurableObject(stub, async (_, ctx) => {
      ctx.storage.sql.exec(
        "INSERT INTO lifecycle (id, state, revision) VALUES (1, ?, 1)",
        JSON.stringify(state),
      );
      // Far ahead, so that it does not fire by itself: the test runs it.
      await ctx.storage.setAlarm(now + 3600_000);
    });
    return stub;
  }

  const budgetOf = async (accountId: number) =>
    (
      await env.DB.prepare(
        "SELECT used FROM account_budgets WHERE account_id = ? AND kind = 'new_orders'",
      )
        .bind(accountId)
        .first<{ used: number }>()
    )?.used ?? 0;

  it("defers a first certificate's order to the next hour when the account's are used up, and orders renewals regardless", {
    timeout: 30_000,
  }, async () => {
    const account = await newAccount();
    await useUp(account.accountId, 30);
    const first = await atOrderStep(account.accountId, false);
    expect(await runDurableObjectAlarm(first)).toBe(true);
    const deferred = await first.view();
    expect(deferred).toMatchObject({
      status: "pending",
      step: "order",
      error: { code: "limit:new_orders", actionBy: "provider" },
    });
    expect(deferred.error?.detail).toContain("NEW_ORDERS_PER_ACCOUNT_PER_HOUR");
    expect(Date.parse(deferred.nextRunAt ?? "")).toBeGreaterThanOrEqual(
      hourStart().getTime() + 3600_000,
    );
    expect(await budgetOf(account.accountId)).toBe(30);

    // A renewal keeps a name served: it orders, and spends nothing.
    const renewal = await atOrderStep(account.accountId, true);
    expect(await runDurableObjectAlarm(renewal)).toBe(true);
    expect((await renewal.view()).step).toBe("authorize");
    expect(await budgetOf(account.accountId)).toBe(30);

    // With orders left, a first certificate orders and spends one.
    const fresh = await newAccount();
    const admitted = await atOrderStep(fresh.accountId, false);
    expect(await runDurableObjectAlarm(admitted)).toBe(true);
    expect((await admitted.view()).step).toBe("authorize");
    expect(await budgetOf(fresh.accountId)).toBe(1);
  });
});

describe("links follow the account that holds the domain", () => {
  it("stops a link once its account deletes the domain, and keeps the new holder's working", async () => {
    const first = await newAccount();
    const domain = uniqueDomain("moved");
    await first.call("POST", "/tracking-domains", { body: { domain } });
    await env.DB.prepare("UPDATE tracking_domains SET verified = 1 WHERE domain = ?")
      .bind(domain)
      .run();
    await first.call("PUT", `/tracking-domains/${domain}`, { body: { default: true } });
    const mint = async (account: TestAccount) => {
      const response = await account.call("POST", "/tracking-links", {
        body: { links: [{ url: "https://shop.example.com/" }] },
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { results: { links: { tracked_url: string }[] } }).results
        .links[0]?.tracked_url as string;
    };
    const click = async (url: string) => {
      const ctx = createExecutionContext();
      const response = await worker.fetch(
        new Request<unknown, IncomingRequestCfProperties>(url, { redirect: "manual" }),
        env,
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return response;
    };
    const old = await mint(first);
    expect((await click(old)).status).toBe(302);

    expect((await first.call("DELETE", `/tracking-domains/${domain}`)).status).toBe(204);
    // The isolate's answer ages out (LINK_HOLDER_CACHE_SECONDS; the timing is tested below).
    forgetHolders();
    const dead = await click(old);
    expect(dead.status).toBe(404);
    expect(dead.headers.get("location")).toBeNull();

    const second = await newAccount();
    await second.call("POST", "/tracking-domains", { body: { domain } });
    await env.DB.prepare("UPDATE tracking_domains SET verified = 1 WHERE domain = ?")
      .bind(domain)
      .run();
    await second.call("PUT", `/tracking-domains/${domain}`, { body: { default: true } });
    forgetHolders();
    expect((await click(await mint(second))).status).toBe(302);
    // The first account's link is still not the new holder's.
    expect((await click(old)).status).toBe(404);
  });

  it("reads a domain's holder once, refreshes it in the background, and reads it again when it is too old", async () => {
    const account = await newAccount();
    const domain = uniqueDomain("cached");
    await account.call("POST", "/tracking-domains", { body: { domain } });
    const maxAge = 240_000;
    const t0 = Date.now();
    const background: Promise<unknown>[] = [];
    const ctx = { waitUntil: (p: Promise<unknown>) => background.push(p) };
    forgetHolders();
    expect(cachedHolder(env.DB, domain, t0, maxAge, ctx)).toBeUndefined();
    expect(await lookUpHolder(env.DB, domain, t0)).toEqual({
      accountId: account.accountId,
      subaccountId: 0,
      region: "us",
    });
    // Fresh: no read at all.
    expect(cachedHolder(env.DB, domain, t0 + 30_000, maxAge, ctx)).toMatchObject({
      accountId: account.accountId,
    });
    expect(background).toHaveLength(0);
    // The domain goes; a minute later the old answer is still used once, and read again behind it.
    await env.DB.prepare("DELETE FROM tracking_domains WHERE domain = ?").bind(domain).run();
    expect(cachedHolder(env.DB, domain, t0 + 61_000, maxAge, ctx)).toMatchObject({
      accountId: account.accountId,
    });
    expect(background).toHaveLength(1);
    await Promise.all(background);
    // The background read remembered that nobody holds it: from now on, null.
    expect(cachedHolder(env.DB, domain, t0 + 62_000, maxAge, ctx)).toBeNull();
    // Past the maximum age an answer is never used.
    expect(cachedHolder(env.DB, domain, t0 + 61_000 + maxAge, maxAge, ctx)).toBeUndefined();
  });
});
