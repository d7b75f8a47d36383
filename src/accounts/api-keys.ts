// API keys: made from 160 random bits, shown once, stored only as a SHA-256 hash. Runs in
// workerd and in Node (the key-making script uses it too). Storage is in repository.ts.

import { hex, utf8 } from "../util/encoding";

const keyPrefix = "te_";
const keyPattern = /^te_[0-9a-f]{40}$/;

export interface NewApiKey {
  /** The key itself: give it to the user once and forget it. */
  key: string;
  hash: string;
  shortKey: string;
  /** How the API names the key (not derived from it, so it tells nothing about the key). */
  publicId: string;
}

export async function generateApiKey(): Promise<NewApiKey> {
  const key = keyPrefix + hex(crypto.getRandomValues(new Uint8Array(20)));
  return {
    key,
    hash: await hashApiKey(key),
    shortKey: key.slice(0, keyPrefix.length + 8),
    publicId: hex(crypto.getRandomValues(new Uint8Array(12))),
  };
}

/**
 * Keys carry 160 random bits, so a fast hash is enough: nobody can guess their way to a key
 * from the hash. Looking a key up by its hash also means no comparison ever runs on the secret.
 */
export async function hashApiKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", utf8(key));
  return hex(new Uint8Array(digest));
}

/** Whether a string has the shape of one of our keys (checked before any lookup). */
export function looksLikeApiKey(value: string): boolean {
  return keyPattern.test(value);
}

/**
 * The key from an Authorization header, as SparkPost accepts it: the bare key, `Bearer <key>`,
 * or HTTP Basic with the key as the user name and an empty password.
 */
export function apiKeyFromAuthorization(header: string | undefined): string | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  const [scheme, credentials] = value.split(/\s+/, 2);
  if (credentials === undefined) return value;
  if (scheme?.toLowerCase() === "bearer") return credentials;
  if (scheme?.toLowerCase() === "basic") {
    try {
      const decoded = atob(credentials);
      const colon = decoded.indexOf(":");
      return colon === -1 ? decoded : decoded.slice(0, colon);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
