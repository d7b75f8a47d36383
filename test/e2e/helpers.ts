// Calls to the worker under test and to the DNS test API (pebble-challtestsrv behind dnsmasq),
// from Node, as a customer's client and a customer's DNS provider would.
import { randomUUID } from "node:crypto";
import { inject } from "vitest";
import { dynamicZone, urls } from "../../scripts/lib/stack-config";

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
};
