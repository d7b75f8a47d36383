// The Tracking Domains API as a client sees it: shapes, rules and every error path, inside workerd.
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { callApi, type ErrorBody, newAccount, uniqueDomain } from "./helpers";

interface DomainBody {
  results: {
    domain: string;
    port: number;
    secure: boolean;
    https_mode: string;
    default: boolean;
    subaccount_id: number;
    region: string;
    endpoint: string;
    dns_record: { type: string; name: string; value: string };
    status: {
      verified: boolean;
      cname_status: string;
      compliance_status: string;
      tls_status: string;
    };
    uses_managed_certificate: boolean;
    tls_certificate: Record<string, unknown>;
    dns_check: unknown;
  };
}

const markVerified = (domain: string) =>
  env.DB.prepare(
    "UPDATE tracking_domains SET verified = 1, cname_status = 'valid' WHERE domain = ?",
  )
    .bind(domain)
    .run();

describe("creating a tracking domain", () => {
  it("stores the normalized name with managed HTTPS on, and shows the CNAME to add", async () => {
    const account = await newAccount();
    const name = uniqueDomain();
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain: `  ${name.toUpperCase()}. ` },
    });
    expect(response.status).toBe(200);
    const { results } = await response.json<DomainBody>();
    expect(results).toMatchObject({
      domain: name,
      port: 80,
      secure: false,
      https_mode: "managed",
      default: false,
      subaccount_id: 0,
      region: "us",
      endpoint: "v2.track-endpoint.test",
      dns_record: { type: "CNAME", name, value: "v2.track-endpoint.test" },
      status: {
        verified: false,
        cname_status: "unverified",
        compliance_status: "pending",
        tls_status: "pending",
      },
      uses_managed_certificate: true,
      tls_certificate: {
        issued_at: null,
        expires_at: null,
        renews_at: null,
        error_code: null,
        action_by: null,
      },
      dns_check: null,
    });
  });

  it("stores an internationalized name as its A-labels", async () => {
    const account = await newAccount();
    const suffix = crypto.randomUUID().slice(0, 6);
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain: `Klick.Bücher-${suffix}.test` },
    });
    expect(response.status).toBe(200);
    const { results } = await response.json<DomainBody>();
    expect(results.domain).toMatch(/^klick\.xn--bcher-.*\.test$/);
    expect(new URL(`http://${results.domain}`).hostname).toBe(
      new URL(`http://klick.bücher-${suffix}.test`).hostname,
    );
  });

  it("places an EU domain on the EU endpoint", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain: uniqueDomain(), region: "eu" },
    });
    const { results } = await response.json<DomainBody>();
    expect(results.region).toBe("eu");
    expect(results.endpoint).toBe("eu.v2.track-endpoint.test");
  });

  it("leaves HTTPS off when secure is false", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain: uniqueDomain(), secure: false },
    });
    const { results } = await response.json<DomainBody>();
    expect(results).toMatchObject({
      https_mode: "none",
      uses_managed_certificate: false,
      status: { tls_status: "unknown" },
    });
  });

  it("refuses a name that exists already, in any letter case", async () => {
    const account = await newAccount();
    const name = uniqueDomain();
    expect(
      (await account.call("POST", "/tracking-domains", { body: { domain: name } })).status,
    ).toBe(200);
    const again = await account.call("POST", "/tracking-domains", {
      body: { domain: name.toUpperCase() },
    });
    expect(again.status).toBe(409);
    const body = await again.json<ErrorBody>();
    expect(body.errors[0]).toMatchObject({ code: "1602", param: "domain" });
    expect(body.errors[0]?.description).toContain(`${name} already exists`);
  });

  const invalidNames: [string, string][] = [
    ["", "is empty"],
    ["shop.test", "registrable domain (an apex)"],
    ["example.co.uk", "registrable domain (an apex)"],
    ["co.uk", "public suffix"],
    ["test", "single label"],
    ["192.0.2.10", "IP address"],
    ["[2001:db8::1]", "IP address"],
    ["*.shop.test", "wildcard"],
    ["https://track.shop.test/path", "no scheme, path"],
    ["track shop.test", "only letters, digits"],
    ["track_1.shop.test", "underscore"],
    ["track..shop.test", "empty label"],
    [`${"a".repeat(64)}.shop.test`, "longer than 63"],
    [`${"abcdefghi.".repeat(26)}shop.test`, "longer than 253"],
    ["track.example.corp", "not a public top-level domain"],
    ["-track.shop.test", "inner hyphens"],
    ["ab--cd.shop.test", "3rd and 4th"],
  ];
  it.each(invalidNames)(
    "refuses %j with a 422 that names the field and the reason",
    async (domain, reason) => {
      const account = await newAccount();
      const response = await account.call("POST", "/tracking-domains", { body: { domain } });
      expect(response.status).toBe(422);
      const body = await response.json<ErrorBody>();
      expect(body.errors[0]).toMatchObject({
        code: "1300",
        param: "domain",
        message: "invalid data format/type",
      });
      expect(body.errors[0]?.description).toContain(reason);
    },
  );

  const badBodies: [string, unknown, number, string | undefined, string][] = [
    ["no domain", {}, 422, "domain", "domain is required"],
    ["a number for domain", { domain: 42 }, 422, "domain", "expected string"],
    [
      "a string for secure",
      { domain: "track.a.test", secure: "yes" },
      422,
      "secure",
      "expected boolean",
    ],
    ["an unknown region", { domain: "track.a.test", region: "asia" }, 422, "region", "region"],
    ["an array", [{ domain: "track.a.test" }], 422, undefined, "must be a JSON object"],
  ];
  it.each(badBodies)(
    "answers a body with %s with a clear error",
    async (_, body, status, param, text) => {
      const account = await newAccount();
      const response = await account.call("POST", "/tracking-domains", { body });
      expect(response.status).toBe(status);
      const errors = (await response.json<ErrorBody>()).errors;
      expect(errors[0]?.param).toBe(param);
      expect(`${errors[0]?.message} ${errors[0]?.description}`).toContain(text);
    },
  );

  it("answers malformed JSON with a 400", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/tracking-domains", {
      rawBody: '{"domain": "track.a.test",',
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(400);
    expect((await response.json<ErrorBody>()).errors[0]?.description).toMatch(/malformed json/i);
  });

  it("answers a body that is not JSON with a 415", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/tracking-domains", {
      rawBody: "domain=track.a.test",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(response.status).toBe(415);
    expect((await response.json<ErrorBody>()).errors[0]?.description).toContain(
      "Content-Type: application/json",
    );
  });

  it("answers an oversized body with a 413 and stores nothing", async () => {
    const account = await newAccount();
    const name = uniqueDomain();
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain: name, padding: "x".repeat(70_000) },
    });
    expect(response.status).toBe(413);
    expect((await response.json<ErrorBody>()).errors[0]?.message).toBe("request body too large");
    expect((await account.call("GET", `/tracking-domains/${name}`)).status).toBe(404);
  });
});

describe("listing tracking domains", () => {
  it("lists the account's domains in name order, filtered by default", async () => {
    const account = await newAccount();
    const [b, a] = [uniqueDomain("b"), uniqueDomain("a")];
    for (const domain of [b, a])
      await account.call("POST", "/tracking-domains", { body: { domain } });
    await markVerified(b);
    await account.call("PUT", `/tracking-domains/${b}`, { body: { default: true } });

    const all = await (await account.call("GET", "/tracking-domains")).json<{
      results: { domain: string }[];
    }>();
    expect(all.results.map((d) => d.domain)).toEqual([a, b]);
    const defaults = await (await account.call("GET", "/tracking-domains?default=true")).json<{
      results: { domain: string }[];
    }>();
    expect(defaults.results.map((d) => d.domain)).toEqual([b]);
    const others = await (await account.call("GET", "/tracking-domains?default=false")).json<{
      results: { domain: string }[];
    }>();
    expect(others.results.map((d) => d.domain)).toEqual([a]);
  });

  it.each([
    ["default=yes", "default"],
    ["subaccounts=one", "subaccounts"],
    ["subaccounts=1,,2", "subaccounts"],
  ])("answers ?%s with a 400 naming the parameter", async (query, param) => {
    const account = await newAccount();
    const response = await account.call("GET", `/tracking-domains?${query}`);
    expect(response.status).toBe(400);
    expect((await response.json<ErrorBody>()).errors[0]).toMatchObject({ code: "1200", param });
  });
  it("filters by a long list of subaccounts, and answers a list over 1000 ids with a 400 naming the limit", async () => {
    const account = await newAccount({ subaccounts: [7] });
    const domain = uniqueDomain();
    await account.call("POST", "/tracking-domains", {
      body: { domain },
      headers: { "x-msys-subaccount": "7" },
    });
    // More ids than D1 binds in one statement (100).
    const ids = Array.from({ length: 150 }, (_, i) => i + 1).join(",");
    const listed = await account.call("GET", `/tracking-domains?subaccounts=${ids}`);
    expect(listed.status).toBe(200);
    expect(
      (await listed.json<{ results: { domain: string }[] }>()).results.map((d) => d.domain),
    ).toEqual([domain]);
    const tooMany = Array.from({ length: 1001 }, (_, i) => i).join(",");
    const refused = await account.call("GET", `/tracking-domains?subaccounts=${tooMany}`);
    expect(refused.status).toBe(400);
    const error = (await refused.json<ErrorBody>()).errors[0];
    expect(error).toMatchObject({ param: "subaccounts" });
    expect(error?.description).toContain("at most 1000");
  });
});

describe("retrieving, updating and deleting a tracking domain", () => {
  it("finds a domain whatever the letter case or trailing dot of the path", async () => {
    const account = await newAccount();
    const name = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain: name } });
    const response = await account.call("GET", `/tracking-domains/${name.toUpperCase()}.`);
    expect(response.status).toBe(200);
    expect((await response.json<DomainBody>()).results.domain).toBe(name);
  });

  it.each(["track.nobody.shop.test", "not a domain", "shop.test"])(
    "answers GET of %j with a 404",
    async (name) => {
      const account = await newAccount();
      const response = await account.call("GET", `/tracking-domains/${encodeURIComponent(name)}`);
      expect(response.status).toBe(404);
      const error = (await response.json<ErrorBody>()).errors[0];
      expect(error).toMatchObject({ code: "1600", message: "resource not found" });
      expect(error?.description).toContain("does not exist");
    },
  );

  it("turns managed HTTPS off and on again", async () => {
    const account = await newAccount();
    const name = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain: name } });
    const off = await (
      await account.call("PUT", `/tracking-domains/${name}`, { body: { secure: false } })
    ).json<DomainBody>();
    expect(off.results).toMatchObject({
      https_mode: "none",
      uses_managed_certificate: false,
      status: { tls_status: "unknown" },
    });
    const on = await (
      await account.call("PUT", `/tracking-domains/${name}`, { body: { secure: true } })
    ).json<DomainBody>();
    expect(on.results).toMatchObject({
      https_mode: "managed",
      uses_managed_certificate: true,
      status: { tls_status: "pending" },
    });
    // Links stay on http until a certificate is valid.
    expect(on.results).toMatchObject({ secure: false, port: 80 });
  });

  it("keeps one default per account: a new default takes the mark from the old one", async () => {
    const account = await newAccount();
    const [first, second] = [uniqueDomain("first"), uniqueDomain("second")];
    for (const domain of [first, second]) {
      await account.call("POST", "/tracking-domains", { body: { domain } });
      await markVerified(domain);
    }
    await account.call("PUT", `/tracking-domains/${first}`, { body: { default: true } });
    const response = await account.call("PUT", `/tracking-domains/${second}`, {
      body: { default: true },
    });
    expect((await response.json<DomainBody>()).results.default).toBe(true);
    const firstNow = await (
      await account.call("GET", `/tracking-domains/${first}`)
    ).json<DomainBody>();
    expect(firstNow.results.default).toBe(false);
    const unset = await account.call("PUT", `/tracking-domains/${second}`, {
      body: { default: false },
    });
    expect((await unset.json<DomainBody>()).results.default).toBe(false);
  });

  it("refuses to make an unverified domain the default", async () => {
    const account = await newAccount();
    const name = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain: name } });
    const response = await account.call("PUT", `/tracking-domains/${name}`, {
      body: { default: true },
    });
    expect(response.status).toBe(422);
    const error = (await response.json<ErrorBody>()).errors[0];
    expect(error).toMatchObject({ param: "default", code: "1300" });
    expect(error?.description).toContain("Tracking domain unverified");
  });

  it.each([
    ["an empty body", {}, "Send at least one of port, secure, https_mode and default"],
    // Ignored (SparkPost's convention), which leaves nothing to update.
    ["only a field it does not know", { secrue: true }, "Send at least one of port"],
    ["a port it does not serve", { port: 8443 }, "port 8443 is not served"],
    ["a string for default", { default: "true" }, "expected boolean"],
  ])("answers an update with %s with a 422", async (_, body, text) => {
    const account = await newAccount();
    const name = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain: name } });
    const response = await account.call("PUT", `/tracking-domains/${name}`, { body });
    expect(response.status).toBe(422);
    const error = (await response.json<ErrorBody>()).errors[0];
    expect(`${error?.message} ${error?.description}`).toContain(text);
  });

  it("answers updates, deletes and verifications of unknown domains with a 404", async () => {
    const account = await newAccount();
    const name = uniqueDomain();
    const calls = [
      account.call("PUT", `/tracking-domains/${name}`, { body: { secure: true } }),
      account.call("DELETE", `/tracking-domains/${name}`),
      account.call("POST", `/tracking-domains/${name}/verify`),
    ];
    for (const response of await Promise.all(calls)) {
      expect(response.status).toBe(404);
      expect((await response.json<ErrorBody>()).errors[0]?.code).toBe("1600");
    }
  });

  it("deletes a domain: 204, then it is gone, and the name can be created again", async () => {
    const account = await newAccount();
    const name = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain: name } });
    const response = await account.call("DELETE", `/tracking-domains/${name}`);
    expect(response.status).toBe(204);
    expect(await response.text()).toBe("");
    expect((await account.call("GET", `/tracking-domains/${name}`)).status).toBe(404);
    expect((await account.call("DELETE", `/tracking-domains/${name}`)).status).toBe(404);
    expect(
      (await account.call("POST", "/tracking-domains", { body: { domain: name } })).status,
    ).toBe(200);
  });
});

describe("certificate progress in the domain object", () => {
  it("says a pending certificate is stuck after 30 minutes without progress, and at which step", async () => {
    const account = await newAccount();
    const name = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain: name } });
    const since = new Date(Date.now() - 31 * 60_000).toISOString();
    await env.DB.prepare(
      "UPDATE tracking_domains SET tls_step = 'await_authorization', tls_progress_at = ? WHERE domain = ?",
    )
      .bind(since, name)
      .run();
    const { results } = await (
      await account.call("GET", `/tracking-domains/${name}`)
    ).json<DomainBody>();
    expect(results.tls_certificate).toMatchObject({
      stuck: true,
      step: "await_authorization",
      action_by: "provider",
    });
    expect(results.tls_certificate.error_detail).toContain("stuck at step await_authorization");

    await env.DB.prepare("UPDATE tracking_domains SET tls_progress_at = ? WHERE domain = ?")
      .bind(new Date().toISOString(), name)
      .run();
    const fresh = await (await account.call("GET", `/tracking-domains/${name}`)).json<DomainBody>();
    expect(fresh.results.tls_certificate).toMatchObject({ stuck: false, error_detail: null });
  });
});

describe("the API's edges", () => {
  it.each([
    ["PATCH", "/tracking-domains", "GET, HEAD, POST"],
    ["DELETE", "/tracking-domains", "GET, HEAD, POST"],
    ["POST", "/tracking-domains/track.a.shop.test", "GET, HEAD, PUT, DELETE"],
    ["GET", "/tracking-domains/track.a.shop.test/verify", "POST"],
  ])("answers %s %s with a 405 and the allowed methods", async (method, path, allow) => {
    const account = await newAccount();
    const response = await account.call(method, path);
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")?.split(", ").sort()).toEqual(allow.split(", ").sort());
    expect((await response.json<ErrorBody>()).errors[0]).toMatchObject({
      code: "1102",
      message: "invalid HTTP method",
    });
  });

  it("answers an unknown path with a 404 in the error shape", async () => {
    const account = await newAccount();
    const response = await account.call("GET", "/sending-stuff");
    expect(response.status).toBe(404);
    expect((await response.json<ErrorBody>()).errors[0]).toMatchObject({
      code: "1101",
      message: "invalid URI",
    });
  });

  it("serves an OpenAPI document generated from the request schemas", async () => {
    const response = await callApi("GET", "/openapi.json");
    expect(response.status).toBe(200);
    const document = await response.json<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
    }>();
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        "/tracking-domains",
        "/tracking-domains/{domain}",
        "/tracking-domains/{domain}/verify",
      ]),
    );
    expect(Object.keys(document.paths["/tracking-domains/{domain}"] ?? {}).sort()).toEqual([
      "delete",
      "get",
      "put",
    ]);
    expect(document.components.schemas.CreateTrackingDomain?.properties?.region?.enum).toEqual([
      "us",
      "eu",
    ]);
    expect(document.components.schemas.TrackingDomain?.properties).toHaveProperty(
      "tls_certificate",
    );
  });

  it("does not serve the API on a tracking host", async () => {
    const account = await newAccount();
    const response = await SELF.fetch("http://track.shop.test/api/v1/tracking-domains", {
      headers: { authorization: account.key },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).not.toContain("json");
  });
});
