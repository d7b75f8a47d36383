// API keys and subaccounts: who may call, and on whose behalf (X-MSYS-SUBACCOUNT).
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { callApi, type ErrorBody, newAccount, newKey, uniqueDomain } from "./helpers";

const list = (authorization: string, headers: Record<string, string> = {}) =>
  callApi("GET", "/tracking-domains", { headers: { authorization, ...headers } });

describe("API keys", () => {
  it("refuses a request without a key, saying what to send", async () => {
    const response = await callApi("GET", "/tracking-domains");
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain("Bearer");
    const error = (await response.json<ErrorBody>()).errors[0];
    expect(error).toMatchObject({ message: "unauthorized", code: "1100" });
    expect(error?.description).toContain("send your API key in the Authorization header");
  });

  it.each([
    ["an unknown key", `te_${"0".repeat(40)}`],
    ["a mistyped key", "te_not-a-key"],
    ["an empty bearer", "Bearer "],
  ])("refuses %s with a 401", async (_, authorization) => {
    const response = await list(authorization);
    expect(response.status).toBe(401);
    expect((await response.json<ErrorBody>()).errors[0]?.description).toMatch(
      /not valid|No API key/,
    );
  });

  it("refuses an Authorization scheme it does not know", async () => {
    const account = await newAccount();
    const response = await list(`Digest ${account.key}`);
    expect(response.status).toBe(401);
    expect((await response.json<ErrorBody>()).errors[0]?.description).toContain(
      "not in a form we accept",
    );
  });

  it("accepts the key bare, as a bearer token, or as HTTP Basic user name", async () => {
    const account = await newAccount();
    for (const authorization of [
      account.key,
      `Bearer ${account.key}`,
      `Basic ${btoa(`${account.key}:`)}`,
    ]) {
      expect((await list(authorization)).status).toBe(200);
    }
  });

  it("refuses a revoked key", async () => {
    const account = await newAccount();
    await env.DB.prepare("UPDATE api_keys SET revoked_at = 'now' WHERE account_id = ?")
      .bind(account.accountId)
      .run();
    expect((await list(account.key)).status).toBe(401);
  });

  it("stores no key in the clear, only its hash", async () => {
    const account = await newAccount();
    const { results } = await env.DB.prepare("SELECT * FROM api_keys WHERE account_id = ?")
      .bind(account.accountId)
      .all();
    expect(JSON.stringify(results)).not.toContain(account.key);
    expect(JSON.stringify(results)).toContain(account.key.slice(0, 11));
  });
});

describe("subaccounts", () => {
  it("lets a primary key act for a subaccount, and lists each scope's domains", async () => {
    const account = await newAccount({ subaccounts: [1] });
    const primary = uniqueDomain("primary");
    const sub = uniqueDomain("sub");
    await account.call("POST", "/tracking-domains", { body: { domain: primary } });
    const created = await account.call("POST", "/tracking-domains", {
      body: { domain: sub },
      headers: { "x-msys-subaccount": "1" },
    });
    expect(
      (await created.json<{ results: { subaccount_id: number } }>()).results.subaccount_id,
    ).toBe(1);

    const names = async (path: string, headers: Record<string, string> = {}) =>
      (
        await (
          await account.call("GET", path, { headers })
        ).json<{ results: { domain: string }[] }>()
      ).results.map((d) => d.domain);
    expect(await names("/tracking-domains")).toEqual([primary, sub]);
    expect(await names("/tracking-domains", { "x-msys-subaccount": "1" })).toEqual([sub]);
    expect(await names("/tracking-domains", { "x-msys-subaccount": "0" })).toEqual([primary]);
    expect(await names("/tracking-domains?subaccounts=0")).toEqual([primary]);
    expect(await names("/tracking-domains?subaccounts=1")).toEqual([sub]);
    expect(await names("/tracking-domains?subaccounts=0,1")).toEqual([primary, sub]);
    // Acting for the subaccount, the primary account's domain is not there.
    const hidden = await account.call("GET", `/tracking-domains/${primary}`, {
      headers: { "x-msys-subaccount": "1" },
    });
    expect(hidden.status).toBe(404);
  });

  it("keeps a default per subaccount, independent of the primary account's", async () => {
    const account = await newAccount({ subaccounts: [1] });
    const primary = uniqueDomain("primary");
    const sub = uniqueDomain("sub");
    await account.call("POST", "/tracking-domains", { body: { domain: primary } });
    await account.call("POST", "/tracking-domains", {
      body: { domain: sub },
      headers: { "x-msys-subaccount": "1" },
    });
    await env.DB.prepare("UPDATE tracking_domains SET verified = 1 WHERE domain IN (?, ?)")
      .bind(primary, sub)
      .run();
    await account.call("PUT", `/tracking-domains/${primary}`, { body: { default: true } });
    await account.call("PUT", `/tracking-domains/${sub}`, { body: { default: true } });
    const defaults = await (await account.call("GET", "/tracking-domains?default=true")).json<{
      results: { domain: string }[];
    }>();
    expect(defaults.results.map((d) => d.domain)).toEqual([primary, sub]);
  });

  it.each([
    ["a subaccount that does not exist", "9", 403, "does not exist"],
    ["a header that is not a number", "abc", 400, "must be a subaccount id"],
  ])("refuses X-MSYS-SUBACCOUNT naming %s", async (_, header, status, text) => {
    const account = await newAccount({ subaccounts: [1] });
    const response = await list(account.key, { "x-msys-subaccount": header });
    expect(response.status).toBe(status);
    const error = (await response.json<ErrorBody>()).errors[0];
    expect(error?.param).toBe("X-MSYS-SUBACCOUNT");
    expect(error?.description).toContain(text);
  });

  it("binds a subaccount key to its subaccount", async () => {
    const account = await newAccount({ subaccounts: [1, 2] });
    const subKey = await newKey(account.accountId, 1);
    const primaryDomain = uniqueDomain("primary");
    await account.call("POST", "/tracking-domains", { body: { domain: primaryDomain } });

    const created = await callApi("POST", "/tracking-domains", {
      body: { domain: uniqueDomain() },
      headers: { authorization: subKey },
    });
    expect(
      (await created.json<{ results: { subaccount_id: number } }>()).results.subaccount_id,
    ).toBe(1);
    expect(
      (
        await callApi("GET", `/tracking-domains/${primaryDomain}`, {
          headers: { authorization: subKey },
        })
      ).status,
    ).toBe(404);
    const other = await list(subKey, { "x-msys-subaccount": "2" });
    expect(other.status).toBe(403);
    expect((await other.json<ErrorBody>()).errors[0]?.description).toContain(
      "belongs to subaccount 1",
    );
  });

  it("creates a subaccount with its own key, shown once", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/subaccounts", {
      body: { name: "Shoes", setup_api_key: true, key_label: "shoes" },
    });
    expect(response.status).toBe(200);
    const { results } = await response.json<{
      results: { subaccount_id: number; key: string; label: string };
    }>();
    expect(results).toMatchObject({ subaccount_id: 1, label: "shoes" });
    const created = await callApi("POST", "/tracking-domains", {
      body: { domain: uniqueDomain() },
      headers: { authorization: results.key },
    });
    expect(
      (await created.json<{ results: { subaccount_id: number } }>()).results.subaccount_id,
    ).toBe(1);

    const second = await account.call("POST", "/subaccounts", { body: { name: "Hats" } });
    const secondBody = await second.json<{ results: Record<string, unknown> }>();
    expect(secondBody.results).toEqual({ subaccount_id: 2, name: "Hats" });
    const listed = await (await account.call("GET", "/subaccounts")).json<{
      results: { id: number; name: string }[];
    }>();
    expect(listed.results.map((s) => [s.id, s.name])).toEqual([
      [1, "Shoes"],
      [2, "Hats"],
    ]);
  });

  it("manages subaccounts with primary keys only", async () => {
    const account = await newAccount({ subaccounts: [1] });
    const subKey = await newKey(account.accountId, 1);
    const response = await callApi("POST", "/subaccounts", {
      body: { name: "Nested" },
      headers: { authorization: subKey },
    });
    expect(response.status).toBe(403);
    // A subaccount's key cannot even hold the grant.
    expect((await response.json<ErrorBody>()).errors[0]?.description).toContain(
      "subaccounts/manage",
    );
    const asSubaccount = await account.call("POST", "/subaccounts", {
      body: { name: "Nested" },
      headers: { "x-msys-subaccount": "1" },
    });
    expect(asSubaccount.status).toBe(403);
    expect((await asSubaccount.json<ErrorBody>()).errors[0]?.description).toContain(
      "primary-account key",
    );
    const invalid = await account.call("POST", "/subaccounts", { body: { name: "  " } });
    expect(invalid.status).toBe(422);
    expect((await invalid.json<ErrorBody>()).errors[0]?.param).toBe("name");
  });
});
