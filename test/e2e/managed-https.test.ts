// Managed HTTPS end to end: the worker under wrangler dev, one Durable Object per domain running
// the ACME order against the stack's Pebble, which validates HTTP-01 against the worker itself
// (Pebble resolves the tracking domain through dnsmasq and challtestsrv to 127.0.0.1:5002).
import { randomUUID } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import { endpoints, exampleRecords, pebbleBlockedName, urls } from "../../scripts/lib/stack-config";
import { parseCertificate } from "../../src/pki/certificate";
import { certificatesFromPem } from "../../src/pki/pem";
import { api, dns, dynamicName, getDomain, verifiedManagedDomain, waitForDomain } from "./helpers";
import { opensslVerify, pebbleRoot } from "./pebble";

const key = () => inject("apiKeys").alpha;
const isValid = (d: { status: { tls_status: string } }) => d.status.tls_status === "valid";

interface CertificateState {
  status: string;
  step: string;
  error: { code: string; detail: string; action_by: string } | null;
  certificate: { serial: string; chain_pem: string; not_after: string } | null;
  history: { serial: string; status: string }[];
}

async function certificateOf(domain: string): Promise<CertificateState> {
  const response = await api(key(), "GET", `/tracking-domains/${domain}/certificate`);
  expect(response.status).toBe(200);
  return (await response.json<{ results: CertificateState }>()).results;
}

async function eventsOf(
  domain: string,
): Promise<{ from: string; to: string; reason: string; error_code: string | null }[]> {
  const response = await api(key(), "GET", `/tracking-domains/${domain}/certificate/events`);
  return (
    await response.json<{
      results: { from: string; to: string; reason: string; error_code: string | null }[];
    }>()
  ).results;
}

/** A customer domain of its own (so CAA can be set at its apex without touching others). */
const customerDomain = () => {
  const org = `c${randomUUID().slice(0, 8)}.dyn.test`;
  return { org, track: `track.${org}` };
};

describe("managed HTTPS", () => {
  it("takes a domain CNAMEd to the V2 endpoint from pending to valid by itself, in under 10 s", async () => {
    const domain = dynamicName();
    const started = Date.now();
    await verifiedManagedDomain(key(), domain);
    expect((await getDomain(key(), domain)).status.tls_status).toBe("pending");
    const valid = await waitForDomain(key(), domain, isValid, 10_000);
    expect(Date.now() - started).toBeLessThan(10_000);

    expect(valid).toMatchObject({
      secure: true,
      port: 443,
      https_mode: "managed",
      tls_certificate: { error_code: null, step: "installed", stuck: false },
    });
    const issuedAt = Date.parse(valid.tls_certificate.issued_at ?? "");
    expect(issuedAt).toBeGreaterThan(started - 1000);
    expect(Date.parse(valid.tls_certificate.expires_at ?? "")).toBeGreaterThan(Date.now());
    expect(Date.parse(valid.tls_certificate.renews_at ?? "")).toBeLessThan(
      Date.parse(valid.tls_certificate.expires_at ?? ""),
    );

    const state = await certificateOf(domain);
    const chain = certificatesFromPem(state.certificate?.chain_pem ?? "");
    expect(opensslVerify(chain, await pebbleRoot(urls.pebbleManagement), domain)).toBe(
      "leaf.pem: OK",
    );
    expect(parseCertificate(chain[0] as Uint8Array).serialHex).toBe(state.certificate?.serial);
    expect(state.history).toEqual([
      expect.objectContaining({ serial: state.certificate?.serial, status: "active" }),
    ]);

    // Each step once, in order. (A step may repeat when the CA restarted since the last test
    // file: the account is registered again and the order placed again.)
    const steps = (await eventsOf(domain))
      .map((e) => e.to)
      .reverse()
      .filter((step, i, all) => step !== all[i - 1]);
    expect(steps).toEqual([
      "check",
      "order",
      "authorize",
      "await_authorization",
      "finalize",
      "await_certificate",
      "download",
      "deploy",
      "installed",
    ]);
  });

  it("issues for 20 domains enabled at once", async () => {
    const domains = await Promise.all(
      Array.from({ length: 20 }, () => verifiedManagedDomain(key())),
    );
    const results = await Promise.all(domains.map((d) => waitForDomain(key(), d, isValid, 30_000)));
    expect(results.every((d) => d.secure)).toBe(true);
  });

  it("stops at CAA that forbids the CA: failed, caa:forbidden, the customer's to fix, with the record to add", async () => {
    const { org, track } = customerDomain();
    await dns.addCaa(org, [{ tag: "issue", value: ";" }]);
    await verifiedManagedDomain(key(), track);
    const failed = await waitForDomain(key(), track, (d) => d.status.tls_status === "failed");
    expect(failed.tls_certificate).toMatchObject({
      error_code: "caa:forbidden",
      action_by: "customer",
    });
    expect(failed.tls_certificate.error_detail).toContain(`${org}. CAA 0 issue "letsencrypt.org"`);
    expect(failed.secure).toBe(false);
  });

  it("stops at CAA that allows the CA only with dns-01", async () => {
    const { org, track } = customerDomain();
    await dns.addCaa(org, [{ tag: "issue", value: "letsencrypt.org; validationmethods=dns-01" }]);
    await verifiedManagedDomain(key(), track);
    const failed = await waitForDomain(key(), track, (d) => d.status.tls_status === "failed");
    expect(failed.tls_certificate).toMatchObject({
      error_code: "caa:forbidden",
      action_by: "customer",
    });
    expect(failed.tls_certificate.error_detail).toContain("validationmethods=dns-01");
    expect(failed.tls_certificate.error_detail).toContain("http-01");
  });

  it("issues when CAA names the CA", async () => {
    const { org, track } = customerDomain();
    await dns.addCaa(org, [
      { tag: "issue", value: "letsencrypt.org" },
      { tag: "iodef", value: "mailto:security@example.test" },
    ]);
    await verifiedManagedDomain(key(), track);
    await waitForDomain(key(), track, isValid);
  });

  it("marks a name the CA refuses unavailable (acme:rejected_identifier), without retrying", async () => {
    await verifiedManagedDomain(key(), pebbleBlockedName);
    const refused = await waitForDomain(
      key(),
      pebbleBlockedName,
      (d) => d.status.tls_status === "unavailable",
    );
    expect(refused.tls_certificate).toMatchObject({
      error_code: "acme:rejected_identifier",
      step: "idle",
    });
    expect((await certificateOf(pebbleBlockedName)).error?.detail).toContain("will not issue");
  });

  it("marks a name on our policy blocklist unavailable (policy:blocked)", async () => {
    const domain = `track.${randomUUID().slice(0, 8)}.forbidden.dyn.test`;
    await verifiedManagedDomain(key(), domain);
    const blocked = await waitForDomain(
      key(),
      domain,
      (d) => d.status.tls_status === "unavailable",
    );
    expect(blocked.tls_certificate.error_code).toBe("policy:blocked");
  });

  it("says a domain on the standard endpoint is not supported, and refuses to enable it", async () => {
    await dns.setCname(exampleRecords.standard.name, endpoints.standardUs);
    const domain = dynamicName("legacy");
    await dns.setCname(domain, endpoints.standardUs);
    expect((await api(key(), "POST", "/tracking-domains", { domain, secure: false })).status).toBe(
      200,
    );
    expect(
      (
        await (
          await api(key(), "POST", `/tracking-domains/${domain}/verify`)
        ).json<{ results: { verified: boolean } }>()
      ).results.verified,
    ).toBe(true);

    const check = await api(key(), "POST", `/tracking-domains/${domain}/certificate/check`);
    const report = (
      await check.json<{
        results: {
          eligible: boolean;
          checks: { name: string; status: string; error_code: string; fix: string }[];
        };
      }>()
    ).results;
    expect(report.eligible).toBe(false);
    expect(report.checks.find((c) => c.name === "cname")).toMatchObject({
      status: "fail",
      error_code: "dns:standard_endpoint",
      fix: `Change the CNAME of ${domain} to ${endpoints.v2Us}`,
    });
    expect(report.checks.filter((c) => c.name !== "cname").every((c) => c.status === "pass")).toBe(
      true,
    );

    for (const attempt of [
      api(key(), "POST", `/tracking-domains/${domain}/certificate/enable`),
      api(key(), "PUT", `/tracking-domains/${domain}`, { secure: true }),
    ]) {
      const response = await attempt;
      expect(response.status).toBe(422);
      const error = (await response.json<{ errors: { message: string; description: string }[] }>())
        .errors[0];
      expect(error?.message).toContain("dns:standard_endpoint");
      expect(error?.description).toContain(endpoints.v2Us);
    }
    expect((await getDomain(key(), domain)).https_mode).toBe("none");
  });

  it("enables an insecure domain once it is eligible", async () => {
    const domain = dynamicName("optin");
    await dns.setCname(domain, endpoints.v2Us);
    await api(key(), "POST", "/tracking-domains", { domain, secure: false });
    const unverified = await api(key(), "POST", `/tracking-domains/${domain}/certificate/enable`);
    expect(unverified.status).toBe(422);
    expect(
      (await unverified.json<{ errors: { description: string }[] }>()).errors[0]?.description,
    ).toContain("Verify");
    await api(key(), "POST", `/tracking-domains/${domain}/verify`);
    const enabled = await api(key(), "POST", `/tracking-domains/${domain}/certificate/enable`);
    expect(enabled.status).toBe(200);
    await waitForDomain(key(), domain, isValid);
  });

  it("waits out a DNS failure (dns:resolution_failed) and recovers by itself once DNS answers", async () => {
    const { org, track } = customerDomain();
    // The CNAME answers (so the domain verifies), but CAA lookups climbing to the apex fail.
    await dns.setServfail(org);
    await verifiedManagedDomain(key(), track);
    const waiting = await waitForDomain(
      key(),
      track,
      (d) => d.tls_certificate.error_code === "dns:resolution_failed",
    );
    expect(waiting.status.tls_status).toMatch(/pending|failed/);
    expect(waiting.tls_certificate.error_detail).toContain("SERVFAIL");
    await dns.clearServfail(org);
    const recovered = await waitForDomain(key(), track, isValid, 45_000);
    expect(recovered.tls_certificate.error_code).toBeNull();
  });

  it("keeps the certificate state and events from other accounts", async () => {
    const domain = await verifiedManagedDomain(key());
    const stranger = inject("apiKeys").beta;
    for (const path of ["certificate", "certificate/events"]) {
      expect((await api(stranger, "GET", `/tracking-domains/${domain}/${path}`)).status).toBe(404);
    }
    for (const path of ["certificate/check", "certificate/enable"]) {
      expect((await api(stranger, "POST", `/tracking-domains/${domain}/${path}`)).status).toBe(404);
    }
  });
});
