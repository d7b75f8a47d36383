// Certificate private keys with WebCrypto: ECDSA P-256 (the default) or RSA-2048, made
// extractable only so that they can be wrapped (key-wrap.ts) and handed to the TLS edge.
import type { Bytes } from "../util/encoding";

export type KeyAlgorithm = "ecdsa-p256" | "rsa-2048";

const algorithms = {
  "ecdsa-p256": {
    generate: { name: "ECDSA", namedCurve: "P-256" },
    import: { name: "ECDSA", namedCurve: "P-256" },
  },
  "rsa-2048": {
    generate: {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    import: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  },
} as const;

export async function generateKeyPair(
  algorithm: KeyAlgorithm = "ecdsa-p256",
): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(algorithms[algorithm].generate, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
}

export async function exportPkcs8(key: CryptoKey): Promise<Bytes> {
  return new Uint8Array((await crypto.subtle.exportKey("pkcs8", key)) as ArrayBuffer);
}

export async function importPkcs8(
  der: Bytes,
  algorithm: KeyAlgorithm = "ecdsa-p256",
): Promise<CryptoKey> {
  return crypto.subtle.importKey("pkcs8", der, algorithms[algorithm].import, true, ["sign"]);
}
