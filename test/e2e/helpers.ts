// Calls to the worker under test and to the DNS test API (pebble-challtestsrv behind dnsmasq),
// from Node, as a customer's client and a customer's DNS provider would.
import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import { dynamicZone, urls } from "../../scripts/lib/stack-config";
import { wrangler } from "../../scripts/lib/wrangler";

export async function api(
  key: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: <T>() => Promise<T> }> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = key;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${inject("workerUrl")}/api/v1${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: <T>() => response.json() as Promise<T> };
}

/** A name in the dynamic test zone that no other test uses. */
export function dynamicName(label = "track"): string {
  return `${label}.c${randomUUID().slice(0, 8)}.${dynamicZone}`;
}

async function dnsApi(path: string, body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${urls.challtestsrv}${path}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`challtestsrv ${path}: HTTP ${response.status}`);
}

export const dns = {
  setCname: (host: string, target: string) => dnsApi("/set-cname", { host, target }),
  clearCname: (host: string) => dnsApi("/clear-cname", { host }),
  addA: (host: string, addresses: string[]) => dnsApi("/add-a", { host, addresses }),
  setServfail: (host: string) => dnsApi("/set-servfail", { host }),
  clearServfail: (host: string) => dnsApi("/clear-servfail", { host }),
  /** CAA records (flags 0) at `host`. */
  addCaa: (host: string, policies: { tag: string; value: string }[]) =>
    dnsApi("/add-caa", { host, policies }),
  clearCaa: (host: string) => dnsApi("/clear-caa", { host }),
  /** A TXT record at `host` (the DNS test API wants the name fully qualified). */
  setTxt: (host: string, value: string) => dnsApi("/set-txt", { host: `${host}.`, value }),
  clearTxt: (host: string) => dnsApi("/clear-txt", { host: `${host}.` }),
};

export interface DomainResult {
  domain: string;
  secure: boolean;
  port: number;
  https_mode: string;
  status: { verified: boolean; cname_status: string; tls_status: string };
  tls_certificate: {
    issued_at: string | null;
    expires_at: string | null;
    renews_at: string | null;
    error_code: string | null;
    error_detail: string | null;
    action_by: string | null;
    step: string | null;
    stuck: boolean;
  };
}

export async function getDomain(key: string, domain: string): Promise<DomainResult> {
  const response = await api(key, "GET", `/tracking-domains/${domain}`);
  if (response.status !== 200) throw new Error(`GET ${domain}: HTTP ${response.status}`);
  return (await response.json<{ results: DomainResult }>()).results;
}

/** Polls the domain until `done` says so; the last state in the error when time runs out. */
export async function waitForDomain(
  key: string,
  domain: string,
  done: (d: DomainResult) => boolean,
  timeoutMs = 30_000,
): Promise<DomainResult> {
  const deadline = Date.now() + timeoutMs;
  let last: DomainResult | undefined;
  while (Date.now() < deadline) {
    last = await getDomain(key, domain);
    if (done(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `${domain} did not get there within ${timeoutMs} ms; last: ${JSON.stringify(last)}`,
  );
}

/** A domain in the dynamic zone, CNAMEd to the V2 endpoint, created and verified (issuance starts). */
export async function verifiedManagedDomain(key: string, domain = dynamicName()): Promise<string> {
  await dns.setCname(domain, "v2.track-endpoint.test");
  const created = await api(key, "POST", "/tracking-domains", { domain });
  if (created.status !== 200) throw new Error(`create ${domain}: HTTP ${created.status}`);
  const verified = await api(key, "POST", `/tracking-domains/${domain}/verify`);
  if (verified.status !== 200) throw new Error(`verify ${domain}: HTTP ${verified.status}`);
  return domain;
}

/**
 * Makes the domain's last HTTPS probe `hours` old, as if that much time had passed: written to
 * the worker's local D1 with wrangler, as an operator would.
 */
export function backdateHttpsProbe(domain: string, hours: number): string {
  const at = new Date(Date.now() - hours * 3600_000).toISOString();
  d1Execute(`UPDATE tracking_domains SET https_checked_at = '${at}' WHERE domain = '${domain}'`);
  return at;
}

/** Runs SQL on the worker's local D1 with wrangler, as an operator would (the worker sees it). */
export function d1Execute(sql: string): void {
  const local = ["--local", "--yes", "--persist-to", inject("persistTo")];
  wrangler(["d1", "execute", "DB", ...local, "--command", sql]);
}

/** Reads rows from one of the worker's local databases (DB, or DB_EU for EU engagement). */
export function d1Query<T>(binding: "DB" | "DB_EU", sql: string): T[] {
  const local = ["--local", "--json", "--persist-to", inject("persistTo")];
  const out = wrangler(["d1", "execute", binding, ...local, "--command", sql]);
  return (JSON.parse(out) as { results: T[] }[])[0]?.results ?? [];
}

/** One Cron tick, run to its end (wrangler dev --test-scheduled). */
export async function cronTick(): Promise<void> {
  const response = await fetch(`${inject("workerUrl")}/__scheduled?cron=*+*+*+*+*`);
  if (response.status !== 200) throw new Error(`Cron tick: HTTP ${response.status}`);
}
