// The Cloudflare for SaaS deployer: each tracking domain is a custom hostname on our SaaS zone,
// serving our certificate (a custom certificate and key, uploaded with the official SDK).
// route: make sure the hostname exists (a verified domain on HTTP only needs it to reach us);
// deploy: find the hostname by name, replace its certificate, or create it with the certificate,
// then read the hostname back: Cloudflare must hold our serial, and its hostname and SSL status
// (pending_deployment while the certificate spreads to the edge) go into the domain's events;
// remove: delete the hostname. Both idempotent: looked up by name every time, nothing to drift.
// Cloudflare's failures become DeployErrors (deploy:*) that the lifecycle shows and retries.
import { APIConnectionError, APIError } from "cloudflare/core/error";
import { BaseCustomHostnames } from "cloudflare/resources/custom-hostnames/custom-hostnames";
import { createClient } from "cloudflare/tree-shakable";
import {
  DeployError,
  type Deployer,
  type DeployReceipt,
  type EdgeAdmission,
  type EdgeAdmissions,
} from "./deployer";

export interface CloudflareSaasOptions {
  apiToken: string;
  zoneId: string;
  /** The API's base URL; the SDK's default (api.cloudflare.com/client/v4) when absent. */
  baseUrl?: string;
  /** Per request; a step of the lifecycle must stay bounded. */
  timeoutMs?: number;
}

/** The SaaS zone's custom hostnames, through the official SDK; shared by both Cloudflare modes. */
export function saasZone(options: CloudflareSaasOptions) {
  const client = createClient({
    resources: [BaseCustomHostnames],
    apiToken: options.apiToken,
    ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
    timeout: options.timeoutMs ?? 15_000,
    // No retries inside the SDK (it would wait out a long Retry-After within the step): the
    // lifecycle retries on its own schedule, and shows the error meanwhile.
    maxRetries: 0,
  });
  const zone_id = options.zoneId;
  /** The custom hostnames named `domain` (one, unless someone added another by hand). */
  const named = async (domain: string) => {
    const page = await client.customHostnames.list({ zone_id, hostname: { exact: domain } });
    return page.result.filter((h) => h.hostname === domain);
  };
  return {
    client,
    zone_id,
    named,
    /**
     * Self-managed names on this zone: added with `create`, and given to `refresh` when Cloudflare
     * moved them (it gave up validating, or the name left us), which puts them back to pending.
     */
    admissions(
      create: (domain: string) => Promise<OwnershipView>,
      refresh: (found: OwnershipView) => Promise<OwnershipView>,
    ): EdgeAdmissions {
      return {
        ensure: (domain) =>
          cloudflareCall(`add ${domain}`, async () => {
            const [found] = (await named(domain)) as OwnershipView[];
            if (!found) return admissionOf(await create(domain));
            return admissionOf(found.status === "moved" ? await refresh(found) : found);
          }),
        read: (domain) =>
          cloudflareCall(`read ${domain}`, async () => {
            const [found] = (await named(domain)) as OwnershipView[];
            return found ? admissionOf(found) : null;
          }),
      };
    },
    /** Deletes every custom hostname named `domain`; one gone already is what we wanted. */
    async removeNamed(domain: string): Promise<void> {
      for (const { id } of await named(domain)) {
        await client.customHostnames.delete(id, { zone_id }).catch((error: unknown) => {
          // Gone already (a retry after a lost answer): that is what we wanted.
          if (!(error instanceof APIError && error.status === 404)) throw error;
        });
      }
    },
  };
}

/** The part of a custom hostname that says whether Cloudflare routes it, as documented. */
export interface OwnershipView {
  id: string;
  hostname: string;
  status?: string;
  verification_errors?: string[];
  /** Pre-validation by TXT: the record Cloudflare looks for while the hostname is pending. */
  ownership_verification?: { type?: string; name?: string; value?: string };
}

/** Cloudflare's statuses in which the hostname's requests reach the zone (and our Worker). */
const routedStatuses = new Set(["active", "active_redeploying"]);

export function admissionOf(view: OwnershipView): EdgeAdmission {
  const status = view.status ?? "unknown";
  const txt = view.ownership_verification;
  return {
    status,
    active: routedStatuses.has(status),
    record:
      txt?.type === "txt" && txt.name && txt.value ? { name: txt.name, value: txt.value } : null,
    problems: view.verification_errors ?? [],
  };
}

export function cloudflareSaasDeployer(options: CloudflareSaasOptions): Deployer {
  const { client, zone_id, named, removeNamed, admissions } = saasZone(options);
  const hostnamesNamed = async (domain: string) => (await named(domain)).map((h) => h.id);
  const create = (domain: string) =>
    client.customHostnames.create({ zone_id, hostname: domain }) as Promise<OwnershipView>;

  return {
    // Without a certificate to keep, a moved hostname is simply made again (pending once more).
    admission: admissions(create, async (found) => {
      await client.customHostnames.delete(found.id, { zone_id });
      return create(found.hostname);
    }),
    async route(domain) {
      await cloudflareCall(`route ${domain}`, async () => {
        // A custom hostname without a certificate: requests reach the Worker over HTTP; our
        // certificate is added by deploy once managed HTTPS has one.
        if ((await hostnamesNamed(domain)).length === 0)
          await client.customHostnames.create({ zone_id, hostname: domain });
      });
    },
    async deploy({ domain, serial, chainPem, privateKeyPem }) {
      const ssl = {
        custom_certificate: chainPem,
        custom_key: await privateKeyPem(),
        // Serve the chain exactly as the CA sent it.
        bundle_method: "force" as const,
        settings: { min_tls_version: "1.2" as const },
      };
      return cloudflareCall(`deploy ${domain}`, async (): Promise<DeployReceipt> => {
        const [id] = await hostnamesNamed(domain);
        const written = id
          ? await client.customHostnames.edit(id, { zone_id, ssl })
          : await client.customHostnames.create({ zone_id, hostname: domain, ssl });
        const read = await client.customHostnames.get(written.id, { zone_id });
        const held = read.ssl?.serial_number;
        if (held !== undefined && !sameSerial(held, serial)) {
          throw new DeployError(
            "deploy:unavailable",
            `Cloudflare holds certificate serial ${held} for ${domain}, not ${serial}`,
          );
        }
        // The serial is documented for uploaded certificates; one not shown is noted, not fatal.
        const unconfirmed = held === undefined ? ", serial not shown" : "";
        return {
          edgeStatus: `Cloudflare hostname ${read.status ?? "unknown"}, SSL ${read.ssl?.status ?? "unknown"}${unconfirmed}`,
        };
      });
    },
    async remove(domain) {
      await cloudflareCall(`remove ${domain}`, () => removeNamed(domain));
    },
  };
}

export async function cloudflareCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw error instanceof DeployError ? error : deployErrorFrom(what, error);
  }
}

/** Two spellings of one serial number: hex in either case, with or without colons and leading zeros. */
export function sameSerial(a: string, b: string): boolean {
  const canonical = (serial: string) => serial.replaceAll(":", "").toLowerCase().replace(/^0+/, "");
  return canonical(a) === canonical(b);
}

const notEntitled = /enterprise|entitle/i;

/** What a Cloudflare API failure means for the lifecycle. */
export function deployErrorFrom(what: string, error: unknown): DeployError {
  if (error instanceof APIConnectionError) {
    return new DeployError(
      "deploy:unavailable",
      `Cloudflare could not be reached (${what}): ${error.message}`,
    );
  }
  if (error instanceof APIError) {
    const said = error.errors.map((e) => `${e.code}: ${e.message}`).join("; ");
    const message = `Cloudflare answered HTTP ${error.status} to ${what}${said ? ` (${said})` : ""}`;
    const status = error.status ?? 0;
    // Cloudflare words a feature the zone's plan lacks as needing Enterprise or an entitlement
    // (custom certificates on custom hostnames are Enterprise-only): not a credentials problem.
    if (
      (status === 400 || status === 403) &&
      error.errors.some((e) => notEntitled.test(e.message ?? ""))
    )
      return new DeployError("deploy:not_entitled", message);
    if (status === 401 || status === 403) return new DeployError("deploy:unauthorized", message);
    if (status === 429) {
      const seconds = Number(error.headers?.get("retry-after"));
      return new DeployError(
        "deploy:rate_limited",
        message,
        Number.isFinite(seconds) && seconds > 0 ? new Date(Date.now() + seconds * 1000) : undefined,
      );
    }
    if (status >= 500) return new DeployError("deploy:unavailable", message);
    return new DeployError("deploy:rejected", message);
  }
  return new DeployError(
    "deploy:unavailable",
    `Cloudflare's answer to ${what} made no sense: ${(error as Error).message}`,
  );
}
