// An EU domain with the EU jurisdiction configured, as in production (EU_JURISDICTION=eu), from
// creation to a valid certificate, through the worker. Local workerd has no jurisdictions, so the
// certificate objects' namespace is wrapped: `jurisdiction("eu")` is recorded and answered with
// the real namespace, and every object the worker asks for is noted with the jurisdiction it was
// asked in. The lifecycle Pebble issues (it finds every challenge valid).
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { endpoints } from "../../scripts/lib/stack-config";
import worker from "../../workers/edge";
import { newAccount } from "./helpers";
import { until } from "./lifecycle-harness";

/** The namespace as production has it: objects asked for by name, in a jurisdiction or not. */
function recordingNamespace(asked: { name: string; jurisdiction: string }[]) {
  const real = env.DOMAIN_CERTIFICATE;
  const within = (jurisdiction: string) =>
    new Proxy(real, {
      get(target, property) {
        if (property === "getByName")
          return (name: string) => {
            asked.push({ name, jurisdiction });
            return target.getByName(name);
          };
        if (property === "jurisdiction") return (j: string) => within(j);
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  return within("default");
}

describe("an EU domain with the EU jurisdiction configured", () => {
  it("is created, verified and issued with its object in the jurisdiction and EU names throughout", {
    timeout: 60_000,
  }, async () => {
    const asked: { name: string; jurisdiction: string }[] = [];
    const production = {
      ...env,
      EU_JURISDICTION: "eu",
      DOMAIN_CERTIFICATE: recordingNamespace(asked),
    } as Env;
    const account = await newAccount();
    const call = async (method: string, path: string, body?: unknown) => {
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
      return { status: response.status, body: (await response.json()) as { results: never } };
    };

    const domain = `eu-${crypto.randomUUID().slice(0, 8)}.lifecycle.${env.TEST_DYNAMIC_ZONE}`;
    const created = await call("POST", "/tracking-domains", { domain, region: "eu" });
    expect(created.status).toBe(200);
    // The DNS record to add names the EU endpoint.
    expect(created.body.results).toMatchObject({
      region: "eu",
      endpoint: endpoints.v2Eu,
      dns_record: { type: "CNAME", name: domain, value: endpoints.v2Eu },
    });

    // Pointed at the US endpoint it does not verify; at the EU one it does.
    const setCname = (target: string) =>
      fetch(`${env.TEST_CHALLTESTSRV}/set-cname`, {
        method: "POST",
        body: JSON.stringify({ host: `${domain}.`, target: `${target}.` }),
      });
    await setCname(endpoints.v2Us);
    const wrong = await call("POST", `/tracking-domains/${domain}/verify`);
    expect(wrong.body.results).toMatchObject({ cname_status: "invalid" });
    await setCname(endpoints.v2Eu);
    // An account's DNS checks are limited per minute; two are well within it.
    const verified = await call("POST", `/tracking-domains/${domain}/verify`);
    expect(verified.status).toBe(200);
    expect(verified.body.results).toMatchObject({ cname_status: "valid" });

    await until(
      "a valid certificate",
      async () => {
        const { body } = await call("GET", `/tracking-domains/${domain}`);
        return (body.results as { status: { tls_status: string } }).status.tls_status === "valid";
      },
      45_000,
    );
    const state = await call("GET", `/tracking-domains/${domain}/certificate`);
    expect(state.status).toBe(200);

    // Every time the worker reached the domain's object, it asked in the EU jurisdiction.
    const forDomain = asked.filter((a) => a.name === domain);
    expect(forDomain.length).toBeGreaterThan(0);
    expect(forDomain.every((a) => a.jurisdiction === "eu")).toBe(true);
  });
});
