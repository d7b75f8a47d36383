// How an endpoint knows a delivery is ours: Standard Webhooks signatures
// (https://www.standardwebhooks.com): headers webhook-id, webhook-timestamp (Unix seconds) and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>" under the webhook's secret,
// which is shown once, as "whsec_<base64>". Any Standard Webhooks library verifies it. While a
// replaced secret is still honoured, a delivery carries one signature per secret (space-separated,
// as the standard allows), so endpoints can move to the new secret without refusing anything.
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

/** The three headers that sign `body`, sent as message `id` at `at`, under each of `secrets`. */
export async function signDelivery(
  secrets: readonly string[],
  id: string,
  at: Date,
  body: string,
): Promise<SignedHeaders> {
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const signed = utf8(`${id}.${timestamp}.${body}`);
  const signatures = await Promise.all(
    secrets.map(async (secret) => {
      const key = await crypto.subtle.importKey(
        "raw",
        fromBase64(secret.slice(secretPrefix.length)),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      return `v1,${base64(new Uint8Array(await crypto.subtle.sign("HMAC", key, signed)))}`;
    }),
  );
  return {
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": signatures.join(" "),
  };
}
