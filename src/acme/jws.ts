// JSON Web Signatures as ACME uses them (RFC 8555 §6.2): flattened JSON serialization, ES256
// account keys, the public key (`jwk`) in newAccount and the account URL (`kid`) afterwards,
// the RFC 7638 thumbprint, and External Account Binding (§7.3.4, HS256).
import { base64Url, fromBase64Url, utf8 } from "../util/encoding";

export interface EcPublicJwk {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
}

export interface AccountKey {
  privateKey: CryptoKey;
  publicJwk: EcPublicJwk;
}

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** The payload of a POST-as-GET (RFC 8555 §6.3): an empty string, not JSON. */
export const postAsGet = Symbol("POST-as-GET");

const ecdsa = { name: "ECDSA", namedCurve: "P-256" } as const;

export async function generateAccountKey(): Promise<AccountKey> {
  const pair = (await crypto.subtle.generateKey(ecdsa, true, ["sign", "verify"])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicJwk: await publicJwkOf(pair.publicKey) };
}

/** The account key from its private JWK (how the account's key is kept, wrapped). */
export async function importAccountKey(privateJwk: JsonWebKey): Promise<AccountKey> {
  if (privateJwk.kty !== "EC" || privateJwk.crv !== "P-256" || !privateJwk.d) {
    throw new Error("an ACME account key must be a private EC P-256 JWK");
  }
  const { kty, crv, x, y, d } = privateJwk;
  const privateKey = await crypto.subtle.importKey("jwk", { kty, crv, x, y, d }, ecdsa, true, [
    "sign",
  ]);
  return { privateKey, publicJwk: { kty: "EC", crv: "P-256", x: x ?? "", y: y ?? "" } };
}

export async function exportAccountKey(key: AccountKey): Promise<JsonWebKey> {
  const { kty, crv, x, y, d } = (await crypto.subtle.exportKey(
    "jwk",
    key.privateKey,
  )) as JsonWebKey;
  return { kty, crv, x, y, d };
}

async function publicJwkOf(publicKey: CryptoKey): Promise<EcPublicJwk> {
  const jwk = (await crypto.subtle.exportKey("jwk", publicKey)) as JsonWebKey;
  return { kty: "EC", crv: "P-256", x: jwk.x ?? "", y: jwk.y ?? "" };
}

export type KeyReference = { jwk: EcPublicJwk } | { kid: string };

/**
 * Signs an ACME request body. ECDSA in WebCrypto yields the raw r||s form that JWS ES256
 * wants (RFC 7518 §3.4), so no DER conversion is needed.
 */
export async function signJws(
  key: AccountKey,
  header: { nonce: string; url: string } & KeyReference,
  payload: unknown,
): Promise<FlattenedJws> {
  const protectedHeader = base64Url(JSON.stringify({ alg: "ES256", ...header }));
  const encodedPayload = payload === postAsGet ? "" : base64Url(JSON.stringify(payload));
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    key.privateKey,
    utf8(`${protectedHeader}.${encodedPayload}`),
  );
  return {
    protected: protectedHeader,
    payload: encodedPayload,
    signature: base64Url(new Uint8Array(signature)),
  };
}

/** The members RFC 7638 §3.2 requires for each key type, which are hashed in this order. */
const requiredMembers: Record<string, readonly string[]> = {
  EC: ["crv", "kty", "x", "y"],
  RSA: ["e", "kty", "n"],
  oct: ["k", "kty"],
  OKP: ["crv", "kty", "x"],
};

/** The JWK SHA-256 thumbprint (RFC 7638), base64url: the account's part of key authorizations. */
export async function jwkThumbprint(jwk: Record<string, unknown>): Promise<string> {
  const members = requiredMembers[String(jwk.kty)];
  if (!members) throw new Error(`no thumbprint for key type ${String(jwk.kty)}`);
  // Lexicographic order, no whitespace (RFC 7638 §3.3); JSON.stringify of strings escapes as required.
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(",")}}`;
  return base64Url(new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(canonical))));
}

export interface ExternalAccountBinding {
  /** The key identifier the CA gave out of band. */
  kid: string;
  /** The MAC key the CA gave, base64url-encoded. */
  hmacKey: string;
}

/**
 * The externalAccountBinding of a newAccount request (RFC 8555 §7.3.4): a JWS over the
 * account's public JWK, MACed with the CA's key, naming the CA's kid and the newAccount URL.
 */
export async function signExternalAccountBinding(
  binding: ExternalAccountBinding,
  accountJwk: EcPublicJwk,
  url: string,
): Promise<FlattenedJws> {
  const macKey = await crypto.subtle.importKey(
    "raw",
    fromBase64Url(binding.hmacKey),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const protectedHeader = base64Url(JSON.stringify({ alg: "HS256", kid: binding.kid, url }));
  const payload = base64Url(JSON.stringify(accountJwk));
  const mac = await crypto.subtle.sign("HMAC", macKey, utf8(`${protectedHeader}.${payload}`));
  return { protected: protectedHeader, payload, signature: base64Url(new Uint8Array(mac)) };
}

/** RFC 8555 §8.1: token "." base64url(thumbprint of the account key). */
export async function keyAuthorization(token: string, accountJwk: EcPublicJwk): Promise<string> {
  return `${token}.${await jwkThumbprint({ ...accountJwk })}`;
}
