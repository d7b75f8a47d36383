// Renewal end to end, with Pebble issuing one-minute certificates: the certificate renews by
// itself with no moment unserved; broken DNS keeps the old certificate valid to its end, then
// expired with the reason, then valid again once fixed; and with a renewal window from the CA
// (the stand-in in front of Pebble) the renewal lands in the window and names what it replaces.
// A managed domain still behind the customer's proxy renews through it, probing it again.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startPebble } from "../../scripts/lib/local-stack";
import { sleep, stopDaemon } from "../../scripts/lib/processes";
import { ports } from "../../scripts/lib/stack-config";
import { certificateIdOf } from "../../src/acme/ari";
import { certificatesFromPem } from "../../src/pki/pem";
import { startNginxProxy } from "../support/nginx-proxy";
import {
  api,
  backdateHttpsProbe,
  type DomainResult,
  dns,
  dynamicName,
  getDomain,
  verifiedManagedDomain,
  waitForDomain,
} from "./helpers";

const key = () => inject("apiKeys").alpha;
const lifetimeSeconds = 60;

interface CertificateView {
  status: string;
  error: { code: string } | null;
  certificate: {
    serial: string;
    not_after: string;
    chain_pem: string;
    renewal_info: {
      window_start: string;
      window_end: string;
      selected: string;
      explanation_url: string | null;
    } | null;
  } | null;
  history: { serial: string; status: string }[];
}

async function certificateOf(domain: string): Promise<CertificateView> {
  return (
    await (
      await api(key(), "GET", `/tracking-domains/${domain}/certificate`)
    ).json<{ results: CertificateView }>()
  ).results;
}

async function events(domain: string): Promise<{ at: string; to: string; reason: string }[]> {
  return (
    await (
      await api(key(), "GET", `/tracking-domains/${domain}/certificate/events?limit=500`)
    ).json<{ results: { at: string; to: string; reason: string }[] }>()
  ).results;
}

/** The domain's last HTTPS probe through its proxy, as the API shows it. */
async function httpsCheckOf(
  domain: string,
): Promise<{ checked_at: string; passed: boolean } | null> {
  const response = await api(key(), "GET", `/tracking-domains/${domain}`);
  return (
    await response.json<{
      results: { https_check: { checked_at: string; passed: boolean } | null };
    }>()
  ).results.https_check;
}

const ariControl = () => inject("ariDirectory").replace(/\/dir$/, "/control");
const setWindowPolicy = (policy: { startInSeconds: number; endInSeconds: number } | null) =>
  fetch(`${ariControl()}/policy`, { method: "PUT", body: JSON.stringify(policy) });

/**
 * Watches a domain until `until` holds, checking at every look that it is served: valid, with a
 * certificate that has not expired. Returns every state seen.
 */
async function watch(
  domain: string,
  until: (d: DomainResult) => boolean,
  timeoutMs: number,
  served = true,
): Promise<DomainResult[]> {
  const seen: DomainResult[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await getDomain(key(), domain);
    seen.push(d);
    if (served) {
      expect(d.status.tls_status, `${domain} at ${new Date().toISOString()}`).toBe("valid");
      expect(Date.parse(d.tls_certificate.expires_at ?? "")).toBeGreaterThan(Date.now());
    }
    if (until(d)) return seen;
    if (Date.now() > deadline)
      throw new Error(`timed out; last: ${JSON.stringify(d.tls_certificate)}`);
    await sleep(250);
  }
}

beforeAll(async () => {
  await stopDaemon("pebble");
  await startPebble({ config: { certificateValidityPeriod: lifetimeSeconds } });
});

afterAll(async () => {
  await setWindowPolicy(null);
  await stopDaemon("pebble");
  await startPebble();
});

describe("renewal", () => {
  it("renews by itself before expiry, never leaving the domain without a valid certificate", async () => {
    const domain = await verifiedManagedDomain(key());
    const first = await waitForDomain(key(), domain, (d) => d.status.tls_status === "valid");
    const firstSerial = (await certificateOf(domain)).certificate?.serial;
    // Without a window from the CA: renewal when a third of the lifetime remains.
    expect(
      Date.parse(first.tls_certificate.renews_at ?? "") -
        Date.parse(first.tls_certificate.expires_at ?? ""),
    ).toBeLessThan(-15_000);

    await watch(
      domain,
      (d) => d.tls_certificate.issued_at !== first.tls_certificate.issued_at,
      90_000,
    );
    const after = await certificateOf(domain);
    expect(after.certificate?.serial).not.toBe(firstSerial);
    expect(after.history.map((h) => [h.serial, h.status])).toEqual([
      [after.certificate?.serial, "active"],
      [firstSerial, "superseded"],
    ]);
  }, 120_000);

  it("keeps an old certificate valid while renewal fails, then shows it expired with the reason, then recovers once DNS is fixed", async () => {
    const org = `c${randomUUID().slice(0, 8)}.dyn.test`;
    const domain = await verifiedManagedDomain(key(), `track.${org}`);
    const first = await waitForDomain(key(), domain, (d) => d.status.tls_status === "valid");
    await dns.addCaa(org, [{ tag: "issue", value: ";" }]);

    // Until it expires, the certificate keeps serving; the failing renewal shows as an error.
    const failing = await watch(
      domain,
      (d) => d.tls_certificate.error_code === "caa:forbidden",
      90_000,
    );
    expect(failing.at(-1)?.tls_certificate.error_detail).toContain(
      `${org}. CAA 0 issue "letsencrypt.org"`,
    );

    const expired = await waitForDomain(
      key(),
      domain,
      (d) => d.status.tls_status === "expired",
      60_000,
    );
    expect(Date.now()).toBeGreaterThan(Date.parse(first.tls_certificate.expires_at ?? ""));
    expect(expired.tls_certificate).toMatchObject({
      error_code: "caa:forbidden",
      action_by: "customer",
    });
    expect(expired.secure).toBe(false);

    await dns.clearCaa(org);
    const recovered = await waitForDomain(
      key(),
      domain,
      (d) => d.status.tls_status === "valid",
      60_000,
    );
    expect(recovered.tls_certificate.error_code).toBeNull();
    expect(recovered.tls_certificate.issued_at).not.toBe(first.tls_certificate.issued_at);
  }, 180_000);

  it("renews inside the CA's suggested window, naming the certificate it replaces", async () => {
    await setWindowPolicy({ startInSeconds: 15, endInSeconds: 25 });
    const domain = await verifiedManagedDomain(key());
    await waitForDomain(key(), domain, (d) => d.status.tls_status === "valid");
    const withWindow = await (async () => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const view = await certificateOf(domain);
        if (view.certificate?.renewal_info) return view;
        if (Date.now() > deadline) throw new Error("no renewal window recorded");
        await sleep(100);
      }
    })();
    const window = withWindow.certificate?.renewal_info;
    const oldId = certificateIdOf(
      certificatesFromPem(withWindow.certificate?.chain_pem ?? "")[0] as Uint8Array,
    );
    expect(window?.explanation_url).toBe(
      inject("ariDirectory").replace(/\/dir$/, "/docs/renewal-window"),
    );
    const selected = Date.parse(window?.selected ?? "");
    expect(selected).toBeGreaterThanOrEqual(Date.parse(window?.window_start ?? ""));
    expect(selected).toBeLessThanOrEqual(Date.parse(window?.window_end ?? ""));

    await watch(
      domain,
      (d) =>
        d.tls_certificate.issued_at !== null && Date.parse(d.tls_certificate.issued_at) > selected,
      60_000,
    );
    const log = await events(domain);
    const due = log.find((e) => e.reason.includes("renewal due"));
    // The renewal started at the chosen point (an alarm, so within a moment of it), inside the window.
    expect(Date.parse(due?.at ?? "")).toBeGreaterThanOrEqual(selected);
    expect(Date.parse(due?.at ?? "")).toBeLessThan(Date.parse(window?.window_end ?? "") + 5000);
    expect(log.some((e) => e.reason === `renewal order placed (replaces ${oldId})`)).toBe(true);
  }, 90_000);

  it("renews a managed domain still behind the customer's proxy, probing through it again when the last probe is over a day old", async () => {
    // Migrated from self-managed HTTPS, the CNAME never moved: the CA validates through nginx.
    const domain = dynamicName("behind-proxy");
    const proxy = await startNginxProxy(
      { address: "127.0.0.2", port: ports.selfManagedProxy, httpPort: ports.worker },
      [{ name: domain, origin: inject("workerUrl"), certificate: "good" }],
    );
    try {
      await dns.addA(domain, [proxy.address]);
      await api(key(), "POST", "/tracking-domains", { domain, https_mode: "self_managed" });
      const verified = await api(key(), "POST", `/tracking-domains/${domain}/verify`);
      expect((await verified.json<{ results: { verified: boolean } }>()).results.verified).toBe(
        true,
      );
      const switched = await api(key(), "PUT", `/tracking-domains/${domain}`, {
        https_mode: "managed",
      });
      expect(switched.status).toBe(200);
      const first = await waitForDomain(key(), domain, (d) => d.status.tls_status === "valid");

      // By the renewal, the probe that let it issue is over a day old, as it would be in production.
      const dayOld = backdateHttpsProbe(domain, 24 + 1 / 60);
      expect((await httpsCheckOf(domain))?.checked_at).toBe(dayOld);
      await watch(
        domain,
        (d) => d.tls_certificate.issued_at !== first.tls_certificate.issued_at,
        90_000,
      );

      const probed = await httpsCheckOf(domain);
      expect(probed?.passed).toBe(true);
      expect(Date.parse(probed?.checked_at ?? "")).toBeGreaterThan(
        Date.parse(first.tls_certificate.issued_at ?? ""),
      );
    } finally {
      await proxy.stop();
    }
  }, 150_000);
});
