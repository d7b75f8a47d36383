// How an endpoint knows a delivery is ours: Standard Webhooks signatures
// (https://www.standardwebhooks.com): headers webhook-id, webhook-timestamp (Unix seconds) and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>" under the webhook's secret,
// which is shown once, as "whsec_<base64>". Any Standard Webhooks library verifies it.
import { base64, fromBase64, utf8 } from "../util/encoding";

const secretPrefix = "whsec_";

/** A new signing secret: 32 random bytes. */
export function newSigningSecret(): string {
  return secretPrefix + base64(crypto.getRandomValues(new Uint8Array(32)));
}

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** The three headers that sign `body`, sent as message `id` at `at`. */
export async function signDelivery(
  secret: string,
  id: string,
  at: Date,
  body: string,
): Promise<SignedHeaders> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const key = await crypto.subtle.importKey(
    "raw",
    fromBase64(secret.slice(secretPrefix.length)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, utf8(`${id}.${timestamp}.${body}`));
  return {
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": `v1,${base64(new Uint8Array(mac))}`,
  };
}
