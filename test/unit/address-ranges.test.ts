// Where an API key may be used from: CIDR ranges read strictly, and checked against the caller.
import { describe, expect, it } from "vitest";
import {
  allowedFrom,
  canonicalRange,
  parseRanges,
  rangesWithin,
} from "../../src/accounts/address-ranges";

describe("address ranges", () => {
  it("stores a range as its network and prefix, and a bare address as one host", () => {
    expect(canonicalRange("203.0.113.7/24")).toBe("203.0.113.0/24");
    expect(canonicalRange(" 203.0.113.7 ")).toBe("203.0.113.7/32");
    expect(canonicalRange("2001:DB8::1")).toBe("2001:db8::1/128");
    expect(canonicalRange("2001:db8:1:2::/48")).toBe("2001:db8:1::/48");
    expect(canonicalRange("::ffff:203.0.113.7")).toBe("203.0.113.7/32");
  });

  it.each([
    "127.1",
    "0x7f.0.0.1",
    "010.0.0.1",
    "10.0.0.0/33",
    "2001:db8::/129",
    "10.0.0.0/8/9",
    "10.0.0.0/",
    "10.0.0.0/+8",
    "fe80::1%eth0",
    "example.com",
    "",
  ])("refuses %j", (text) => {
    expect(canonicalRange(text)).toBeUndefined();
  });

  it("lets a caller in only from a listed range; no list lets anyone in", () => {
    expect(allowedFrom([], "198.51.100.1")).toBe(true);
    expect(allowedFrom([], undefined)).toBe(true);
    const office = ["203.0.113.0/24", "2001:db8::/32"];
    expect(allowedFrom(office, "203.0.113.9")).toBe(true);
    expect(allowedFrom(office, "::ffff:203.0.113.9")).toBe(true);
    expect(allowedFrom(office, "2001:db8:5::1")).toBe(true);
    expect(allowedFrom(office, "203.0.114.1")).toBe(false);
    expect(allowedFrom(office, "2001:db9::1")).toBe(false);
    expect(allowedFrom(office, undefined)).toBe(false);
    expect(allowedFrom(office, "not an address")).toBe(false);
  });

  it("says whether one list allows nothing another does not", () => {
    expect(rangesWithin(["203.0.113.128/25"], ["203.0.113.0/24"])).toBe(true);
    expect(rangesWithin(["203.0.112.0/23"], ["203.0.113.0/24"])).toBe(false);
    expect(rangesWithin(["2001:db8::/48"], ["203.0.113.0/24"])).toBe(false);
    expect(rangesWithin([], ["203.0.113.0/24"])).toBe(false);
    expect(rangesWithin(["203.0.113.0/24"], [])).toBe(true);
    expect(rangesWithin([], [])).toBe(true);
  });

  it("reads stored ranges it cannot trust as allowing no one", () => {
    for (const stored of ["junk", '["10.0.0.0/8", 7]', '["everywhere"]', '{"a":1}']) {
      const ranges = parseRanges(stored);
      for (const ip of ["10.1.2.3", "0.0.0.0", "198.51.100.1", "::"]) {
        expect(allowedFrom(ranges, ip), `${stored} ${ip}`).toBe(false);
      }
    }
    expect(parseRanges('["10.0.0.0/8"]')).toEqual(["10.0.0.0/8"]);
  });
});
