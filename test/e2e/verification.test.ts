// DNS verification end to end: the worker under wrangler dev asks dnss (DoH), which asks
// dnsmasq, which answers the .test zone and forwards dyn.test to challtestsrv.
import { describe, expect, inject, it } from "vitest";
import { endpoints, exampleRecords } from "../../scripts/lib/stack-config";
import { api, dns, dynamicName } from "./helpers";

interface Verification {
  verified: boolean;
  cname_status: string;
  compliance_status: string;
  dns: {
    expected: string;
    found: string[];
    endpoint: string | null;
    error_code: string | null;
    detail: string;
    fix: string | null;
    action_by: string | null;
  };
}

const key = () => inject("apiKeys").alpha;

async function createAndVerify(domain: string, region?: "us" | "eu"): Promise<Verification> {
  const created = await api(key(), "POST", "/tracking-domains", {
    domain,
    ...(region ? { region } : {}),
  });
  expect(created.status).toBe(200);
  const verified = await api(key(), "POST", `/tracking-domains/${domain}/verify`);
  expect(verified.status).toBe(200);
  return (await verified.json<{ results: Verification }>()).results;
}

async function stored(domain: string) {
  const response = await api(key(), "GET", `/tracking-domains/${domain}`);
  return (
    await response.json<{
      results: { status: Record<string, unknown>; dns_check: Record<string, unknown> | null };
    }>()
  ).results;
}

describe("verifying a tracking domain's CNAME", () => {
  it("verifies a domain CNAMEd to the V2 endpoint", async () => {
    const domain = dynamicName();
    await dns.setCname(domain, endpoints.v2Us);
    const result = await createAndVerify(domain);
    expect(result).toEqual({
      verified: true,
      cname_status: "valid",
      compliance_status: "valid",
      dns: {
        expected: endpoints.v2Us,
        found: [domain, endpoints.v2Us],
        endpoint: "v2",
        error_code: null,
        detail: expect.stringContaining("reaches the V2 endpoint"),
        fix: null,
        action_by: null,
      },
      // Only self-managed domains are probed over HTTPS.
      https: null,
      // Nobody held the name before: the CNAME is enough.
      ownership: {
        name: `_tracking-edge.${domain}`,
        value: expect.stringMatching(/^tracking-edge-account=[0-9a-f]{32}$/),
        status: "not_required",
        found: [],
        detail: expect.stringContaining("No ownership record is needed"),
        fix: null,
        action_by: null,
      },
    });
    expect(await stored(domain)).toMatchObject({
      status: { verified: true, cname_status: "valid" },
      dns_check: { found: [domain, endpoints.v2Us], error_code: null },
    });
  });

  it("verifies a domain on the standard endpoint, flagged as not ready for managed HTTPS", async () => {
    const domain = dynamicName();
    await dns.setCname(domain, endpoints.standardUs);
    const result = await createAndVerify(domain);
    expect(result).toMatchObject({
      verified: true,
      cname_status: "valid",
      dns: {
        endpoint: "standard",
        error_code: "dns:standard_endpoint",
        action_by: "customer",
        found: [domain, endpoints.standardUs],
      },
    });
    expect(result.dns.detail).toContain("HTTP only");
    expect(result.dns.fix).toBe(`Change the CNAME of ${domain} to ${endpoints.v2Us}`);
  });

  it("does not verify a domain without a CNAME, and says what it has instead", async () => {
    const domain = dynamicName();
    await dns.addA(domain, ["198.51.100.4"]);
    const result = await createAndVerify(domain);
    expect(result).toMatchObject({
      verified: false,
      cname_status: "invalid",
      compliance_status: "pending",
      dns: {
        found: [domain],
        endpoint: null,
        error_code: "dns:cname_missing",
        action_by: "customer",
      },
    });
    expect(result.dns.detail).toContain("no CNAME record; it has A record(s) 198.51.100.4");
    expect(result.dns.fix).toBe(`Add a CNAME record: ${domain} CNAME ${endpoints.v2Us}`);
  });

  it("does not verify a name that does not exist in DNS", async () => {
    const domain = `nowhere${Date.now()}.shop.test`;
    const result = await createAndVerify(domain);
    expect(result).toMatchObject({
      verified: false,
      cname_status: "invalid",
      dns: { error_code: "dns:cname_missing" },
    });
    expect(result.dns.detail).toContain("does not exist in DNS (NXDOMAIN)");
  });

  it("does not verify a CNAME to somewhere else, and shows the chain it found", async () => {
    const domain = dynamicName();
    const elsewhere = dynamicName("cdn");
    await dns.setCname(domain, elsewhere);
    const result = await createAndVerify(domain);
    expect(result).toMatchObject({
      verified: false,
      cname_status: "invalid",
      dns: { found: [domain, elsewhere], error_code: "dns:cname_mismatch", action_by: "customer" },
    });
    expect(result.dns.detail).toContain(`the chain ends at ${elsewhere}, not at ${endpoints.v2Us}`);
  });

  it("follows a chain of CNAMEs to the endpoint", async () => {
    const domain = dynamicName();
    const hop = dynamicName("hop");
    await dns.setCname(domain, hop);
    await dns.setCname(hop, endpoints.v2Us);
    const result = await createAndVerify(domain);
    expect(result).toMatchObject({
      verified: true,
      dns: { found: [domain, hop, endpoints.v2Us], endpoint: "v2" },
    });
  });

  it("checks a domain against its own region's endpoint", async () => {
    const domain = dynamicName();
    await dns.setCname(domain, endpoints.v2Us);
    const result = await createAndVerify(domain, "eu");
    expect(result).toMatchObject({
      verified: false,
      dns: { expected: endpoints.v2Eu, error_code: "dns:cname_mismatch" },
    });
    expect(result.dns.detail).toContain("endpoint of another region");
  });

  it("verifies the static example of the local zone", async () => {
    const result = await createAndVerify(exampleRecords.v2.name);
    expect(result).toMatchObject({ verified: true, dns: { endpoint: "v2" } });
  });

  it("reports a DNS failure as a resolution failure, not a wrong CNAME, and changes no status", async () => {
    const domain = dynamicName();
    await dns.setCname(domain, endpoints.v2Us);
    expect((await createAndVerify(domain)).verified).toBe(true);

    await dns.setServfail(domain);
    const response = await api(key(), "POST", `/tracking-domains/${domain}/verify`);
    expect(response.status).toBe(200);
    const failed = (await response.json<{ results: Verification }>()).results;
    expect(failed).toMatchObject({
      verified: true,
      cname_status: "valid",
      dns: { error_code: "dns:resolution_failed", endpoint: null, action_by: "customer" },
    });
    expect(failed.dns.detail).toContain("SERVFAIL");
    expect(await stored(domain)).toMatchObject({
      status: { verified: true, cname_status: "valid" },
      dns_check: { error_code: "dns:resolution_failed" },
    });

    await dns.clearServfail(domain);
    const again = await api(key(), "POST", `/tracking-domains/${domain}/verify`);
    expect((await again.json<{ results: Verification }>()).results.dns.error_code).toBeNull();
  });

  it("reports SERVFAIL on a new domain without marking it verified or invalid", async () => {
    const domain = dynamicName();
    await dns.setServfail(domain);
    const result = await createAndVerify(domain);
    expect(result).toMatchObject({
      verified: false,
      cname_status: "unverified",
      dns: { error_code: "dns:resolution_failed" },
    });
  });

  it("unverifies a domain whose CNAME was removed", async () => {
    const domain = dynamicName();
    await dns.setCname(domain, endpoints.v2Us);
    expect((await createAndVerify(domain)).verified).toBe(true);
    await dns.clearCname(domain);
    const response = await api(key(), "POST", `/tracking-domains/${domain}/verify`);
    const result = (await response.json<{ results: Verification }>()).results;
    expect(result).toMatchObject({
      verified: false,
      cname_status: "invalid",
      dns: { error_code: "dns:cname_missing" },
    });
  });
});

describe("accounts end to end", () => {
  it("keeps accounts apart and lets a subaccount key see only its own domains", async () => {
    const { alpha, beta, alphaSubaccount1 } = inject("apiKeys");
    const primary = dynamicName("primary");
    const sub = dynamicName("sub");
    expect((await api(alpha, "POST", "/tracking-domains", { domain: primary })).status).toBe(200);
    const subCreated = await api(alphaSubaccount1, "POST", "/tracking-domains", { domain: sub });
    expect(
      (await subCreated.json<{ results: { subaccount_id: number } }>()).results.subaccount_id,
    ).toBe(1);

    expect((await api(beta, "GET", `/tracking-domains/${primary}`)).status).toBe(404);
    expect((await api(beta, "POST", `/tracking-domains/${primary}/verify`)).status).toBe(404);
    expect((await api(beta, "POST", "/tracking-domains", { domain: primary })).status).toBe(409);
    expect((await api(alphaSubaccount1, "GET", `/tracking-domains/${primary}`)).status).toBe(404);
    expect((await api(alpha, "GET", `/tracking-domains/${sub}`)).status).toBe(200);
    expect((await api(undefined, "GET", "/tracking-domains")).status).toBe(401);
  });
});
