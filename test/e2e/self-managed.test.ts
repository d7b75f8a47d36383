// Self-managed HTTPS end to end, with a real reverse proxy (nginx) in front of the worker as a
// customer's CDN would be, its certificates from the local stack's throwaway CA: a domain behind
// it verifies by an HTTPS probe and its tracked links work through it; an expired certificate,
// a certificate for another name, and a proxy that forwards somewhere else each fail with the
// reason. Then migration: the same domain moved to a V2 CNAME becomes managed and valid, a link
// minted before the move still redirects, and it can go back; both moves are in its events.
// The Cron watch probes a self-managed domain again: links fall back to http:// while its proxy
// does not reach us, and return to https:// once it does.
// Last, an account with its own V2 endpoint, set with npm run account:endpoint.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createLocalApiKeys } from "../../scripts/lib/api-key-sql";
import { getVia } from "../../scripts/lib/get-via";
import { caCertificatePath, endpoints, ports, projectRoot } from "../../scripts/lib/stack-config";
import { type NginxProxy, startNginxProxy } from "../support/nginx-proxy";
import { WebhookEndpoint } from "../support/webhook-endpoint";
import { api, backdateHttpsProbe, cronTick, dns, dynamicName, waitForDomain } from "./helpers";

const key = () => inject("apiKeys").alpha;
const good = dynamicName("proxied");
const expired = dynamicName("expired");
const wrongName = dynamicName("wrongname");
const elsewhere = dynamicName("elsewhere");
let proxy: NginxProxy;
const proxyAddress = "127.0.0.2";
let otherOrigin: Server;

beforeAll(async () => {
  otherOrigin = createServer((_, res) => {
    res.writeHead(200, { server: "someone-else", "content-type": "text/plain" });
    res.end("hello\n");
  });
  await new Promise<void>((resolve) => otherOrigin.listen(0, "127.0.0.1", resolve));
  const other = `http://127.0.0.1:${(otherOrigin.address() as { port: number }).port}`;
  const worker = inject("workerUrl");
  // Its own address, so that the CA's HTTP-01 requests (port 5002 here, 80 in production) reach
  // the worker through it.
  proxy = await startNginxProxy(
    { address: proxyAddress, port: ports.selfManagedProxy, httpPort: ports.worker },
    [
      { name: good, origin: worker, certificate: "good" },
      { name: expired, origin: worker, certificate: "expired" },
      { name: wrongName, origin: worker, certificate: { otherName: "other.example.test" } },
      { name: elsewhere, origin: other, certificate: "good" },
    ],
  );
  // The customer's DNS points each name at the proxy.
  for (const name of [good, expired, wrongName, elsewhere]) await dns.addA(name, [proxyAddress]);
});

afterAll(async () => {
  await proxy?.stop();
  await new Promise((resolve) => otherOrigin?.close(resolve));
});

interface Verification {
  verified: boolean;
  https: {
    passed: boolean;
    error_code: string | null;
    detail: string;
    certificate: { names: string[]; not_after: string } | null;
  } | null;
}

async function selfManaged(domain: string): Promise<Verification> {
  const created = await api(key(), "POST", "/tracking-domains", {
    domain,
    https_mode: "self_managed",
  });
  expect(created.status).toBe(200);
  const verified = await api(key(), "POST", `/tracking-domains/${domain}/verify`);
  expect(verified.status).toBe(200);
  return (await verified.json<{ results: Verification }>()).results;
}

/** GET through the proxy over HTTPS, trusting the local CA only. */
const throughProxy = (link: string) =>
  getVia(link, { host: proxy.address, port: proxy.port, ca: readFileSync(caCertificatePath) });

/** GET straight to the worker over HTTP with the link's Host (the domain now CNAMEs to us). */
const toWorker = (link: string) => {
  const worker = new URL(inject("workerUrl"));
  return getVia(link, { host: worker.hostname, port: Number(worker.port) });
};

async function mint(domain: string, url: string): Promise<string> {
  const sending = `mail-${domain}`;
  await api(key(), "POST", "/sending-domains", { domain: sending, tracking_domain: domain });
  const minted = await api(key(), "POST", "/tracking-links", {
    sending_domain: sending,
    links: [{ url }],
  });
  expect(minted.status).toBe(200);
  return (await minted.json<{ results: { links: { tracked_url: string }[] } }>()).results.links[0]
    ?.tracked_url as string;
}

describe("self-managed HTTPS through a reverse proxy", () => {
  it("verifies a domain whose proxy has a valid certificate and reaches us, and its links work over HTTPS", async () => {
    const result = await selfManaged(good);
    expect(result.https).toMatchObject({ passed: true, error_code: null });
    expect(result.verified).toBe(true);
    // The proxy's certificate (two days long here) is read too, and its near expiry said.
    expect(result.https?.certificate?.names).toEqual([good]);
    expect(result.https?.detail).toContain(
      `Its certificate expires on ${result.https?.certificate?.not_after} (in 1 day): renew it on your CDN or proxy`,
    );
    const domain = await api(key(), "GET", `/tracking-domains/${good}`);
    expect(
      (await domain.json<{ results: { secure: boolean; https_check: { passed: boolean } } }>())
        .results,
    ).toMatchObject({
      secure: true,
      https_check: { passed: true },
    });
    const link = await mint(good, "https://shop.example/landing");
    expect(link.startsWith(`https://${good}/f/`)).toBe(true);
    expect(await throughProxy(link)).toMatchObject({
      status: 302,
      location: "https://shop.example/landing",
    });
  });

  it("fails on an expired certificate, saying so and when it expired", async () => {
    const result = await selfManaged(expired);
    expect(result.verified).toBe(false);
    expect(result.https?.error_code).toBe("https:tls");
    expect(result.https?.detail).toContain("expired on");
    expect(Date.parse(result.https?.certificate?.not_after ?? "")).toBeLessThan(Date.now());
  });

  it("fails on a certificate for another name, naming both", async () => {
    const result = await selfManaged(wrongName);
    expect(result.verified).toBe(false);
    expect(result.https?.error_code).toBe("https:tls");
    expect(result.https?.detail).toContain(`is for other.example.test, not ${wrongName}`);
  });

  it("fails when the proxy forwards somewhere else, saying it does not reach us", async () => {
    const result = await selfManaged(elsewhere);
    expect(result.verified).toBe(false);
    expect(result.https?.error_code).toBe("https:proxy");
    expect(result.https?.detail).toContain("does not reach tracking-edge");
  });

  it("fails at DNS and at TCP with the part that failed", async () => {
    // Outside the dynamic zone (whose server answers every name): a name that does not exist.
    const nowhere = `nodns-${Math.random().toString(36).slice(2, 10)}.nowhere.test`;
    expect((await selfManaged(nowhere)).https?.error_code).toBe("https:dns");
    const closed = dynamicName("closed");
    await dns.addA(closed, ["127.0.0.3"]);
    const result = await selfManaged(closed);
    expect(result.https?.error_code).toBe("https:tcp");
    expect(result.https?.detail).toContain(`127.0.0.3:${ports.selfManagedProxy}`);
  });
});

describe("migration between self-managed and managed HTTPS", () => {
  it("issues the managed certificate through the proxy before DNS moves, keeps old links working, and goes back", {
    timeout: 60_000,
  }, async () => {
    const before = await mint(good, "https://shop.example/before-the-move");
    const check = await api(key(), "POST", `/tracking-domains/${good}/certificate/check`);
    const report = (
      await check.json<{
        results: {
          eligible: boolean;
          checks: { name: string; status: string; detail: string; fix: string | null }[];
        };
      }>()
    ).results;
    // The proxy reaches us (the probe said so): eligible now, and told what to change after.
    expect(report.eligible).toBe(true);
    const cname = report.checks.find((c) => c.name === "cname");
    expect(cname?.detail).toContain("the CA can validate through the proxy");
    expect(cname?.fix).toContain(`point ${good} at ${endpoints.v2Us}`);

    const switched = await api(key(), "PUT", `/tracking-domains/${good}`, {
      https_mode: "managed",
    });
    expect(switched.status).toBe(200);
    // Issued while the name still points at the proxy: the CA's HTTP-01 went through nginx.
    await waitForDomain(key(), good, (d) => d.status.tls_status === "valid");
    expect(await throughProxy(before)).toMatchObject({
      status: 302,
      location: "https://shop.example/before-the-move",
    });

    // Then the customer moves the CNAME; links keep working against our edge.
    await dns.setCname(good, endpoints.v2Us);
    const verified = await api(key(), "POST", `/tracking-domains/${good}/verify`);
    expect((await verified.json<{ results: { verified: boolean } }>()).results.verified).toBe(true);
    expect(await toWorker(before)).toMatchObject({
      status: 302,
      location: "https://shop.example/before-the-move",
    });

    const back = await api(key(), "PUT", `/tracking-domains/${good}`, {
      https_mode: "self_managed",
    });
    expect(back.status).toBe(200);
    const events = await api(
      key(),
      "GET",
      `/tracking-domains/${good}/certificate/events?limit=500`,
    );
    const reasons = (await events.json<{ results: { reason: string }[] }>()).results.map(
      (e) => e.reason,
    );
    expect(reasons.some((r) => r.includes("from self_managed to managed"))).toBe(true);
    expect(reasons.some((r) => r.includes("from managed to self_managed"))).toBe(true);
  });

  it("says what must change when the proxy has not been shown to reach us", async () => {
    const domain = dynamicName("unproxied");
    await dns.addA(domain, ["127.0.0.3"]);
    await api(key(), "POST", "/tracking-domains", { domain, https_mode: "self_managed" });
    const check = await api(key(), "POST", `/tracking-domains/${domain}/certificate/check`);
    const cname = (
      await check.json<{
        results: { checks: { name: string; status: string; fix: string | null }[] };
      }>()
    ).results.checks.find((c) => c.name === "cname");
    expect(cname?.status).toBe("fail");
    expect(cname?.fix).toContain(endpoints.v2Us);
  });
});

describe("a proxy that accepts TLS 1.3 only", () => {
  it("passes, and says its certificate cannot be read, so no expiry warning will come", async () => {
    const name = dynamicName("tls13-only");
    const listen = { address: "127.0.0.5", port: ports.selfManagedProxy };
    const only13 = await startNginxProxy(listen, [
      { name, origin: inject("workerUrl"), certificate: "good", tls13Only: true },
    ]);
    try {
      await dns.addA(name, [listen.address]);
      const result = await selfManaged(name);
      expect(result.https).toMatchObject({ passed: true, error_code: null, certificate: null });
      expect(result.https?.detail).toContain(
        "We could not read its certificate (the proxy refused a TLS 1.2 handshake, as a TLS 1.3-only proxy does), so we cannot warn you before it expires.",
      );
    } finally {
      await only13.stop();
    }
  });
});

describe("the watch over self-managed domains (Cron)", () => {
  it("turns new links to http:// with the reason when the proxy stops reaching us, and back to https:// once it does again", {
    timeout: 90_000,
  }, async () => {
    const watched = dynamicName("watched");
    const site = { name: watched, origin: inject("workerUrl"), certificate: "good" } as const;
    const listen = { address: "127.0.0.4", port: ports.selfManagedProxy };
    let watchedProxy = await startNginxProxy(listen, [site]);
    // The customer's webhook hears of each change of the check's result.
    const endpoint = new WebhookEndpoint();
    await endpoint.start();
    const hook = await api(key(), "POST", "/webhooks", {
      name: "proxy checks",
      target: endpoint.url,
      events: ["https_check_change"],
    });
    const { id: hookId } = (await hook.json<{ results: { id: string } }>()).results;
    const checksHeard = () =>
      endpoint
        .eventsFor(watched)
        .map(({ event }) => [event.https_check?.passed, event.https_check?.error_code]);
    try {
      await dns.addA(watched, [listen.address]);
      expect((await selfManaged(watched)).https?.passed).toBe(true);
      expect(await mint(watched, "https://shop.example/watched")).toMatch(/^https:\/\//);

      // A day later the proxy is gone: the tick's probe fails, and says where.
      await watchedProxy.stop();
      backdateHttpsProbe(watched, 25);
      await cronTick();
      const failed = await httpsCheck(watched);
      expect(failed).toMatchObject({ passed: false, error_code: "https:tcp" });
      expect(await mint(watched, "https://shop.example/watched")).toMatch(/^http:\/\//);

      // An hour after the failure it is probed again; the proxy is back, and so is https.
      watchedProxy = await startNginxProxy(listen, [site]);
      backdateHttpsProbe(watched, 2);
      await cronTick();
      expect(await httpsCheck(watched)).toMatchObject({ passed: true, error_code: null });
      expect(await mint(watched, "https://shop.example/watched")).toMatch(/^https:\/\//);
      // The first check (at verify), the failure and the recovery, each delivered as it happened.
      expect(checksHeard()).toEqual([
        [true, null],
        [false, "https:tcp"],
        [true, null],
      ]);
    } finally {
      await watchedProxy.stop();
      await api(key(), "DELETE", `/webhooks/${hookId}`);
      await endpoint.stop();
    }
  });
});

async function httpsCheck(domain: string): Promise<{ passed: boolean; error_code: string | null }> {
  const response = await api(key(), "GET", `/tracking-domains/${domain}`);
  return (
    await response.json<{
      results: { https_check: { passed: boolean; error_code: string | null } };
    }>()
  ).results.https_check;
}

describe("an account with its own V2 endpoint", () => {
  it("verifies its domains against that endpoint and not the default one", async () => {
    const own = dynamicName("enterprise-endpoint");
    await dns.addA(own, ["127.0.0.1"]);
    const [enterprise] = (await createLocalApiKeys(
      [{ account: "enterprise" }],
      inject("persistTo"),
    )) as [string];
    execFileSync(
      "npx",
      [
        "tsx",
        "scripts/account-endpoint.ts",
        "--account",
        "enterprise",
        "--v2-endpoint",
        own,
        "--persist-to",
        inject("persistTo"),
      ],
      { cwd: projectRoot, stdio: "pipe" },
    );
    const toOwn = dynamicName("ent-own");
    const toDefault = dynamicName("ent-default");
    await dns.setCname(toOwn, own);
    await dns.setCname(toDefault, endpoints.v2Us);
    for (const domain of [toOwn, toDefault])
      expect(
        (await api(enterprise, "POST", "/tracking-domains", { domain, secure: false })).status,
      ).toBe(200);

    const ownResult = await (
      await api(enterprise, "POST", `/tracking-domains/${toOwn}/verify`)
    ).json<{
      results: { verified: boolean; dns: { expected: string } };
    }>();
    expect(ownResult.results).toMatchObject({ verified: true, dns: { expected: own } });
    const defaultResult = await (
      await api(enterprise, "POST", `/tracking-domains/${toDefault}/verify`)
    ).json<{
      results: { verified: boolean; cname_status: string; dns: { expected: string } };
    }>();
    expect(defaultResult.results).toMatchObject({
      verified: false,
      cname_status: "invalid",
      dns: { expected: own },
    });

    // Its own key cannot move it.
    expect((await api(enterprise, "PUT", "/account", { v2_endpoint: endpoints.v2Us })).status).toBe(
      403,
    );
    const account = await (await api(enterprise, "GET", "/account")).json<{
      results: { own_v2_endpoint: string };
    }>();
    expect(account.results.own_v2_endpoint).toBe(own);
  });
});
