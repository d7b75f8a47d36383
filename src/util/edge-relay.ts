// Requests our own TLS edge relays (edge-pull mode, scripts/tls-edge.ts). The edge reaches the
// Worker at an API host that Cloudflare routes to it, so the tracking domain and the client's
// address travel in headers; they are believed only next to the edge token (EDGE_PULL_TOKEN,
// compared in constant time). Without it the headers mean nothing, and the request is taken as
// it came (Cloudflare's own CF-Connecting-IP stays the client's address).
import { sameSecret } from "./constant-time";

export const relayHeaders = {
  token: "x-tracking-edge-token",
  host: "x-tracking-edge-host",
  client: "x-tracking-edge-client",
  proto: "x-tracking-edge-proto",
} as const;

/** Shorter edge tokens are refused as configuration: they could be guessed. */
export const minimumEdgeTokenLength = 32;

const hostName = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;

/**
 * The request as the client sent it to the edge, when `request` carries a valid relay: its URL
 * on the tracking host, and CF-Connecting-IP the client's address. Null when it is no relay (or
 * one without the right token), and the request stands as it is.
 */
export function relayedRequest(request: Request, edgeToken: string | undefined): Request | null {
  const presented = request.headers.get(relayHeaders.token);
  if (presented === null) return null;
  const secret = edgeToken ?? "";
  if (secret.length < minimumEdgeTokenLength || !sameSecret(presented, secret)) return null;
  const host = request.headers.get(relayHeaders.host)?.toLowerCase() ?? "";
  const client = request.headers.get(relayHeaders.client) ?? "";
  const proto = request.headers.get(relayHeaders.proto) === "http" ? "http" : "https";
  if (!hostName.test(host) || client === "") return null;
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  for (const name of Object.values(relayHeaders)) headers.delete(name);
  headers.set("cf-connecting-ip", client);
  headers.set("host", host);
  return new Request(`${proto}://${host}${url.pathname}${url.search}`, {
    method: request.method,
    headers,
    body: request.body,
    redirect: "manual",
  });
}
