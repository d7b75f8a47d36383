// Requests relayed by our own TLS edge: believed only with the edge token, and then rewritten to
// the tracking host with the client's address as the edge saw it.
import { describe, expect, it } from "vitest";
import { relayedRequest, relayHeaders } from "../../src/util/edge-relay";

const token = "t".repeat(40);
const relay = (headers: Record<string, string>, url = "https://api.example.test/f/abc?x=1") =>
  new Request(url, {
    headers: {
      [relayHeaders.token]: token,
      [relayHeaders.host]: "track.shop.test",
      [relayHeaders.client]: "198.51.100.7",
      [relayHeaders.proto]: "https",
      "cf-connecting-ip": "192.0.2.1",
      "user-agent": "Mail/1.0",
      ...headers,
    },
  });

describe("a relayed request", () => {
  it("becomes the request the client sent to the edge", () => {
    const request = relayedRequest(relay({}), token);
    expect(request?.url).toBe("https://track.shop.test/f/abc?x=1");
    expect(request?.headers.get("cf-connecting-ip")).toBe("198.51.100.7");
    expect(request?.headers.get("user-agent")).toBe("Mail/1.0");
    for (const name of Object.values(relayHeaders)) expect(request?.headers.has(name)).toBe(false);
  });

  it("keeps plain HTTP as HTTP", () => {
    expect(relayedRequest(relay({ [relayHeaders.proto]: "http" }), token)?.url).toBe(
      "http://track.shop.test/f/abc?x=1",
    );
  });

  it.each<[string, Record<string, string>, string | undefined]>([
    ["no token configured", {}, undefined],
    ["a token too short to be one", { [relayHeaders.token]: "short" }, "short"],
    ["another token", { [relayHeaders.token]: "x".repeat(40) }, token],
    ["a host that is no host name", { [relayHeaders.host]: "track.shop.test/evil" }, token],
    ["a single-label host", { [relayHeaders.host]: "localhost" }, token],
    ["no client address", { [relayHeaders.client]: "" }, token],
  ])("is not one with %s", (_, headers, configured) => {
    expect(relayedRequest(relay(headers), configured)).toBeNull();
  });

  it("is not one without the token header, whatever else it carries", () => {
    const request = new Request("https://api.example.test/", {
      headers: { [relayHeaders.host]: "track.shop.test", [relayHeaders.client]: "198.51.100.7" },
    });
    expect(relayedRequest(request, token)).toBeNull();
  });
});
