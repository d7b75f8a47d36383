// Migration from self-managed HTTPS: a passing HTTPS probe through the customer's proxy lets the
// CNAME check pass (the CA validates through the proxy) for a day, and only then.
import { describe, expect, it } from "vitest";
import type { Config } from "../../src/config";
import type { DnsResolver } from "../../src/dns/doh";
import { checkEligibility, eligibilityContextFor } from "../../src/issuance/eligibility";

const config = {
  endpoints: {
    us: { v2: "v2.track-endpoint.test", standard: "track-endpoint.test" },
    eu: { v2: "eu.v2.track-endpoint.test", standard: "eu.track-endpoint.test" },
  },
  caaIdentities: ["letsencrypt.org"],
  extraPublicSuffixes: ["test"],
  policyBlocklist: [],
} as unknown as Config;

/** DNS where the name has an address (the proxy's) and nothing else: no CNAME, no CAA. */
const resolver: DnsResolver = {
  query: async () => ({ rcode: "NOERROR", answers: [] }),
};

const now = new Date("2026-11-26T12:00:00Z");
const cnameCheck = async (httpsProbePassedAt: string | null) => {
  const report = await checkEligibility(
    "track.shop.test",
    eligibilityContextFor(config, resolver, { region: "us", httpsProbePassedAt }, now),
  );
  return report.checks.find((c) => c.name === "cname");
};

describe("eligibility through a customer's proxy", () => {
  it("passes the CNAME check for a day after a passing probe, saying what to change after", async () => {
    const check = await cnameCheck("2026-11-26T11:00:00Z");
    expect(check?.status).toBe("pass");
    expect(check?.fix).toContain("point track.shop.test at v2.track-endpoint.test");
  });

  it.each([
    ["no probe", null],
    ["a probe more than a day old", "2026-11-25T11:59:00Z"],
  ])("fails the CNAME check with %s", async (_, passedAt) => {
    const check = await cnameCheck(passedAt);
    expect(check?.status).toBe("fail");
    expect(check?.errorCode).toBe("dns:cname_missing");
  });
});
