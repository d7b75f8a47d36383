// CAA (RFC 8659, RFC 8657): which record set is relevant, and whether it lets our CA issue.
import { describe, expect, it } from "vitest";
import { type CaaRecord, evaluateCaa, findRelevantCaa, parseIssueValue } from "../../src/dns/caa";
import { DnsQueryError, type DnsResolver } from "../../src/dns/doh";

const policy = { identities: ["letsencrypt.org"], accountUri: "https://acme.example/acct/1" };
const set = (...records: [number, string, string][]) => ({
  owner: "example.com",
  records: records.map(([flags, tag, value]): CaaRecord => ({ flags, tag, value })),
});

describe("evaluateCaa", () => {
  it.each([
    ["no records at all", null, true, null],
    ["issue naming our CA", set([0, "issue", "letsencrypt.org"]), true, null],
    [
      "issue naming our CA in capitals, among others",
      set([0, "issue", "other-ca.example"], [0, "ISSUE", "LetsEncrypt.org"]),
      true,
      null,
    ],
    ["only iodef", set([0, "iodef", "mailto:sec@example.com"]), true, null],
    ["only issuewild for another CA", set([0, "issuewild", "other-ca.example"]), true, null],
    [
      'issue ";" (nobody may issue)',
      set([0, "issue", ";"]),
      false,
      'example.com. CAA 0 issue "letsencrypt.org"',
    ],
    [
      "issue naming another CA",
      set([0, "issue", "other-ca.example"]),
      false,
      'example.com. CAA 0 issue "letsencrypt.org"',
    ],
    [
      "our CA with our account",
      set([0, "issue", "letsencrypt.org; accounturi=https://acme.example/acct/1"]),
      true,
      null,
    ],
    [
      "our CA with another account",
      set([0, "issue", "letsencrypt.org; accounturi=https://acme.example/acct/2"]),
      false,
      "accounturi=https://acme.example/acct/1",
    ],
    [
      "our CA with http-01 allowed",
      set([0, "issue", "letsencrypt.org; validationmethods=dns-01,http-01"]),
      true,
      null,
    ],
    [
      "our CA with dns-01 only",
      set([0, "issue", "letsencrypt.org; validationmethods=dns-01"]),
      false,
      "validationmethods=http-01",
    ],
    [
      "an unknown critical property",
      set([0, "issue", "letsencrypt.org"], [128, "tbs", "x"]),
      false,
      "Remove the critical flag",
    ],
    [
      "an unknown property that is not critical",
      set([0, "issue", "letsencrypt.org"], [0, "tbs", "x"]),
      true,
      null,
    ],
    [
      "a malformed issue value",
      set([0, "issue", "letsencrypt.org; !!"]),
      false,
      'CAA 0 issue "letsencrypt.org"',
    ],
  ])("with %s: allowed=%s", (_, records, allowed, fix) => {
    const verdict = evaluateCaa(records, policy);
    expect(verdict.allowed).toBe(allowed);
    if (fix) expect(verdict.fix).toContain(fix);
    else expect(verdict.fix).toBeNull();
    expect(verdict.detail.length).toBeGreaterThan(10);
  });

  it("reports what it found in zone-file form", () => {
    expect(evaluateCaa(set([0, "issue", ";"]), policy).found).toEqual([
      'example.com. CAA 0 issue ";"',
    ]);
  });

  it("does not match accounturi when our account is not known yet", () => {
    expect(
      evaluateCaa(set([0, "issue", "letsencrypt.org; accounturi=https://acme.example/acct/1"]), {
        identities: ["letsencrypt.org"],
      }).allowed,
    ).toBe(false);
  });
});

describe("parseIssueValue", () => {
  it.each([
    ["letsencrypt.org", { issuer: "letsencrypt.org", parameters: {} }],
    [
      "  LetsEncrypt.org ; accounturi=https://a/b ;validationmethods=http-01 ",
      {
        issuer: "letsencrypt.org",
        parameters: { accounturi: "https://a/b", validationmethods: "http-01" },
      },
    ],
    [";", { issuer: "", parameters: {} }],
    ["", { issuer: "", parameters: {} }],
    ["bad domain!", undefined],
    ["letsencrypt.org; novalue", undefined],
  ])("reads %j", (value, expected) => {
    const parsed = parseIssueValue(value);
    if (expected === undefined) expect(parsed).toBeUndefined();
    else
      expect(
        parsed && { issuer: parsed.issuer, parameters: Object.fromEntries(parsed.parameters) },
      ).toEqual(expected);
  });
});

/** CAA records by the name whose query returns them; names in `failing` answer SERVFAIL. */
function resolverWith(
  records: Record<string, [number, string, string][]>,
  failing: string[] = [],
): DnsResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async query(name, type) {
      asked.push(name);
      if (failing.includes(name)) throw new DnsQueryError("servfail", { name, type }, "SERVFAIL");
      const found = records[name] ?? [];
      return {
        rcode: "NOERROR",
        answers: found.map(([flags, tag, value]) => ({
          name,
          type: "CAA",
          ttl: 0,
          data: { flags, tag, value },
        })),
      };
    },
  };
}

describe("findRelevantCaa", () => {
  it("climbs from the name to the first set, and no further", async () => {
    const resolver = resolverWith({
      "example.com": [[0, "issue", ";"]],
      com: [[0, "issue", "x.example"]],
    });
    const found = await findRelevantCaa(resolver, "track.mail.example.com");
    expect(found).toEqual({
      owner: "example.com",
      records: [{ flags: 0, tag: "issue", value: ";" }],
    });
    expect(resolver.asked).toEqual(["track.mail.example.com", "mail.example.com", "example.com"]);
  });

  it("finds nothing when no level has records, up to the top-level domain", async () => {
    const resolver = resolverWith({});
    expect(await findRelevantCaa(resolver, "track.example.com")).toBeNull();
    expect(resolver.asked).toEqual(["track.example.com", "example.com", "com"]);
  });

  it("lets a DNS failure through instead of treating it as no records", async () => {
    await expect(
      findRelevantCaa(resolverWith({}, ["example.com"]), "track.example.com"),
    ).rejects.toThrow(DnsQueryError);
  });
});
