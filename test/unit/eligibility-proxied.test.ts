// Migration from self-managed HTTPS: a passing HTTPS probe through the customer's proxy lets the
// CNAME check pass (the CA validates through the proxy) for a day, and only then.
import { describe, expect, it } from "vitest";
import type { Config } from "../../src/config";
import type { DnsResolver } from "../../src/dns/doh";
import {
  checkEligibility,
  eligibilityContextFor,
  type ProxyProbe,
} from "../../src/issuance/eligibility";

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

/** DNS where the name is a CNAME to our V2 endpoint. */
const ours: DnsResolver = {
  query: async (name, type) => ({
    rcode: "NOERROR",
    answers:
      type === "CNAME" && name === "track.shop.test"
        ? [{ name, type: "CNAME", ttl: 60, data: "v2.track-endpoint.test" }]
        : [],
  }),
};

const now = new Date("2026-11-26T12:00:00Z");
const stale = "2026-11-25T11:59:00Z";
const cnameCheck = async (
  httpsProbePassedAt: string | null,
  probeProxy?: () => Promise<ProxyProbe>,
  dns: DnsResolver = resolver,
) => {
  const report = await checkEligibility(
    "track.shop.test",
    eligibilityContextFor(
      config,
      dns,
      { region: "us", httpsProbePassedAt },
      { now, ...(probeProxy ? { probeProxy } : {}) },
    ),
  );
  return report.checks.find((c) => c.name === "cname");
};

/** A probe through the proxy that answers `result`, counting its calls. */
function prober(result: ProxyProbe) {
  const probe = Object.assign(
    async () => {
      probe.calls++;
      return result;
    },
    { calls: 0 },
  );
  return probe;
}

describe("eligibility through a customer's proxy", () => {
  it("passes the CNAME check for a day after a passing probe, saying what to change after", async () => {
    const check = await cnameCheck("2026-11-26T11:00:00Z");
    expect(check?.status).toBe("pass");
    expect(check?.fix).toContain("point track.shop.test at v2.track-endpoint.test");
  });

  it.each([
    ["no probe", null],
    ["a probe more than a day old", stale],
  ])("fails the CNAME check with %s", async (_, passedAt) => {
    const check = await cnameCheck(passedAt);
    expect(check?.status).toBe("fail");
    expect(check?.errorCode).toBe("dns:cname_missing");
  });

  it("probes through the proxy again when the last passing probe is more than a day old", async () => {
    const probe = prober({ passedAt: "2026-11-26T11:59:30Z" });
    const check = await cnameCheck(stale, probe);
    expect(probe.calls).toBe(1);
    expect(check?.status).toBe("pass");
    expect(check?.detail).toContain("reached us at 2026-11-26T11:59:30Z");
  });

  it("says the proxy no longer reaches us when probing again fails, and how to fix it", async () => {
    const probe = prober({ failed: "the proxy answered 502 for the verification path" });
    const check = await cnameCheck(stale, probe);
    expect(check?.status).toBe("fail");
    expect(check?.errorCode).toBe("dns:cname_missing");
    expect(check?.detail).toContain(
      "failed just now: the proxy answered 502 for the verification path",
    );
    expect(check?.fix).toContain("v2.track-endpoint.test");
    expect(check?.fix).toContain("make the proxy forward to us again");
  });

  it.each([
    ["the last probe is less than a day old", "2026-11-26T11:00:00Z", resolver],
    ["no probe has ever passed", null, resolver],
    ["the CNAME points at us", stale, ours],
  ])("does not probe when %s", async (_, passedAt, dns) => {
    const probe = prober({ failed: "should not be asked" });
    const check = await cnameCheck(passedAt, probe, dns);
    expect(probe.calls).toBe(0);
    expect(check?.status).toBe(passedAt === null ? "fail" : "pass");
  });
});
