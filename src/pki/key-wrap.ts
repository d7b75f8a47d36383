// Private keys at rest: PKCS #8 bytes sealed with AES-256-GCM under the current key of a key
// ring, with the key id and a caller's context (the domain) bound in as additional data, so a
// sealed key cannot be moved to another domain or relabelled. Old ring keys keep opening what
// they sealed after the current key changes.
import {
  type Bytes,
  base64Url,
  EncodingError,
  fromBase64,
  fromBase64Url,
  utf8,
} from "../util/encoding";

export class KeyRingError extends Error {
  override readonly name = "KeyRingError";
}

export class UnwrapError extends Error {
  override readonly name = "UnwrapError";
}

export interface KeyRing {
  current: string;
  keys: ReadonlyMap<string, CryptoKey>;
}

const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;
const format = "v1";

/**
 * Parses `{"current": "k2", "keys": {"k1": "<base64 of 32 bytes>", "k2": "…"}}` (the value of
 * KEY_ENCRYPTION_KEYS). Every problem is named; no key material appears in a message.
 */
export async function parseKeyRing(
  json: string | undefined,
  name = "KEY_ENCRYPTION_KEYS",
): Promise<KeyRing> {
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
  const keys = new Map<string, CryptoKey>();
  for (const [id, encoded] of Object.entries(ring.keys)) {
    if (!keyIdPattern.test(id))
      throw new KeyRingError(
        `${name}: key id ${JSON.stringify(id)} must be 1-32 letters, digits, _ or -`,
      );
    let raw: Uint8Array;
    try {
      raw = typeof encoded === "string" ? decodeKey(encoded) : new Uint8Array();
    } catch {
      raw = new Uint8Array();
    }
    if (raw.length !== 32)
      throw new KeyRingError(`${name}: key ${id} must be 32 bytes, base64-encoded`);
    keys.set(
      id,
      await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]),
    );
  }
  if (typeof ring.current !== "string" || !keys.has(ring.current)) {
    throw new KeyRingError(`${name}: "current" must name one of its keys`);
  }
  return { current: ring.current, keys };
}

function decodeKey(encoded: string): Uint8Array {
  try {
    return fromBase64(encoded);
  } catch (error) {
    if (error instanceof EncodingError) return fromBase64Url(encoded);
    throw error;
  }
}

const additionalData = (keyId: string, context: string) =>
  utf8(`tracking-edge/${format}|${keyId}|${context}`);

/** Seals `plaintext` for `context`; the result is text: v1.<key id>.<iv>.<ciphertext>. */
export async function wrapKey(
  ring: KeyRing,
  plaintext: Uint8Array,
  context: string,
): Promise<string> {
  const key = ring.keys.get(ring.current);
  if (!key) throw new KeyRingError("the current key is missing from the ring");
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: additionalData(ring.current, context) },
    key,
    plaintext,
  );
  return [format, ring.current, base64Url(iv), base64Url(new Uint8Array(sealed))].join(".");
}

/** Opens what wrapKey sealed for the same context; UnwrapError for anything else. */
export async function unwrapKey(ring: KeyRing, wrapped: string, context: string): Promise<Bytes> {
  const [version, keyId, iv, sealed, ...rest] = wrapped.split(".");
  if (
    version !== format ||
    keyId === undefined ||
    iv === undefined ||
    sealed === undefined ||
    rest.length > 0
  ) {
    throw new UnwrapError("not a wrapped key");
  }
  const key = ring.keys.get(keyId);
  if (!key) throw new UnwrapError(`wrapped under key ${keyId}, which is not in the ring`);
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64Url(iv), additionalData: additionalData(keyId, context) },
      key,
      fromBase64Url(sealed),
    );
    return new Uint8Array(plain);
  } catch {
    throw new UnwrapError("the wrapped key does not open: wrong context, or altered");
  }
}
