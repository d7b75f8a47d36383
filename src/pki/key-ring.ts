// Key rings from the environment: `{"current": "<id>", "keys": {"<id>": "<base64 of 32 bytes>"}}`.
// New work uses the current key; every key in the ring still opens (or verifies) what it made,
// so rotating is adding a key and making it current. Used for KEY_ENCRYPTION_KEYS (AES-GCM) and
// LINK_SIGNING_KEYS (HMAC). Problems are named; key material never appears in a message.
import { type Bytes, EncodingError, fromBase64, fromBase64Url } from "../util/encoding";

export class KeyRingError extends Error {
  override readonly name = "KeyRingError";
}

export interface KeyRing<Key = CryptoKey> {
  current: string;
  keys: ReadonlyMap<string, Key>;
}

export const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;

/** The ring's raw key bytes, checked: each key 32 bytes, `current` one of them. */
export function parseRawKeyRing(json: string | undefined, name: string): KeyRing<Bytes> {
  if (!json) throw new KeyRingError(`${name} is not set`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new KeyRingError(`${name} is not JSON`);
  }
  const ring = value as { current?: unknown; keys?: unknown };
  if (
    typeof ring !== "object" ||
    ring === null ||
    typeof ring.keys !== "object" ||
    ring.keys === null
  ) {
    throw new KeyRingError(`${name} must be {"current": "<id>", "keys": {"<id>": "<base64 key>"}}`);
  }
  const keys = new Map<string, Bytes>();
  for (const [id, encoded] of Object.entries(ring.keys)) {
    if (!keyIdPattern.test(id))
      throw new KeyRingError(
        `${name}: key id ${JSON.stringify(id)} must be 1-32 letters, digits, _ or -`,
      );
    let raw: Bytes;
    try {
      raw = typeof encoded === "string" ? decodeKey(encoded) : new Uint8Array();
    } catch {
      raw = new Uint8Array();
    }
    if (raw.length !== 32)
      throw new KeyRingError(`${name}: key ${id} must be 32 bytes, base64-encoded`);
    keys.set(id, raw);
  }
  if (typeof ring.current !== "string" || !keys.has(ring.current)) {
    throw new KeyRingError(`${name}: "current" must name one of its keys`);
  }
  return { current: ring.current, keys };
}

/** The ring with each key turned into what its user needs (a WebCrypto key, say). */
export function mapKeyRing<Key>(ring: KeyRing<Bytes>, key: (raw: Bytes) => Key): KeyRing<Key> {
  return {
    current: ring.current,
    keys: new Map([...ring.keys].map(([id, raw]) => [id, key(raw)])),
  };
}

function decodeKey(encoded: string): Bytes {
  try {
    return fromBase64(encoded);
  } catch (error) {
    if (error instanceof EncodingError) return fromBase64Url(encoded);
    throw error;
  }
}
