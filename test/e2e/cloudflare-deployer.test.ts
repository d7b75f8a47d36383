// The Cloudflare for SaaS deployer against a stand-in of Cloudflare's API (test/support/
// cloudflare-api.ts): the real API is out of reach from here, so the stand-in refuses every
// request that does not match the documented shapes. First the deployer alone: create on the
// first deployment, replace on renewal, delete on removal, idempotent, and each kind of
// Cloudflare failure as its deploy:* code. Then the whole lifecycle in a worker configured for
// Cloudflare (its own Pebble validating on its port): a Cloudflare outage during deployment shows
// as deploy:unavailable and is retried until the domain is valid with the certificate uploaded;
// a renewal (renewal information in front of its Pebble) replaces the certificate on the same
// hostname; deleting the domain deletes the custom hostname.
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalApiKeys } from "../../scripts/lib/api-key-sql";
import { startPebble } from "../../scripts/lib/local-stack";
import { type LocalWorker, startLocalWorker } from "../../scripts/lib/local-worker";
import { stopDaemon } from "../../scripts/lib/processes";
import {
  generatedKeyRing,
  generatedToken,
  localWorkerVars,
  ports,
} from "../../scripts/lib/stack-config";
import { migrateLocalDatabase, wrangler } from "../../scripts/lib/wrangler";
import { cloudflareSaasDeployer } from "../../src/deploy/cloudflare-saas";
import { DeployError, type DeployInput } from "../../src/deploy/deployer";
import { type AriDirectory, startAriDirectory } from "../support/ari-directory";
import { type CloudflareApiStandin, startCloudflareApi } from "../support/cloudflare-api";
import { startNginxProxy } from "../support/nginx-proxy";
import { type DomainResult, dns, dynamicName } from "./helpers";

const zoneId = "023e105f4ecef8ad9ca31a8372d0c353";
const apiToken = generatedToken();
let cloudflare: CloudflareApiStandin;

beforeAll(async () => {
  // Validating hostnames against the stack's DNS, as Cloudflare does before it routes them.
  cloudflare = await startCloudflareApi({
    port: ports.cloudflareStandin,
    zoneId,
    apiToken,
    dnsServer: `127.0.0.1:${ports.dnsmasq}`,
  });
});
afterAll(async () => {
  await cloudflare?.close();
});

/** A self-signed certificate and its key for `domain` (openssl), as a deployment carries them. */
function certificateFor(domain: string): { chainPem: string; keyPem: string; serial: string } {
  const dir = mkdtempSync(join(tmpdir(), "tracking-edge-cf-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        `/CN=${domain}`,
        "-addext",
        `subjectAltName=DNS:${domain}`,
        "-days",
        "1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    const chainPem = execFileSync("cat", [join(dir, "cert.pem")], { encoding: "utf8" });
    const keyPem = createPrivateKey(
      execFileSync("cat", [join(dir, "key.pem")], { encoding: "utf8" }),
    )
      .export({ type: "pkcs8", format: "pem" })
      .toString();
    return { chainPem, keyPem, serial: new X509Certificate(chainPem).serialNumber.toLowerCase() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const deployment = (domain: string, c: ReturnType<typeof certificateFor>): DeployInput => ({
  domain,
  serial: c.serial,
  chainPem: c.chainPem,
  privateKeyPem: async () => c.keyPem,
});

/** A worker of its own, with a migrated database and an API key, deploying in `mode` to the stand-in. */
async function cloudflareWorker(
  mode: "cloudflare-for-saas" | "cloudflare-managed",
  options: { port: number; acmeDirectory: string },
): Promise<{ worker: LocalWorker; key: string; persistTo: string }> {
  const persistTo = mkdtempSync(join(tmpdir(), `tracking-edge-${mode}-`));
  migrateLocalDatabase(persistTo);
  const [key] = (await createLocalApiKeys([{ account: mode }], persistTo)) as [string];
  const worker = await startLocalWorker({
    port: options.port,
    persistTo,
    vars: {
      ...localWorkerVars,
      ACME_DIRECTORY_URL: options.acmeDirectory,
      KEY_ENCRYPTION_KEYS: generatedKeyRing(),
      LINK_SIGNING_KEYS: generatedKeyRing(),
      CERTIFICATE_DEPLOYER: mode,
      CLOUDFLARE_API_BASE_URL: cloudflare.baseUrl,
      CLOUDFLARE_API_TOKEN: apiToken,
      CLOUDFLARE_ZONE_ID: zoneId,
      // Self-managed probes go to the customer's proxy on the test stack's port.
      HTTPS_PROBE_PORT: String(ports.selfManagedProxy),
    },
  });
  return { worker, key, persistTo };
}

/** A call to a worker's API with an account's key: its status and JSON body. */
async function apiCall(
  worker: LocalWorker,
  key: string,
  method: string,
  path: string,
  body?: unknown,
) {
  const response = await fetch(`${worker.url}/api/v1${path}`, {
    method,
    headers: { authorization: key, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json().catch(() => null)) as unknown };
}

interface CertificateView {
  error: { code: string; detail: string; action_by: string } | null;
  next_attempt_at: string | null;
}

const deployer = (token = apiToken) =>
  cloudflareSaasDeployer({ apiToken: token, zoneId, baseUrl: cloudflare.baseUrl, timeoutMs: 5000 });

describe("Cloudflare for SaaS deployer, against the API stand-in", () => {
  it("creates the custom hostname with the certificate, replaces it on renewal, deletes it on removal", async () => {
    // The customer's CNAME reaches the zone: Cloudflare validates the name by it.
    const domain = dynamicName("cf-shapes");
    await dns.setCname(domain, localWorkerVars.V2_ENDPOINT_US);
    const first = certificateFor(domain);
    const renewed = certificateFor(domain);
    const seen = cloudflare.requests.length;

    // Each upload is read back: Cloudflare holds our serial, and is still spreading it.
    const pending = { edgeStatus: "Cloudflare hostname active, SSL pending_deployment" };
    expect(await deployer().deploy(deployment(domain, first))).toEqual(pending);
    expect(await deployer().deploy(deployment(domain, renewed))).toEqual(pending);
    expect(await deployer().deploy(deployment(domain, renewed))).toEqual(pending);
    expect(cloudflare.hostnames().filter((h) => h.hostname === domain)).toEqual([
      expect.objectContaining({
        certificatePem: renewed.chainPem,
        keyPem: renewed.keyPem,
        bundleMethod: "force",
      }),
    ]);
    await deployer().remove(domain);
    await deployer().remove(domain);
    expect(cloudflare.hostnames().some((h) => h.hostname === domain)).toBe(false);

    const calls = cloudflare.requests.slice(seen);
    const base = `/client/v4/zones/${zoneId}/custom_hostnames`;
    const id = (calls.find((c) => c.method === "PATCH")?.path ?? "").split("/").pop();
    expect(calls.map((c) => `${c.method} ${c.path.replace(id ?? "-", ":id")}`)).toEqual([
      `GET ${base}`,
      `POST ${base}`,
      `GET ${base}/:id`,
      `GET ${base}`,
      `PATCH ${base}/:id`,
      `GET ${base}/:id`,
      `GET ${base}`,
      `PATCH ${base}/:id`,
      `GET ${base}/:id`,
      `GET ${base}`,
      `DELETE ${base}/:id`,
      `GET ${base}`,
    ]);
    expect(calls[0]?.query).toEqual({ "hostname.exact": domain });
    expect(calls[1]?.body).toEqual({
      hostname: domain,
      ssl: {
        custom_certificate: first.chainPem,
        custom_key: first.keyPem,
        bundle_method: "force",
        settings: { min_tls_version: "1.2" },
      },
    });
    expect(calls[4]?.body).toEqual({
      ssl: {
        custom_certificate: renewed.chainPem,
        custom_key: renewed.keyPem,
        bundle_method: "force",
        settings: { min_tls_version: "1.2" },
      },
    });
  });

  it("does not call a certificate deployed when Cloudflare holds another", async () => {
    const domain = dynamicName("cf-lost");
    await dns.setCname(domain, localWorkerVars.V2_ENDPOINT_US);
    const first = certificateFor(domain);
    const renewed = certificateFor(domain);
    await deployer().deploy(deployment(domain, first));
    cloudflare.dropNextUpload();
    const error = (await deployer()
      .deploy(deployment(domain, renewed))
      .catch((e: unknown) => e)) as DeployError;
    expect(error).toBeInstanceOf(DeployError);
    expect(error.code).toBe("deploy:unavailable");
    expect(error.message).toBe(
      `Cloudflare holds certificate serial ${first.serial.toUpperCase()} for ${domain}, not ${renewed.serial}`,
    );
    // Retried, it goes up.
    expect(await deployer().deploy(deployment(domain, renewed))).toEqual({
      edgeStatus: "Cloudflare hostname active, SSL pending_deployment",
    });
    await deployer().remove(domain);
  });

  it("is a stand-in that refuses what the API would refuse", async () => {
    const post = (body: unknown, token = apiToken) =>
      fetch(`${cloudflare.baseUrl}/zones/${zoneId}/custom_hostnames`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const a = certificateFor("a.cf-refuse.test");
    const b = certificateFor("b.cf-refuse.test");
    for (const [body, says] of [
      [{ hostname: "x.cf-refuse.test", ssl: { custom_certificate: a.chainPem } }, "together"],
      [
        {
          hostname: "x.cf-refuse.test",
          ssl: { custom_certificate: a.chainPem, custom_key: b.keyPem },
        },
        "does not match",
      ],
      [{ hostname: "x.cf-refuse.test", ssl: { bundle_method: "best" } }, "ssl.bundle_method"],
      [{ hostname: "x.cf-refuse.test", certificate: a.chainPem }, "certificate"],
    ] as const) {
      const response = await post(body);
      expect(response.status).toBe(400);
      const answer = (await response.json()) as { success: boolean; errors: { message: string }[] };
      expect(answer.success).toBe(false);
      expect(answer.errors[0]?.message).toContain(says);
    }
    expect((await post({ hostname: "x.cf-refuse.test" }, "wrong")).status).toBe(403);
  });

  it.each([
    [403, "deploy:unauthorized", undefined],
    [400, "deploy:rejected", undefined],
    [429, "deploy:rate_limited", { "retry-after": "120" }],
    [503, "deploy:unavailable", undefined],
  ] as const)("turns Cloudflare's HTTP %i into %s", async (status, code, headers) => {
    cloudflare.failNext(1, status, { code: 1000, message: `refused with ${status}` }, headers);
    const error = (await deployer()
      .deploy(deployment("track.cf-errors.test", certificateFor("track.cf-errors.test")))
      .catch((e: unknown) => e)) as DeployError;
    cloudflare.failNext(0, 200);
    expect(error.name).toBe("DeployError");
    expect(error.code).toBe(code);
    expect(error.message).toContain(`refused with ${status}`);
    if (code === "deploy:rate_limited")
      expect((error.retryAfter?.getTime() ?? 0) - Date.now()).toBeGreaterThan(100_000);
  });

  it("tells a zone without custom certificates (not Enterprise) from a wrong token", async () => {
    const domain = "track.cf-plan.test";
    cloudflare.entitleCustomCertificates(false);
    try {
      const error = (await deployer()
        .deploy(deployment(domain, certificateFor(domain)))
        .catch((e: unknown) => e)) as DeployError;
      expect(error.code).toBe("deploy:not_entitled");
      expect(error.message).toContain("only available on an Enterprise plan");
      // Routing a name needs no certificate, so it works on every plan.
      await deployer().route(domain);
      expect(cloudflare.hostnames().some((h) => h.hostname === domain)).toBe(true);
    } finally {
      cloudflare.entitleCustomCertificates(true);
      await deployer().remove(domain);
    }
  });

  it("turns a wrong token and an unreachable API into deploy:* errors too", async () => {
    const denied = (await deployer("not-the-token")
      .remove("x.cf-errors.test")
      .catch((e: unknown) => e)) as DeployError;
    expect(denied.code).toBe("deploy:unauthorized");
    const unreachable = (await cloudflareSaasDeployer({
      apiToken,
      zoneId,
      baseUrl: "http://127.0.0.1:9/client/v4",
      timeoutMs: 2000,
    })
      .remove("x.cf-errors.test")
      .catch((e: unknown) => e)) as DeployError;
    expect(unreachable.code).toBe("deploy:unavailable");
  });
});

describe("a worker deploying to Cloudflare for SaaS", () => {
  const pebbleName = "pebble-cloudflare";
  let worker: LocalWorker;
  let key: string;
  let persistTo: string;
  let ari: AriDirectory;

  beforeAll(async () => {
    // Its own CA, validating HTTP-01 on this worker's port.
    await startPebble({
      name: pebbleName,
      acmePort: ports.cloudflarePebbleAcme,
      managementPort: ports.cloudflarePebbleAcme + 15,
      httpPort: ports.cloudflareWorker,
    });
    // Renewal information in front of it, so that a test can make a renewal come due.
    ari = await startAriDirectory(
      `https://127.0.0.1:${ports.cloudflarePebbleAcme}/dir`,
      ports.cloudflareAriDirectory,
    );
    ({ worker, key, persistTo } = await cloudflareWorker("cloudflare-for-saas", {
      port: ports.cloudflareWorker,
      acmeDirectory: ari.directory,
    }));
  }, 90_000);
  afterAll(async () => {
    await worker?.stop();
    await ari?.close();
    await stopDaemon(pebbleName);
    if (persistTo) rmSync(persistTo, { recursive: true, force: true });
  });

  const call = (method: string, path: string, body?: unknown) =>
    apiCall(worker, key, method, path, body);

  it("shows a Cloudflare outage as deploy:unavailable, retries, and uploads the certificate", {
    timeout: 60_000,
  }, async () => {
    const domain = dynamicName("cf");
    await dns.setCname(domain, localWorkerVars.V2_ENDPOINT_US);
    expect((await call("POST", "/tracking-domains", { domain })).status).toBe(200);
    expect((await call("POST", `/tracking-domains/${domain}/verify`)).status).toBe(200);
    // Verified: the name is on the edge at once, without a certificate yet.
    expect(cloudflare.hostnames().find((h) => h.hostname === domain)?.certificatePem).toBe("");
    // Cloudflare answers 503 to the next three requests: the deploy step fails, visibly, and is
    // retried (after 1, 2 and 4 s) until it works.
    cloudflare.failNext(3, 503, { code: 10001, message: "service temporarily unavailable" });

    const seen = new Set<string>();
    const deadline = Date.now() + 45_000;
    let last: DomainResult | undefined;
    while (Date.now() < deadline) {
      last = ((await call("GET", `/tracking-domains/${domain}`)).body as { results: DomainResult })
        .results;
      seen.add(`${last.status.tls_status} ${last.tls_certificate.error_code ?? "-"}`);
      if (last.status.tls_status === "valid") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(seen).toContain("pending deploy:unavailable");
    expect(last?.status.tls_status).toBe("valid");
    expect(last?.tls_certificate.error_code).toBeNull();

    const view = (
      (await call("GET", `/tracking-domains/${domain}/certificate`)).body as {
        results: { certificate: { serial: string } };
      }
    ).results;
    const uploaded = cloudflare.hostnames().find((h) => h.hostname === domain);
    expect(uploaded).toBeDefined();
    const leaf = new X509Certificate(uploaded?.certificatePem as string);
    expect(leaf.serialNumber.toLowerCase()).toBe(view.certificate.serial.toLowerCase());
    expect(leaf.subjectAltName).toBe(`DNS:${domain}`);
    expect(leaf.checkPrivateKey(createPrivateKey(uploaded?.keyPem as string))).toBe(true);

    // Deleting the domain deletes its custom hostname (from the object's alarm, right after),
    // even when Cloudflare fails the first attempt.
    cloudflare.failNext(1, 502, { code: 10001, message: "bad gateway" });
    const before = cloudflare.requests.length;
    expect((await call("DELETE", `/tracking-domains/${domain}`)).status).toBe(204);
    const gone = Date.now() + 20_000;
    while (cloudflare.hostnames().some((h) => h.hostname === domain) && Date.now() < gone)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cloudflare.hostnames().some((h) => h.hostname === domain)).toBe(false);
    // The failed attempt, then the one that worked: look up, look up again, delete.
    expect(cloudflare.requests.slice(before).map((r) => r.method)).toEqual([
      "GET",
      "GET",
      "DELETE",
    ]);
  });
  it("shows a plan without custom certificates as deploy:not_entitled, asked again a day later", {
    timeout: 60_000,
  }, async () => {
    cloudflare.entitleCustomCertificates(false);
    try {
      const domain = dynamicName("cf-plan");
      await dns.setCname(domain, localWorkerVars.V2_ENDPOINT_US);
      expect((await call("POST", "/tracking-domains", { domain })).status).toBe(200);
      expect((await call("POST", `/tracking-domains/${domain}/verify`)).status).toBe(200);
      const deadline = Date.now() + 45_000;
      let state: CertificateView | undefined;
      while (Date.now() < deadline) {
        state = (
          (await call("GET", `/tracking-domains/${domain}/certificate`)).body as {
            results: CertificateView;
          }
        ).results;
        if (state.error?.code === "deploy:not_entitled") break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(state?.error).toMatchObject({ code: "deploy:not_entitled", action_by: "provider" });
      expect(state?.error?.detail).toContain("CERTIFICATE_DEPLOYER");
      // Not on the quick schedule: the plan will not change within minutes.
      const wait = Date.parse(state?.next_attempt_at ?? "") - Date.now();
      expect(wait).toBeGreaterThan(23 * 3600_000);
      // Nothing went up, and the name stays routed for HTTP.
      const hostname = cloudflare.hostnames().find((h) => h.hostname === domain);
      expect(hostname?.certificatePem).toBe("");
    } finally {
      cloudflare.entitleCustomCertificates(true);
    }
  });

  it("puts a verified HTTP-only domain on the edge too, retrying while Cloudflare fails", {
    timeout: 30_000,
  }, async () => {
    const domain = dynamicName("cf-http");
    await dns.setCname(domain, localWorkerVars.V2_ENDPOINT_US);
    expect((await call("POST", "/tracking-domains", { domain, secure: false })).status).toBe(200);
    cloudflare.failNext(1, 500, { code: 10001, message: "internal error" });
    const verified = await call("POST", `/tracking-domains/${domain}/verify`);
    expect(verified.status).toBe(200);
    expect((verified.body as { results: { verified: boolean } }).results.verified).toBe(true);
    expect(cloudflare.hostnames().some((h) => h.hostname === domain)).toBe(false);

    // The object tries again by itself (after 5 s), and says so in the domain's events.
    const deadline = Date.now() + 15_000;
    while (!cloudflare.hostnames().some((h) => h.hostname === domain) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cloudflare.hostnames().find((h) => h.hostname === domain)).toMatchObject({
      certificatePem: "",
      keyPem: "",
    });
    const events = (
      (await call("GET", `/tracking-domains/${domain}/certificate/events`)).body as {
        results: { reason: string }[];
      }
    ).results;
    expect(events.some((e) => e.reason.includes("Could not add the domain to the TLS edge"))).toBe(
      true,
    );

    expect((await call("DELETE", `/tracking-domains/${domain}`)).status).toBe(204);
    const gone = Date.now() + 10_000;
    while (cloudflare.hostnames().some((h) => h.hostname === domain) && Date.now() < gone)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cloudflare.hostnames().some((h) => h.hostname === domain)).toBe(false);
  });
  it("shows a self-managed domain the TXT record Cloudflare wants, and verifies it once found", {
    timeout: 60_000,
  }, async () => {
    // The customer's CDN (nginx, its own address) forwards the name to this worker; the name's
    // DNS points at the CDN, so Cloudflare cannot validate it by its CNAME.
    const domain = dynamicName("cf-self");
    const proxy = await startNginxProxy({ address: "127.0.0.3", port: ports.selfManagedProxy }, [
      { name: domain, origin: worker.url, certificate: "good" },
    ]);
    try {
      await dns.addA(domain, ["127.0.0.3"]);
      expect(
        (await call("POST", "/tracking-domains", { domain, https_mode: "self_managed" })).status,
      ).toBe(200);
      const first = await call("POST", `/tracking-domains/${domain}/verify`);
      const verification = (
        first.body as {
          results: { verified: boolean; https: { error_code: string; detail: string } };
        }
      ).results;
      const hostname = cloudflare.hostnames().find((h) => h.hostname === domain);
      expect(hostname).toBeDefined();
      const txtName = `_cf-custom-hostname.${domain}`;
      // Not verified: Cloudflare would not route the name to us, and the check says what to add.
      expect(verification.verified).toBe(false);
      expect(verification.https.error_code).toBe("https:edge");
      expect(verification.https.detail).toContain(txtName);
      expect(verification.https.detail).toContain(hostname?.ownershipValue);
      const pending = (await call("GET", `/tracking-domains/${domain}`)).body as {
        results: {
          secure: boolean;
          status: { verified: boolean };
          edge_ownership: Record<string, unknown> | null;
        };
      };
      expect(pending.results.edge_ownership).toMatchObject({
        status: "pending",
        routed: false,
        dns_record: { type: "TXT", name: txtName, value: hostname?.ownershipValue },
        action_by: "customer",
      });

      // The customer adds the record; the Cron watch reads the hostname again (its last read
      // made 11 minutes old), finds it active, probes through the CDN and verifies the domain.
      await dns.setTxt(txtName, hostname?.ownershipValue ?? "");
      const past = new Date(Date.now() - 11 * 60_000).toISOString();
      wrangler([
        "d1",
        "execute",
        "DB",
        "--local",
        "--yes",
        "--persist-to",
        persistTo,
        "--command",
        `UPDATE tracking_domains SET edge_checked_at = '${past}' WHERE domain = '${domain}'`,
      ]);
      const tick = await fetch(`${worker.url}/__scheduled?cron=*+*+*+*+*`);
      expect(tick.status).toBe(200);
      const after = (await call("GET", `/tracking-domains/${domain}`)).body as typeof pending;
      expect(after.results.status.verified).toBe(true);
      expect(after.results.secure).toBe(true);
      expect(after.results.edge_ownership).toMatchObject({
        status: "active",
        routed: true,
        action_by: null,
      });
    } finally {
      await proxy.stop();
    }
  });
  it("renews through Cloudflare for SaaS: the new certificate replaces the old on the hostname", {
    timeout: 60_000,
  }, async () => {
    // The CA suggests renewing a few seconds after it first hears of a certificate.
    const policy = (body: unknown) =>
      fetch(ari.directory.replace(/\/dir$/, "/control/policy"), {
        method: "PUT",
        body: JSON.stringify(body),
      });
    await policy({ startInSeconds: 4, endInSeconds: 6 });
    try {
      const domain = dynamicName("cf-renew");
      await dns.setCname(domain, localWorkerVars.V2_ENDPOINT_US);
      expect((await call("POST", "/tracking-domains", { domain })).status).toBe(200);
      expect((await call("POST", `/tracking-domains/${domain}/verify`)).status).toBe(200);
      const serialOf = async () =>
        (
          (await call("GET", `/tracking-domains/${domain}/certificate`)).body as {
            results: { certificate: { serial: string } | null };
          }
        ).results.certificate?.serial.toLowerCase();
      const deadline = Date.now() + 45_000;
      const served = new Set<string>();
      let first: string | undefined;
      let renewed: string | undefined;
      while (Date.now() < deadline && !renewed) {
        const serial = await serialOf();
        const hostname = cloudflare.hostnames().find((h) => h.hostname === domain);
        if (hostname?.certificatePem) {
          served.add(new X509Certificate(hostname.certificatePem).serialNumber.toLowerCase());
        }
        if (serial && !first) first = serial;
        if (serial && first && serial !== first) renewed = serial;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(first).toBeDefined();
      expect(renewed).toBeDefined();
      // The hostname now carries the renewed certificate and its key, and only that one: the
      // first was replaced in place (one hostname for the name, never two), after serving.
      const hostnames = cloudflare.hostnames().filter((h) => h.hostname === domain);
      expect(hostnames).toHaveLength(1);
      const leaf = new X509Certificate(hostnames[0]?.certificatePem as string);
      expect(leaf.serialNumber.toLowerCase()).toBe(renewed);
      expect(leaf.checkPrivateKey(createPrivateKey(hostnames[0]?.keyPem as string))).toBe(true);
      expect(served).toContain(first);
      // Each certificate went up as an edit of that hostname: the first, then the renewed one.
      const id = hostnames[0]?.id;
      const edits = cloudflare.requests.filter(
        (r) => r.method === "PATCH" && r.path.endsWith(`/custom_hostnames/${id}`),
      );
      expect(edits.length).toBeGreaterThanOrEqual(2);
      // Each upload was read back, and what Cloudflare said of it is in the domain's history.
      const reads = cloudflare.requests.filter(
        (r) => r.method === "GET" && r.path.endsWith(`/custom_hostnames/${id}`),
      );
      expect(reads.length).toBe(edits.length);
      const events = (await call("GET", `/tracking-domains/${domain}/certificate/events`)).body as {
        results: { reason: string }[];
      };
      const deployed = events.results.filter((e) => e.reason.includes(" deployed; "));
      const edge = "(edge: Cloudflare hostname active, SSL pending_deployment)";
      expect(deployed.map((e) => e.reason.toLowerCase())).toContain(
        `certificate ${renewed} deployed; valid until ${new Date(leaf.validTo).toISOString()} ${edge}`.toLowerCase(),
      );
      const view = (await call("GET", `/tracking-domains/${domain}`)).body as {
        results: DomainResult;
      };
      expect(view.results.status.tls_status).toBe("valid");
    } finally {
      await policy(null);
    }
  });
});

describe("a worker in cloudflare-managed mode (Cloudflare issues the certificates)", () => {
  let worker: LocalWorker;
  let key: string;
  let persistTo: string;

  beforeAll(async () => {
    ({ worker, key, persistTo } = await cloudflareWorker("cloudflare-managed", {
      port: ports.cloudflareManagedWorker,
      // No CA is asked in this mode: a directory nothing answers proves it.
      acmeDirectory: "https://127.0.0.1:9/dir",
    }));
  }, 90_000);
  afterAll(async () => {
    await worker?.stop();
    if (persistTo) rmSync(persistTo, { recursive: true, force: true });
  });

  const call = (method: string, path: string, body?: unknown) =>
    apiCall(worker, key, method, path, body);
  interface ManagedView extends CertificateView {
    status: string;
    certificate: { serial: string; not_after: string } | null;
  }
  const certificateOf = async (domain: string) =>
    (
      (await call("GET", `/tracking-domains/${domain}/certificate`)).body as {
        results: ManagedView;
      }
    ).results;

  it("follows the hostname from created to active, showing a validation error and who fixes it", {
    timeout: 90_000,
  }, async () => {
    const domain = dynamicName("cf-managed");
    await dns.setCname(domain, localWorkerVars.V2_ENDPOINT_US);
    const problem = "CNAME record not found for the hostname";
    cloudflare.scriptNextManaged([
      { status: "pending", ssl: "initializing" },
      { status: "pending", ssl: "pending_validation", errors: [problem] },
      { status: "pending", ssl: "pending_validation" },
      { status: "active", ssl: "pending_deployment" },
      { status: "active", ssl: "active" },
    ]);
    expect((await call("POST", "/tracking-domains", { domain })).status).toBe(200);
    expect((await call("POST", `/tracking-domains/${domain}/verify`)).status).toBe(200);

    const seen: string[] = [];
    const deadline = Date.now() + 75_000;
    let view: ManagedView | undefined;
    while (Date.now() < deadline) {
      view = await certificateOf(domain);
      const entry = `${view.status} ${view.error?.code ?? "-"} ${view.error?.action_by ?? "-"}`;
      if (seen.at(-1) !== entry) seen.push(entry);
      if (view.status === "valid") break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // Cloudflare's validation error was shown while pending, as the customer's to fix.
    expect(seen).toContain("pending edge:validation customer");
    expect(view?.status).toBe("valid");
    expect(view?.error).toBeNull();
    // The certificate is the one Cloudflare serves, with its dates; nothing was uploaded.
    const hostnames = cloudflare.hostnames().filter((h) => h.hostname === domain);
    expect(hostnames).toHaveLength(1);
    expect(hostnames[0]?.certificatePem).toBe("");
    const served = cloudflare.requests.filter(
      (r) => r.method === "POST" && (r.body as { hostname?: string })?.hostname === domain,
    );
    expect(served.map((r) => r.body)).toEqual([
      {
        hostname: domain,
        ssl: { method: "http", type: "dv", settings: { min_tls_version: "1.2" } },
      },
    ]);
    expect(view?.certificate?.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(view?.certificate?.not_after ?? "") - Date.now()).toBeGreaterThan(
      89 * 24 * 3600_000,
    );
    const events = (await call("GET", `/tracking-domains/${domain}/certificate/events`)).body as {
      results: { reason: string }[];
    };
    const reasons = events.results.map((e) => e.reason);
    expect(reasons.some((r) => r.includes(problem))).toBe(true);
    expect(reasons.some((r) => r.includes("Cloudflare issues its certificate"))).toBe(true);
  });

  it("shows a hostname Cloudflare blocks as the provider's to take up, with no more attempts", {
    timeout: 60_000,
  }, async () => {
    const domain = dynamicName("cf-blocked");
    await dns.setCname(domain, localWorkerVars.V2_ENDPOINT_US);
    cloudflare.scriptNextManaged([{ status: "blocked", ssl: "initializing" }]);
    expect((await call("POST", "/tracking-domains", { domain })).status).toBe(200);
    expect((await call("POST", `/tracking-domains/${domain}/verify`)).status).toBe(200);
    const deadline = Date.now() + 45_000;
    let view: ManagedView | undefined;
    while (Date.now() < deadline) {
      view = await certificateOf(domain);
      if (view.error?.code === "edge:blocked") break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(view?.status).toBe("unavailable");
    expect(view?.error).toMatchObject({ code: "edge:blocked", action_by: "provider" });
    expect(view?.next_attempt_at).toBeNull();
  });
});
