// The cloudflare-managed mode, for any plan with Cloudflare for SaaS: each tracking domain is a
// custom hostname whose certificate Cloudflare issues and renews itself (DV, HTTP validation,
// which Cloudflare answers at its own edge). Our ACME pipeline is not used; the domain's object
// follows the hostname through Cloudflare's documented states instead (see managed-runner.ts).
// route: the hostname with a Cloudflare certificate; deploy: nothing to upload, only a read;
// remove: delete the hostname.
import { type CloudflareSaasOptions, cloudflareCall, saasZone } from "./cloudflare-saas";
import type { Deployer, EdgeCertificate, EdgeHostname, ManagedEdge } from "./deployer";

/** The part of a custom hostname this mode reads, as the API reference documents it. */
interface HostnameView {
  id: string;
  status?: string;
  verification_errors?: string[];
  ssl?: {
    status?: string;
    issuer?: string;
    serial_number?: string;
    expires_on?: string;
    uploaded_on?: string;
    validation_errors?: { message?: string }[];
    /** Listed for Cloudflare-issued certificates in the API's examples; absent in the SDK's types. */
    certificates?: {
      issuer?: string;
      serial_number?: string;
      issued_on?: string;
      expires_on?: string;
    }[];
  } | null;
}

const ssl = {
  method: "http" as const,
  type: "dv" as const,
  settings: { min_tls_version: "1.2" as const },
};

export function cloudflareManagedEdge(options: CloudflareSaasOptions): Deployer & ManagedEdge {
  const { client, zone_id, named, removeNamed, admissions } = saasZone(options);

  const read = async (domain: string): Promise<EdgeHostname | null> => {
    const [found] = await named(domain);
    return found ? edgeHostnameOf(found as HostnameView) : null;
  };

  const ensure = async (domain: string): Promise<EdgeHostname> => {
    const [found] = await named(domain);
    if (!found) {
      const created = await client.customHostnames.create({ zone_id, hostname: domain, ssl });
      return edgeHostnameOf(created as HostnameView);
    }
    const view = edgeHostnameOf(found as HostnameView);
    // Cloudflare stops validating after its backoff schedule; a PATCH with the method starts it
    // again (its documented way to retry validation).
    if (view.stage !== "timed_out") return view;
    const edited = await client.customHostnames.edit(found.id, { zone_id, ssl });
    return edgeHostnameOf(edited as HostnameView);
  };

  return {
    // A refresh is a PATCH with the same SSL method and type (Cloudflare's documented way).
    admission: admissions(
      (domain) => client.customHostnames.create({ zone_id, hostname: domain, ssl }),
      (found) => client.customHostnames.edit(found.id, { zone_id, ssl }),
    ),
    ensure: (domain) => cloudflareCall(`ensure ${domain}`, () => ensure(domain)),
    read: (domain) => cloudflareCall(`read ${domain}`, () => read(domain)),
    async route(domain) {
      await cloudflareCall(`route ${domain}`, () => ensure(domain));
    },
    async deploy({ domain }) {
      // Cloudflare holds the certificate already: say what it says of it.
      const view = await cloudflareCall(`read ${domain}`, () => read(domain));
      return {
        edgeStatus: view
          ? `Cloudflare hostname ${view.hostnameStatus}, SSL ${view.certificateStatus}`
          : "Cloudflare no longer lists the hostname",
      };
    },
    async remove(domain) {
      await cloudflareCall(`remove ${domain}`, () => removeNamed(domain));
    },
  };
}

const timedOut = /_timed_out$/;

/** Cloudflare's hostname and SSL statuses, as the stage of getting a certificate. */
export function edgeHostnameOf(view: HostnameView): EdgeHostname {
  const hostnameStatus = view.status ?? "unknown";
  const certificateStatus = view.ssl?.status ?? "unknown";
  const problems = [
    ...(view.verification_errors ?? []),
    ...(view.ssl?.validation_errors ?? []).flatMap((e) => (e.message ? [e.message] : [])),
  ];
  const certificate = certificateOf(view);
  const stage: EdgeHostname["stage"] =
    hostnameStatus === "blocked" || hostnameStatus === "pending_blocked"
      ? "blocked"
      : hostnameStatus === "moved"
        ? "moved"
        : timedOut.test(certificateStatus)
          ? "timed_out"
          : hostnameStatus === "active" && certificateStatus === "active" && certificate
            ? "active"
            : "pending";
  return { hostnameStatus, certificateStatus, stage, problems, certificate };
}

const ninetyDays = 90 * 24 * 3600_000;

/** The certificate Cloudflare serves, from the fields the API gives for it. */
function certificateOf(view: HostnameView): EdgeCertificate | null {
  const listed = view.ssl?.certificates?.[0];
  const serial = listed?.serial_number ?? view.ssl?.serial_number;
  const expires = listed?.expires_on ?? view.ssl?.expires_on;
  if (!serial || !expires || Number.isNaN(Date.parse(expires))) return null;
  const notAfter = new Date(expires);
  const issued = listed?.issued_on ?? view.ssl?.uploaded_on;
  // Without an issue date, Cloudflare's certificates are 90-day ones.
  const notBefore =
    issued && !Number.isNaN(Date.parse(issued))
      ? new Date(issued)
      : new Date(notAfter.getTime() - ninetyDays);
  return {
    serial: serial.replaceAll(":", "").toLowerCase(),
    issuer: listed?.issuer ?? view.ssl?.issuer ?? null,
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
  };
}
