// HTTPS modes through the API (managed, self_managed, none; secure in SparkPost's terms), the
// record each switch leaves in the domain's events, and account endpoints: shown to the account,
// used as the domain's CNAME target, and never changeable with the account's own key.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type ErrorBody, newAccount, uniqueDomain } from "./helpers";

interface Domain {
  https_mode: string;
  secure: boolean;
  uses_managed_certificate: boolean;
  endpoint: string;
  dns_record: { value: string };
  status: { tls_status: string };
  https_check: unknown;
}

describe("HTTPS modes", () => {
  it("creates a self-managed domain: no certificate of ours, links http until a probe passes", async () => {
    const account = await newAccount();
    const domain = uniqueDomain();
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain, https_mode: "self_managed" },
    });
    expect(response.status).toBe(200);
    expect((await response.json<{ results: Domain }>()).results).toMatchObject({
      https_mode: "self_managed",
      uses_managed_certificate: false,
      secure: false,
      status: { tls_status: "unknown" },
      https_check: null,
    });
  });

  it("refuses secure and https_mode that contradict each other, naming the field", async () => {
    const account = await newAccount();
    const response = await account.call("POST", "/tracking-domains", {
      body: { domain: uniqueDomain(), secure: false, https_mode: "managed" },
    });
    expect(response.status).toBe(422);
    const error = (await response.json<ErrorBody>()).errors[0];
    expect(error).toMatchObject({ param: "https_mode" });
    expect(error?.description).toContain("contradicts secure:false");
  });

  it("switches modes both ways and records each switch in the domain's events", async () => {
    const account = await newAccount();
    const domain = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain } });
    for (const mode of ["self_managed", "none", "self_managed"]) {
      const response = await account.call("PUT", `/tracking-domains/${domain}`, {
        body: { https_mode: mode },
      });
      expect(response.status).toBe(200);
      expect((await response.json<{ results: Domain }>()).results.https_mode).toBe(mode);
    }
    // SparkPost's secure:true still means managed.
    const managed = await account.call("PUT", `/tracking-domains/${domain}`, {
      body: { secure: true },
    });
    expect((await managed.json<{ results: Domain }>()).results).toMatchObject({
      https_mode: "managed",
      uses_managed_certificate: true,
    });
    const events = await account.call("GET", `/tracking-domains/${domain}/certificate/events`);
    const reasons = (await events.json<{ results: { reason: string }[] }>()).results.map(
      (e) => e.reason,
    );
    for (const change of [
      "from managed to self_managed",
      "from self_managed to none",
      "from none to self_managed",
      "from self_managed to managed",
    ])
      expect(reasons.some((r) => r.includes(change))).toBe(true);
  });
});

describe("account endpoints", () => {
  it("shows the deployment's endpoints, then the account's own once an operator sets it", async () => {
    const account = await newAccount();
    const domain = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain } });
    const before = await (await account.call("GET", "/account")).json<{
      results: { own_v2_endpoint: string | null; endpoints: { us: { v2: string } } };
    }>();
    expect(before.results.own_v2_endpoint).toBeNull();
    expect(before.results.endpoints.us.v2).toBe(env.V2_ENDPOINT_US);

    // What `npm run account:endpoint` does.
    await env.DB.prepare("UPDATE accounts SET v2_endpoint = ? WHERE id = ?")
      .bind("acme.v2.track-endpoint.test", account.accountId)
      .run();
    const after = await (await account.call("GET", "/account")).json<{
      results: { own_v2_endpoint: string; endpoints: { us: { v2: string }; eu: { v2: string } } };
    }>();
    expect(after.results.own_v2_endpoint).toBe("acme.v2.track-endpoint.test");
    expect(after.results.endpoints.eu.v2).toBe("acme.v2.track-endpoint.test");
    const shown = await (await account.call("GET", `/tracking-domains/${domain}`)).json<{
      results: Domain;
    }>();
    expect(shown.results.endpoint).toBe("acme.v2.track-endpoint.test");
    expect(shown.results.dns_record.value).toBe("acme.v2.track-endpoint.test");
  });

  it.each(["PUT", "PATCH"])(
    "refuses %s /account: the endpoint is the operator's to set",
    async (method) => {
      const account = await newAccount();
      const response = await account.call(method, "/account", {
        body: { v2_endpoint: "mine.example.com" },
      });
      expect(response.status).toBe(403);
      const error = (await response.json<ErrorBody>()).errors[0];
      expect(error).toMatchObject({ param: "v2_endpoint" });
      expect(error?.description).toContain("set by the operator");
      const row = await env.DB.prepare("SELECT v2_endpoint FROM accounts WHERE id = ?")
        .bind(account.accountId)
        .first<{ v2_endpoint: string | null }>();
      expect(row?.v2_endpoint).toBeNull();
    },
  );
});
