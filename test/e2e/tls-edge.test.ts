// HTTPS for a tracking domain through the TLS edge (scripts/tls-edge.ts), as a recipient's
// browser meets it: a client that trusts only Pebble's root completes a verified handshake for the
// domain and gets the 302 of a minted link; after a renewal the edge serves the new certificate
// without a restart; after the domain is deleted there is no handshake at all.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect, type PeerCertificate } from "node:tls";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { getVia } from "../../scripts/lib/get-via";
import { urls } from "../../scripts/lib/stack-config";
import { startTlsEdge, type TlsEdge } from "../../scripts/tls-edge";
import { api, getDomain, verifiedManagedDomain, waitForDomain } from "./helpers";
import { pebbleRoot } from "./pebble";

const key = () => inject("apiKeys").alpha;
let edge: TlsEdge;
let root: string;

beforeAll(async () => {
  root = await pebbleRoot(urls.pebbleManagement);
  edge = await startTlsEdge({
    port: 0,
    httpPort: 0,
    origin: inject("workerUrl"),
    token: inject("edgePullToken"),
    pollIntervalMs: 250,
    log: () => {},
  });
});

afterAll(async () => {
  await edge?.close();
  await setWindowPolicy(null);
});

const ariControl = () => inject("ariDirectory").replace(/\/dir$/, "/control");
const setWindowPolicy = (policy: { startInSeconds: number; endInSeconds: number } | null) =>
  fetch(`${ariControl()}/policy`, { method: "PUT", body: JSON.stringify(policy) });

/** A TLS handshake for `domain` trusting only Pebble's root: the verdict and the leaf. */
function handshake(
  domain: string,
): Promise<{ authorized: boolean; error?: string; certificate?: PeerCertificate }> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: edge.port, servername: domain, ca: [root] });
    socket.once("secureConnect", () => {
      resolve({
        authorized: socket.authorized,
        ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}),
        certificate: socket.getPeerCertificate(),
      });
      socket.end();
    });
    socket.once("error", (error) => resolve({ authorized: false, error: error.message }));
  });
}

/** What the client sees when the edge ends a handshake it has no certificate for. */
const refusedInHandshake =
  /^Client network socket disconnected before secure TLS connection was established$/;

const servedSerial = async (domain: string) =>
  ((await handshake(domain)).certificate?.serialNumber ?? "").toLowerCase();

async function currentSerial(domain: string): Promise<string> {
  const view = await (await api(key(), "GET", `/tracking-domains/${domain}/certificate`)).json<{
    results: { certificate: { serial: string } | null };
  }>();
  return (view.results.certificate?.serial ?? "").toLowerCase();
}

async function eventually<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean) {
  const deadline = Date.now() + 30_000;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (done(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what}: not within 30 s; last ${JSON.stringify(last)}`);
}

describe("TLS edge", () => {
  it("completes a verified handshake for a managed domain and serves the 302 of a minted link", async () => {
    const domain = await verifiedManagedDomain(key());
    await waitForDomain(key(), domain, (d) => d.status.tls_status === "valid");

    const shaken = await handshake(domain);
    expect(shaken.error).toBeUndefined();
    expect(shaken.authorized).toBe(true);
    expect(shaken.certificate?.subjectaltname).toBe(`DNS:${domain}`);
    expect(shaken.certificate?.serialNumber.toLowerCase()).toBe(await currentSerial(domain));

    const sending = `mail-${domain}`;
    expect(
      (await api(key(), "POST", "/sending-domains", { domain: sending, tracking_domain: domain }))
        .status,
    ).toBe(200);
    const minted = await api(key(), "POST", "/tracking-links", {
      sending_domain: sending,
      links: [{ url: "https://shop.example/welcome?x=1" }],
    });
    const link = (await minted.json<{ results: { links: { tracked_url: string }[] } }>()).results
      .links[0]?.tracked_url as string;
    expect(link.startsWith(`https://${domain}/f/`)).toBe(true);
    expect(await getVia(link, { host: "127.0.0.1", port: edge.port, ca: root })).toMatchObject({
      status: 302,
      location: "https://shop.example/welcome?x=1",
    });
  });

  it("refuses the handshake for a name the worker has no certificate for", async () => {
    const shaken = await handshake("unknown-name.dyn.test");
    expect(shaken.authorized).toBe(false);
    expect(shaken.certificate).toBeUndefined();
    // The edge took the connection and ended it in the handshake (no certificate to offer), as
    // opposed to a connection nobody took or a certificate that failed verification.
    expect(shaken.error).toMatch(refusedInHandshake);
  });

  it("serves the renewed certificate without a restart", { timeout: 60_000 }, async () => {
    // The CA will suggest renewing a few seconds after it first hears of each certificate.
    await setWindowPolicy({ startInSeconds: 3, endInSeconds: 5 });
    const domain = await verifiedManagedDomain(key());
    await waitForDomain(key(), domain, (d) => d.status.tls_status === "valid");
    const first = await servedSerial(domain);
    expect(first).toBe(await currentSerial(domain));

    const renewed = await eventually(
      "a renewal",
      () => currentSerial(domain),
      (serial) => serial !== "" && serial !== first,
    );
    await setWindowPolicy(null);
    expect(renewed).not.toBe(first);

    // The edge follows the change feed: the handshake shows whatever the domain now serves.
    const served = await eventually(
      "the edge serving the renewed certificate",
      async () => [await servedSerial(domain), await currentSerial(domain)] as const,
      ([edgeSerial, apiSerial]) => edgeSerial !== first && edgeSerial === apiSerial,
    );
    expect(served[0]).not.toBe(first);
    expect((await handshake(domain)).authorized).toBe(true);
  });

  it("stops the handshake once the domain is deleted, and serves the others still", async () => {
    const domain = await verifiedManagedDomain(key());
    const other = await verifiedManagedDomain(key());
    await waitForDomain(key(), domain, (d) => d.status.tls_status === "valid");
    await waitForDomain(key(), other, (d) => d.status.tls_status === "valid");
    expect((await handshake(domain)).authorized).toBe(true);

    expect((await api(key(), "DELETE", `/tracking-domains/${domain}`)).status).toBe(204);
    await expect(getDomain(key(), domain)).rejects.toThrow("404");
    const after = await eventually(
      "the handshake failing",
      () => handshake(domain),
      (result) => result.certificate === undefined,
    );
    // Refused by the edge in the handshake (not a connection it failed to take), while a domain
    // still held is served by the same edge at the same moment.
    expect(after.authorized).toBe(false);
    expect(after.error).toMatch(refusedInHandshake);
    expect(edge.cachedSerial(domain)).toBeUndefined();
    const held = await handshake(other);
    expect(held).toMatchObject({ authorized: true });
    expect(held.certificate?.subjectaltname).toBe(`DNS:${other}`);
  });

  /** A request through the edge: HTTPS for `servername` (Host may differ), or plain HTTP. */
  const through = (
    scheme: "https" | "http",
    target: { servername?: string; host: string; path: string; headers?: Record<string, string> },
  ) =>
    new Promise<{ status: number; location?: string; contentType?: string }>((resolve, reject) => {
      const options = {
        host: "127.0.0.1",
        port: scheme === "https" ? edge.port : edge.httpPort,
        path: target.path,
        headers: { host: target.host, ...target.headers },
        ...(scheme === "https" ? { servername: target.servername ?? target.host, ca: [root] } : {}),
      };
      const request = (scheme === "https" ? httpsRequest : httpRequest)(options, (response) => {
        response.resume();
        resolve({
          status: response.statusCode ?? 0,
          ...(response.headers.location ? { location: response.headers.location } : {}),
          ...(response.headers["content-type"]
            ? { contentType: response.headers["content-type"] }
            : {}),
        });
      });
      request.on("error", reject);
      request.end();
    });

  /** A minted click link and open pixel for `domain`. */
  async function minted(domain: string): Promise<{ click: URL; open: URL }> {
    const sending = `mail-${domain}`;
    await api(key(), "POST", "/sending-domains", { domain: sending, tracking_domain: domain });
    const response = await api(key(), "POST", "/tracking-links", {
      sending_domain: sending,
      links: [{ url: "https://shop.example/relay" }],
    });
    const { results } = await response.json<{
      results: { links: { tracked_url: string }[]; open_pixel_url: string };
    }>();
    return {
      click: new URL(results.links[0]?.tracked_url as string),
      open: new URL(results.open_pixel_url),
    };
  }

  it("relays the client's address as the edge saw it, never one the client claims", async () => {
    const domain = await verifiedManagedDomain(key());
    await waitForDomain(key(), domain, (d) => d.status.tls_status === "valid");
    const link = (await minted(domain)).click;
    const clicked = await through("https", {
      host: domain,
      path: link.pathname + link.search,
      headers: {
        "cf-connecting-ip": "203.0.113.9",
        "x-forwarded-for": "203.0.113.9",
        "x-tracking-edge-client": "203.0.113.9",
      },
    });
    expect(clicked).toMatchObject({ status: 302, location: "https://shop.example/relay" });
    const recorded = await eventually(
      "the click recorded",
      async () =>
        (
          await (
            await api(key(), "GET", `/events/engagement?tracking_domain=${domain}`)
          ).json<{ results: { type: string; ip_prefix: string }[] }>()
        ).results,
      (events) => events.length > 0,
    );
    // The edge's peer here is 127.0.0.1; the forged addresses are nowhere.
    expect(recorded.map((e) => e.ip_prefix)).toEqual(["127.0.0.0/24"]);
  });

  it("has the worker believe relay headers only with the edge token", async () => {
    const domain = await verifiedManagedDomain(key());
    const link = (await minted(domain)).click;
    const direct = (token: string, host = domain) =>
      fetch(`${inject("workerUrl")}${link.pathname}${link.search}`, {
        redirect: "manual",
        headers: {
          "x-tracking-edge-token": token,
          "x-tracking-edge-host": host,
          "x-tracking-edge-client": "198.51.100.7",
          "x-tracking-edge-proto": "https",
        },
      });
    // Without the token the headers mean nothing: the request stays on the API host.
    expect((await direct("not-the-token")).status).toBe(404);
    const relayed = await direct(inject("edgePullToken"));
    expect(relayed.status).toBe(302);
    expect(relayed.headers.get("location")).toBe("https://shop.example/relay");
    // Relayed for another host, the link (signed for its own) is nothing.
    expect((await direct(inject("edgePullToken"), "other-host.dyn.test")).status).toBe(404);
  });

  it("answers 421 when Host is not the name of the handshake", async () => {
    const domain = await verifiedManagedDomain(key());
    const other = await verifiedManagedDomain(key());
    await waitForDomain(key(), domain, (d) => d.status.tls_status === "valid");
    const misdirected = await through("https", { servername: domain, host: other, path: "/" });
    expect(misdirected.status).toBe(421);
    // The API host is not reachable through the edge either (no certificate for it, and a
    // relayed request for it is refused by the worker).
    const api = await through("https", {
      servername: domain,
      host: "127.0.0.1",
      path: "/api/v1/account",
    });
    expect(api.status).toBe(421);
  });

  it("serves plain HTTP too: an http:// open pixel reaches the worker as the tracking host", async () => {
    const domain = await verifiedManagedDomain(key());
    const { open } = await minted(domain);
    const opened = await through("http", { host: domain, path: open.pathname + open.search });
    expect(opened.status).toBe(200);
    expect(opened.contentType).toBe("image/gif");
    const unknown = await through("http", { host: "not-a-tracking-domain.dyn.test", path: "/" });
    expect(unknown.status).toBe(404);
  });

  it("keeps a burst of random names from pulling without bound", async () => {
    const before = edge.pulls();
    const names = Array.from({ length: 200 }, (_, i) => `random-${i}-${Date.now()}.dyn.test`);
    const results = await Promise.all(names.map((name) => handshake(name)));
    expect(results.every((r) => r.certificate === undefined)).toBe(true);
    // At most a second's pulls (20) and the next second's, however many names were tried.
    expect(edge.pulls() - before).toBeLessThanOrEqual(60);
    expect(edge.negativeEntries()).toBeLessThanOrEqual(10_000);
  });
});
