// Private keys at rest: PKCS #8 bytes sealed with AES-256-GCM under the current key of a key
// ring, with the key id and a caller's context (the domain) bound in as additional data, so a
// sealed key cannot be moved to another domain or relabelled. Old ring keys keep opening what
// they sealed after the current key changes.
import { type Bytes, base64Url, fromBase64Url, utf8 } from "../util/encoding";
import { type KeyRing, KeyRingError, mapKeyRing, parseRawKeyRing } from "./key-ring";

export { type KeyRing, KeyRingError };

export class UnwrapError extends Error {
  override readonly name = "UnwrapError";
}

const format = "v1";

/**
 * The key ring of KEY_ENCRYPTION_KEYS: `{"current": "k2", "keys": {"k1": "<base64>", …}}`, each
 * key 32 bytes for AES-256-GCM.
 */
export async function parseKeyRing(
  json: string | undefined,
  name = "KEY_ENCRYPTION_KEYS",
): Promise<KeyRing> {
  const ring = mapKeyRing(parseRawKeyRing(json, name), (raw) =>
    crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]),
  );
  const keys = await Promise.all([...ring.keys].map(async ([id, key]) => [id, await key] as const));
  return { current: ring.current, keys: new Map(keys) };
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
