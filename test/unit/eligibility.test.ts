// The eligibility report from DNS answers in tables: each check's verdict, the first that does not
// pass blocks, who must act, and when issuance is not available at all (name or policy).
import { describe, expect, it } from "vitest";
import type { Config } from "../../src/config";
import { type DnsAnswer, DnsQueryError, type DnsResolver } from "../../src/dns/doh";
import { checkEligibility, eligibilityContextFor, isBlocked } from "../../src/issuance/eligibility";

const config = {
  endpoints: {
    us: { v2: "v2.track-endpoint.test", standard: "track-endpoint.test" },
    eu: { v2: "eu.v2.track-endpoint.test", standard: "eu.track-endpoint.test" },
  },
  caaIdentities: ["letsencrypt.org"],
  extraPublicSuffixes: ["test"],
  policyBlocklist: ["blocked.shop.test", ".banned.shop.test"],
} as unknown as Config;

type Records = Record<string, Partial<Record<"CNAME" | "CAA", DnsAnswer["answers"]>>>;

/** DNS from a table: name → type → answers; a name mapped to an error throws it. */
function dns(records: Records, failing: Record<string, DnsQueryError> = {}): DnsResolver {
  return {
    query: async (name, type) => {
      const error = failing[`${type} ${name}`];
      if (error) throw error;
      return { rcode: "NOERROR", answers: records[name]?.[type as "CNAME" | "CAA"] ?? [] };
    },
  };
}
const cname = (name: string, target: string) => ({
  [name]: { CNAME: [{ name, type: "CNAME", ttl: 60, data: target }] },
});
const caa = (name: string, tag: string, value: string) => ({
  [name]: { CAA: [{ name, type: "CAA", ttl: 60, data: { flags: 0, tag, value } }] },
});

const report = (domain: string, resolver: DnsResolver, facts: { accountUri?: string } = {}) =>
  checkEligibility(domain, eligibilityContextFor(config, resolver, { region: "us", ...facts }));

describe("eligibility", () => {
  it("passes every check for a subdomain pointed at our V2 endpoint, with no CAA", async () => {
    const result = await report(
      "track.shop.test",
      dns(cname("track.shop.test", "v2.track-endpoint.test")),
    );
    expect(result).toMatchObject({ eligible: true, blocking: null, unavailable: false });
    expect(result.checks.map((c) => [c.name, c.status])).toEqual([
      ["name", "pass"],
      ["policy", "pass"],
      ["cname", "pass"],
      ["caa", "pass"],
    ]);
    expect(result.checks.find((c) => c.name === "cname")?.expected).toBe("v2.track-endpoint.test");
    expect(result.checks.find((c) => c.name === "caa")?.found).toBe("no CAA records");
  });

  it("is not available for a public suffix, and says the customer acts", async () => {
    const result = await report("test", dns({}));
    expect(result).toMatchObject({ eligible: false, unavailable: true });
    expect(result.blocking).toMatchObject({
      name: "name",
      status: "fail",
      errorCode: "policy:public_suffix",
      actionBy: "customer",
      expected: "a subdomain of a registrable domain",
    });
  });

  it.each([
    ["an exact entry", "blocked.shop.test", "blocked.shop.test"],
    ["a name under a .suffix entry", "x.y.banned.shop.test", ".banned.shop.test"],
    ["the .suffix entry's own name", "banned.shop.test", ".banned.shop.test"],
  ])("is not available for %s on the policy blocklist", async (_, domain, entry) => {
    expect(isBlocked(domain, config.policyBlocklist)).toBe(entry);
    const result = await report(domain, dns(cname(domain, "v2.track-endpoint.test")));
    expect(result.blocking).toMatchObject({
      name: "policy",
      found: `blocklist entry ${entry}`,
      errorCode: "policy:blocked",
    });
    expect(result.unavailable).toBe(true);
  });

  it("does not block a name that merely ends like an entry", () => {
    expect(isBlocked("notblocked.shop.test", config.policyBlocklist)).toBeUndefined();
    expect(isBlocked("unbanned.shop.test", config.policyBlocklist)).toBeUndefined();
  });

  it("blocks on a CNAME to the standard endpoint, saying managed HTTPS needs V2", async () => {
    const result = await report(
      "track.shop.test",
      dns(cname("track.shop.test", "track-endpoint.test")),
    );
    expect(result).toMatchObject({ eligible: false, unavailable: false });
    expect(result.blocking?.name).toBe("cname");
    expect(result.blocking?.status).toBe("fail");
    expect(result.blocking?.detail).toMatch(
      /Managed HTTPS is not supported on the standard endpoint\.$/,
    );
    expect(result.blocking?.expected).toBe("v2.track-endpoint.test");
  });

  it("blocks on a CAA record naming another CA, and passes one naming ours", async () => {
    const other = await report(
      "track.shop.test",
      dns({
        ...cname("track.shop.test", "v2.track-endpoint.test"),
        ...caa("shop.test", "issue", "digicert.com"),
      }),
    );
    expect(other.blocking).toMatchObject({
      name: "caa",
      status: "fail",
      errorCode: "caa:forbidden",
      actionBy: "customer",
      expected: 'issue "letsencrypt.org"',
    });
    expect(other.blocking?.found).toContain("digicert.com");
    const ours = await report(
      "track.shop.test",
      dns({
        ...cname("track.shop.test", "v2.track-endpoint.test"),
        ...caa("shop.test", "issue", "letsencrypt.org"),
      }),
    );
    expect(ours.eligible).toBe(true);
  });

  it("checks CAA accounturi against our account when it is known", async () => {
    const records = {
      ...cname("track.shop.test", "v2.track-endpoint.test"),
      ...caa("shop.test", "issue", "letsencrypt.org; accounturi=https://ca.example/acct/1"),
    };
    expect(
      (await report("track.shop.test", dns(records), { accountUri: "https://ca.example/acct/1" }))
        .eligible,
    ).toBe(true);
    expect(
      (await report("track.shop.test", dns(records), { accountUri: "https://ca.example/acct/2" }))
        .blocking?.name,
    ).toBe("caa");
  });

  it.each([
    ["servfail", "customer", /answer CAA queries/],
    ["timeout", "provider", null],
  ] as const)(
    "reports a CAA lookup that fails (%s) as an error, with who acts",
    async (kind, actionBy, fix) => {
      const failing = {
        "CAA track.shop.test": new DnsQueryError(
          kind,
          { name: "track.shop.test", type: "CAA" },
          kind,
        ),
      };
      const result = await report(
        "track.shop.test",
        dns(cname("track.shop.test", "v2.track-endpoint.test"), failing),
      );
      expect(result.blocking).toMatchObject({
        name: "caa",
        status: "error",
        errorCode: "dns:resolution_failed",
        actionBy,
      });
      expect(result.blocking?.detail).toMatch(
        /^Could not look up the CAA records of track\.shop\.test/,
      );
      if (fix) expect(result.blocking?.fix).toMatch(fix);
      else expect(result.blocking?.fix).toBeNull();
    },
  );

  it("uses the EU endpoints for an EU domain, and the account's own endpoint when it has one", async () => {
    const eu = await checkEligibility(
      "track.shop.test",
      eligibilityContextFor(config, dns(cname("track.shop.test", "eu.v2.track-endpoint.test")), {
        region: "eu",
      }),
    );
    expect(eu.eligible).toBe(true);
    const usTarget = await checkEligibility(
      "track.shop.test",
      eligibilityContextFor(config, dns(cname("track.shop.test", "v2.track-endpoint.test")), {
        region: "eu",
      }),
    );
    expect(usTarget.blocking?.name).toBe("cname");
    const own = eligibilityContextFor(config, dns({}), {
      region: "us",
      accountEndpoint: "edge.sender.test",
    });
    expect(own.endpoints.v2).toBe("edge.sender.test");
    expect(own.otherEndpoints).toEqual(["eu.v2.track-endpoint.test", "eu.track-endpoint.test"]);
  });
});
