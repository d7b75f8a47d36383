// Comparisons of secrets whose time does not depend on where the texts differ.
import { sha256 } from "@noble/hashes/sha2.js";
import { urlAlphabet, utf8 } from "./encoding";

/** Equal texts of equal length; the time depends only on the length. */
export function equalInConstantTime(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * Whether `text` is the unpadded base64url of `bytes` (only the canonical spelling), compared
 * without building the encoding; the time depends only on the lengths.
 */
export function base64UrlMatches(text: string, bytes: Uint8Array): boolean {
  if (text.length !== Math.ceil((bytes.length * 4) / 3)) return false;
  let difference = 0;
  let bits = 0;
  let count = 0;
  let at = 0;
  for (let i = 0; i < bytes.length; i++) {
    bits = ((bits << 8) | (bytes[i] as number)) & 0xffff;
    count += 8;
    while (count >= 6) {
      count -= 6;
      difference |= text.charCodeAt(at++) ^ urlAlphabet.charCodeAt((bits >> count) & 63);
    }
  }
  if (count > 0) {
    difference |= text.charCodeAt(at) ^ urlAlphabet.charCodeAt((bits << (6 - count)) & 63);
  }
  return difference === 0;
}

/**
 * Whether a presented token is the configured secret. Both are hashed first, so neither where
 * they differ nor the secret's length shows in the time taken.
 */
export function sameSecret(presented: string, secret: string): boolean {
  const a = sha256(utf8(presented));
  const b = sha256(utf8(secret));
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= (a[i] as number) ^ (b[i] as number);
  return difference === 0;
}
