// SparkPost's own documented requests, replayed: the request bodies of its Tracking Domains and
// Subaccounts API references (their shapes are SparkPost's; the checks are ours), each answer
// checked against the documented response's status, codes and fields. Where this service
// differs on purpose, docs/sparkpost-compatibility.md says so and the test says what we answer.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type ErrorBody, newAccount, type TestAccount, uniqueDomain, withKey } from "./helpers";

interface DomainBody {
  domain: string;
  port: number;
  secure: boolean;
  default: boolean;
  status: { verified: boolean; cname_status: string; compliance_status: string };
}

const ignored = (response: Response) => response.headers.get("x-ignored-fields");

async function created(account: TestAccount, body: Record<string, unknown>): Promise<DomainBody> {
  const response = await account.call("POST", "/tracking-domains", { body });
  expect(response.status).toBe(200);
  return (await response.json<{ results: DomainBody }>()).results;
}

/** A name in the test zone whose CNAME reaches our US V2 endpoint (set through the DNS test API). */
async function cnamedName(): Promise<string> {
  const name = `compat-${crypto.randomUUID().slice(0, 8)}.${env.TEST_DYNAMIC_ZONE}`;
  const response = await fetch(`${env.TEST_CHALLTESTSRV}/set-cname`, {
    method: "POST",
    body: JSON.stringify({ host: `${name}.`, target: `${env.V2_ENDPOINT_US}.` }),
  });
  expect(response.ok).toBe(true);
  return name;
}

describe("SparkPost's Tracking Domains reference, replayed", () => {
  it("creates with the documented body (port 80, secure false, default false)", async () => {
    const account = await newAccount();
    const domain = uniqueDomain("example");
    const results = await created(account, { domain, port: 80, secure: false, default: false });
    expect(results).toMatchObject({
      domain,
      port: 80,
      secure: false,
      default: false,
      status: { verified: false, cname_status: "unverified", compliance_status: "pending" },
    });
  });

  it("follows SparkPost's port/secure table, and says which ports it serves", async () => {
    const account = await newAccount();
    // Port alone: 443 asks for HTTPS (managed here), 80 for plain HTTP.
    expect(await created(account, { domain: uniqueDomain(), port: 443 })).toMatchObject({
      https_mode: "managed",
    });
    expect(await created(account, { domain: uniqueDomain(), port: 80 })).toMatchObject({
      https_mode: "none",
      port: 80,
      secure: false,
    });
    // The documented example with port 8080: a port this service cannot serve is refused, naming
    // the ones it can.
    const refused = await account.call("POST", "/tracking-domains", {
      body: { domain: uniqueDomain(), port: 8080, secure: true },
    });
    expect(refused.status).toBe(422);
    const error = (await refused.json<ErrorBody>()).errors[0];
    expect(error).toMatchObject({
      code: "1300",
      message: "invalid data format/type",
      param: "port",
    });
    expect(error?.description).toContain("80");
    expect(error?.description).toContain("443");
  });

  it("refuses an unverified default with SparkPost's code and words", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain: uniqueDomain(), default: true },
    });
    expect(response.status).toBe(422);
    const error = (await response.json<ErrorBody>()).errors[0];
    expect(error).toMatchObject({ code: "1300", message: "invalid data format/type" });
    expect(error?.description).toContain("Tracking domain unverified");
  });

  it.each([["example..domain.com"], ["exampledomaincom"], ["example*&#.domain.com"]])(
    "answers the documented 422 (1300) for the invalid name %j",
    async (domain) => {
      const account = await newAccount();
      const response = await account.call("POST", "/tracking-domains", { body: { domain } });
      expect(response.status).toBe(422);
      expect((await response.json<ErrorBody>()).errors[0]).toMatchObject({
        code: "1300",
        message: "invalid data format/type",
        param: "domain",
      });
    },
  );

  it("answers the documented 422 (1400) without a domain, and 409 (1602) for one that exists", async () => {
    const account = await newAccount();
    const missing = await account.call("POST", "/tracking-domains", { body: {} });
    expect(missing.status).toBe(422);
    expect((await missing.json<ErrorBody>()).errors[0]).toMatchObject({
      code: "1400",
      message: "required field is missing",
      param: "domain",
    });
    const domain = uniqueDomain();
    await created(account, { domain });
    const again = await account.call("POST", "/tracking-domains", { body: { domain } });
    expect(again.status).toBe(409);
    expect((await again.json<ErrorBody>()).errors[0]).toMatchObject({
      code: "1602",
      message: "resource conflict",
    });
  });

  it("answers the documented 400 (7000, restricted domain) for one of our own names", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain: env.V2_ENDPOINT_US },
    });
    expect(response.status).toBe(400);
    expect((await response.json<ErrorBody>()).errors[0]).toMatchObject({
      code: "7000",
      message: "restricted domain",
    });
  });

  it("lists and retrieves in the documented shape, with or without a trailing slash", async () => {
    const account = await newAccount();
    const domain = uniqueDomain();
    await created(account, { domain, secure: false });
    for (const path of ["/tracking-domains", "/tracking-domains/"]) {
      const list = await account.call("GET", path);
      expect(list.status).toBe(200);
      const [first] = (await list.json<{ results: DomainBody[] }>()).results;
      expect(Object.keys(first ?? {})).toEqual(
        expect.arrayContaining(["port", "domain", "secure", "default", "status"]),
      );
    }
    for (const path of [`/tracking-domains/${domain}`, `/tracking-domains/${domain}/`]) {
      const one = await account.call("GET", path);
      expect(one.status).toBe(200);
      expect((await one.json<{ results: DomainBody }>()).results).toMatchObject({
        domain,
        port: 80,
        secure: false,
        default: false,
        status: { verified: false, cname_status: "unverified" },
      });
    }
    const unknown = await account.call("GET", `/tracking-domains/${uniqueDomain()}`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json<ErrorBody>()).errors[0]).toMatchObject({
      code: "1600",
      message: "resource not found",
    });
  });

  it("ignores fields and query parameters it does not know, naming them in X-Ignored-Fields", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain: uniqueDomain(), secure: false, tracking_enabled: true, labels: { a: 1 } },
    });
    expect(response.status).toBe(200);
    expect(ignored(response)).toBe("tracking_enabled, labels");
    const list = await account.call("GET", "/tracking-domains?default=false&page=2");
    expect(list.status).toBe(200);
    expect(ignored(list)).toBe("?page");
    // A name no header can carry as it is (a newline, non-ASCII) is named escaped, never a 500.
    const odd = await account.call("POST", "/tracking-domains", {
      body: { domain: uniqueDomain(), secure: false, "a\nb": 1, café: 2 },
    });
    expect(odd.status).toBe(200);
    expect(ignored(odd)).toBe("a\\u{a}b, caf\\u{e9}");
    // Known fields keep their strict checks: a wrong type is still a 422 naming the field.
    const wrong = await account.call("POST", "/tracking-domains", {
      body: { domain: uniqueDomain(), secure: "yes" },
    });
    expect(wrong.status).toBe(422);
    expect((await wrong.json<ErrorBody>()).errors[0]).toMatchObject({ param: "secure" });
  });

  it("verifies, updates with the documented body, and deletes", async () => {
    const account = await newAccount();
    const domain = await cnamedName();
    await created(account, { domain, secure: false });
    // Not verified yet: the documented update (default true) is the documented 422.
    const early = await account.call("PUT", `/tracking-domains/${domain}`, {
      body: { port: 80, secure: false, default: true },
    });
    expect(early.status).toBe(422);
    expect((await early.json<ErrorBody>()).errors[0]?.description).toContain(
      "Tracking domain unverified",
    );

    const verify = await account.call("POST", `/tracking-domains/${domain}/verify`);
    expect(verify.status).toBe(200);
    expect((await verify.json<{ results: DomainBody["status"] }>()).results).toMatchObject({
      verified: true,
      cname_status: "valid",
      compliance_status: "valid",
    });

    // The documented update: {"port": 80, "secure": true, "default": true}. Links are served on
    // 443 when secure, so secure decides and the port is named as ignored.
    const update = await account.call("PUT", `/tracking-domains/${domain}`, {
      body: { port: 80, secure: true, default: true },
    });
    expect(update.status).toBe(200);
    expect(ignored(update)).toContain("port");
    expect((await update.json<{ results: DomainBody }>()).results).toMatchObject({
      domain,
      default: true,
      https_mode: "managed",
    });

    expect((await account.call("DELETE", `/tracking-domains/${domain}`)).status).toBe(204);
    const gone = await account.call("DELETE", `/tracking-domains/${domain}`);
    expect(gone.status).toBe(404);
    expect((await gone.json<ErrorBody>()).errors[0]).toMatchObject({ code: "1600" });
  });
});

describe("SparkPost's Subaccounts reference, replayed", () => {
  it("creates a subaccount and its key from the documented body, and lists and retrieves it", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/subaccounts", {
      body: {
        name: "Sparkle Ponies",
        key_label: "API Key for Sparkle Ponies Subaccount",
        key_grants: [
          "smtp/inject",
          "sending_domains/manage",
          "message_events/view",
          "suppression_lists/manage",
          "tracking_domains/view",
          "tracking_domains/manage",
        ],
        key_valid_ips: [],
        ip_pool: "",
      },
    });
    expect(response.status).toBe(200);
    // SparkPost's grants for sending mail are not this service's: ignored, and named.
    expect(ignored(response)).toBe("key_grants: smtp/inject, key_grants: suppression_lists/manage");
    const results = (
      await response.json<{
        results: {
          subaccount_id: number;
          key: string;
          label: string;
          short_key: string;
          grants: string[];
        };
      }>()
    ).results;
    expect(results).toMatchObject({
      label: "API Key for Sparkle Ponies Subaccount",
      grants: [
        "tracking_domains/view",
        "tracking_domains/manage",
        "sending_domains/manage",
        "message_events/view",
      ],
    });
    expect(results.key.startsWith(results.short_key)).toBe(true);
    // The key works for its subaccount, and only with the grants it got.
    const subaccountKey = withKey(results.key);
    expect((await subaccountKey.call("GET", "/tracking-domains")).status).toBe(200);
    expect((await subaccountKey.call("GET", "/webhooks")).status).toBe(403);

    const list = await account.call("GET", "/subaccounts");
    expect((await list.json<{ results: Record<string, unknown>[] }>()).results).toContainEqual(
      expect.objectContaining({
        id: results.subaccount_id,
        name: "Sparkle Ponies",
        status: "active",
        compliance_status: "active",
      }),
    );
    const one = await account.call("GET", `/subaccounts/${results.subaccount_id}`);
    expect(one.status).toBe(200);
    expect((await one.json<{ results: Record<string, unknown> }>()).results).toMatchObject({
      id: results.subaccount_id,
      name: "Sparkle Ponies",
      status: "active",
    });
    const missing = await account.call("GET", "/subaccounts/999999");
    expect(missing.status).toBe(404);
    expect((await missing.json<ErrorBody>()).errors[0]).toMatchObject({ code: "1600" });
  });

  it("renames and suspends with the documented body; a suspended subaccount's keys stop, its primary's do not", async () => {
    const account = await newAccount();
    const made = await account.call("POST", "/subaccounts", {
      body: { name: "Joe's Garage", key_label: "Joe", key_grants: ["tracking_domains/view"] },
    });
    const { subaccount_id: id, key } = (
      await made.json<{ results: { subaccount_id: number; key: string } }>()
    ).results;
    const joe = withKey(key);
    expect((await joe.call("GET", "/tracking-domains")).status).toBe(200);

    const suspended = await account.call("PUT", `/subaccounts/${id}`, {
      body: { name: "Hey Joe! Garage and Parts", status: "suspended" },
    });
    expect(suspended.status).toBe(200);
    expect((await suspended.json<{ results: Record<string, unknown> }>()).results).toMatchObject({
      message: "Successfully updated subaccount information",
      name: "Hey Joe! Garage and Parts",
      status: "suspended",
    });
    const refused = await joe.call("GET", "/tracking-domains");
    expect(refused.status).toBe(403);
    expect((await refused.json<ErrorBody>()).errors[0]?.description).toContain("suspended");
    // The primary account still acts for it.
    expect(
      (
        await account.call("GET", "/tracking-domains", {
          headers: { "x-msys-subaccount": String(id) },
        })
      ).status,
    ).toBe(200);

    await account.call("PUT", `/subaccounts/${id}`, { body: { status: "active" } });
    expect((await joe.call("GET", "/tracking-domains")).status).toBe(200);

    await account.call("PUT", `/subaccounts/${id}`, { body: { status: "terminated" } });
    expect((await joe.call("GET", "/tracking-domains")).status).toBe(403);
    const again = await account.call("PUT", `/subaccounts/${id}`, { body: { status: "active" } });
    expect(again.status).toBe(422);
    expect((await again.json<ErrorBody>()).errors[0]).toMatchObject({ param: "status" });
    expect((await account.call("PUT", "/subaccounts/999999", { body: { name: "x" } })).status).toBe(
      404,
    );
  });

  it("refuses key grants that are neither SparkPost's nor ours, naming the field", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/subaccounts", {
      body: { name: "Typo", key_label: "k", key_grants: ["tracking_domain/manage"] },
    });
    expect(response.status).toBe(422);
    expect((await response.json<ErrorBody>()).errors[0]).toMatchObject({ param: "key_grants.0" });
  });

  it("makes no key for a body with no key field, as before", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/subaccounts", { body: { name: "No key" } });
    expect(response.status).toBe(200);
    expect(
      (await response.json<{ results: Record<string, unknown> }>()).results,
    ).not.toHaveProperty("key");
  });
});

describe("SparkPost's Webhooks reference, replayed", () => {
  it("creates, describes, updates and deletes with the documented bodies", async () => {
    const account = await newAccount();
    const created = await account.call("POST", "/webhooks", {
      body: {
        name: "Example webhook",
        target: "https://client.example.com/example-webhook",
        auth_token: "5ebe2294ecd0e0f08eab7690d2a6ee69",
        events: ["delivery", "injection", "open", "click"],
      },
    });
    expect(created.status).toBe(200);
    // Delivery and injection are SparkPost's sending events, which this service never sees.
    expect(ignored(created)).toBe("events: delivery, events: injection");
    const { id } = (await created.json<{ results: { id: string } }>()).results;

    const listed = await account.call("GET", "/webhooks?timezone=America/New_York");
    expect(listed.status).toBe(200);
    expect(ignored(listed)).toBe("?timezone");
    const described = await account.call("GET", `/webhooks/${id}`);
    expect((await described.json<{ results: Record<string, unknown> }>()).results).toMatchObject({
      id,
      name: "Example webhook",
      target: "https://client.example.com/example-webhook",
      events: ["open", "click"],
    });

    // The documented update asks only for events this service never sends: it would receive
    // nothing, so it is refused, naming the events it can have.
    const renamed = await account.call("PUT", `/webhooks/${id}`, {
      body: { name: "Renamed webhook", events: ["rejection", "delay"] },
    });
    expect(renamed.status).toBe(422);
    const error = (await renamed.json<ErrorBody>()).errors[0];
    expect(error).toMatchObject({ param: "events", code: "1300" });
    expect(error?.description).toContain("click");
    const kept = await account.call("PUT", `/webhooks/${id}`, {
      body: { name: "Renamed webhook", events: ["rejection", "click"] },
    });
    expect(kept.status).toBe(200);
    expect((await kept.json<{ results: Record<string, unknown> }>()).results).toMatchObject({
      name: "Renamed webhook",
      events: ["click"],
    });

    const batches = await account.call("GET", `/webhooks/${id}/batch-status?limit=1000`);
    expect(batches.status).toBe(200);
    expect((await account.call("DELETE", `/webhooks/${id}`)).status).toBe(204);
  });
});
