// requestTarget cuts host and path out of the runtime's URL string instead of parsing it again;
// for every URL the runtime could hand over (normalized by URL itself), it must agree with URL.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { requestTarget } from "../../src/util/request-target";

describe("requestTarget", () => {
  it("agrees with URL on host, path and scheme for any normalized URL", () => {
    fc.assert(
      fc.property(
        fc.webUrl({
          withQueryParameters: true,
          withFragments: true,
          authoritySettings: { withPort: true, withUserInfo: true, withIPv4: true, withIPv6: true },
        }),
        (raw) => {
          const url = new URL(raw);
          const target = requestTarget(url.href);
          expect(target).toEqual({
            href: url.href,
            host: url.hostname,
            path: url.pathname,
            secure: url.protocol === "https:",
          });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it.each([
    ["https://Track.Example.COM:8443/f/abc?x=1#y", "track.example.com", "/f/abc"],
    ["http://127.0.0.1:5002/", "127.0.0.1", "/"],
    ["http://[::1]:8080/q/t", "[::1]", "/q/t"],
    ["http://user:pw@track.example.com/f/a@b:c", "track.example.com", "/f/a@b:c"],
  ])("reads %s", (raw, host, path) => {
    const target = requestTarget(new URL(raw).href);
    expect(target.host).toBe(host);
    expect(target.path).toBe(path);
  });
});
