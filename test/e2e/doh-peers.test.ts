// The DoH client in Node against real peers: dnss in front of dnsmasq, and hostile HTTP servers
// on loopback that answer garbage, too much, the wrong thing, slowly or never.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpoints, exampleRecords, urls } from "../../scripts/lib/stack-config";
import { followCnameChain } from "../../src/dns/cname";
import { createDohResolver, DnsQueryError } from "../../src/dns/doh";
import { dns, dynamicName } from "./helpers";

describe("DoH against dnss and dnsmasq", () => {
  const resolver = createDohResolver({ url: urls.doh });

  it("reads a CNAME, and tells NXDOMAIN from a name without that record", async () => {
    expect(await resolver.query(exampleRecords.v2.name, "CNAME")).toMatchObject({
      rcode: "NOERROR",
      answers: [{ name: exampleRecords.v2.name, type: "CNAME", data: endpoints.v2Us }],
    });
    expect(await resolver.query("missing.shop.test", "CNAME")).toEqual({
      rcode: "NXDOMAIN",
      answers: [],
    });
    expect(await resolver.query(exampleRecords.noCname.name, "CNAME")).toEqual({
      rcode: "NOERROR",
      answers: [],
    });
  });

  it("reports SERVFAIL as a failure of its own kind", async () => {
    const name = dynamicName();
    await dns.setServfail(name);
    const error = await resolver.query(name, "CNAME").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsQueryError);
    expect((error as DnsQueryError).kind).toBe("servfail");
  });

  it("follows a two-hop chain through the real resolver", async () => {
    const [name, hop] = [dynamicName(), dynamicName("hop")];
    await dns.setCname(name, hop);
    await dns.setCname(hop, endpoints.v2Us);
    expect(await followCnameChain(resolver, name, new Set([endpoints.v2Us]))).toEqual({
      chain: [name, hop, endpoints.v2Us],
      end: "target_reached",
    });
  });
});

describe("DoH against hostile servers", () => {
  let server: Server;
  let base: string;
  const behaviours: Record<string, (res: import("node:http").ServerResponse) => void> = {
    silent: () => {},
    html: (res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>hello</html>"),
    garbage: (res) =>
      res
        .writeHead(200, { "content-type": "application/dns-message" })
        .end(Buffer.from("not dns at all")),
    flood: (res) => {
      res.writeHead(200, { "content-type": "application/dns-message" });
      const chunk = Buffer.alloc(16_384);
      for (let i = 0; i < 8; i++) res.write(chunk);
      res.end();
    },
    error: (res) => res.writeHead(503).end("try later"),
    trickle: (res) => {
      res.writeHead(200, { "content-type": "application/dns-message" });
      res.write(Buffer.from([0]));
    },
  };

  beforeAll(async () => {
    server = createServer((req, res) =>
      behaviours[new URL(req.url ?? "/", "http://x").pathname.slice(1)]?.(res),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it.each([
    ["silent", "timeout"],
    ["trickle", "timeout"],
    ["html", "malformed"],
    ["garbage", "malformed"],
    ["flood", "malformed"],
    ["error", "http_status"],
  ])("survives a %s server: %s", async (behaviour, kind) => {
    const resolver = createDohResolver({ url: `${base}/${behaviour}`, timeoutMs: 300 });
    const started = Date.now();
    const error = await resolver.query("track.example.com", "CNAME").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsQueryError);
    expect((error as DnsQueryError).kind).toBe(kind);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("reports a closed port as a network failure", async () => {
    const resolver = createDohResolver({ url: "http://127.0.0.1:9/dns-query", timeoutMs: 1000 });
    const error = await resolver.query("track.example.com", "CNAME").catch((e: unknown) => e);
    expect((error as DnsQueryError).kind).toBe("network");
  });
});
