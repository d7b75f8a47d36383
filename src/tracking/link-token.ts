// Tracked links: the target and its context signed with HMAC-SHA256 under LINK_SIGNING_KEYS.
// The signature also covers the kind of link (click or open) and the tracking domain, so a token
// works only where it was minted for, and only as what it was minted as. Verifying is a local
// computation: the click path needs no storage. Old ring keys keep verifying after rotation.
import { type KeyRing, parseKeyRingWith } from "../pki/key-ring";
import { base64Url, fromBase64Url, fromUtf8, utf8 } from "../util/encoding";

export type LinkKind = "click" | "open";

export interface LinkContext {
  accountId: number;
  subaccountId: number;
  messageId?: string;
  recipientId?: string;
  linkName?: string;
}

export interface LinkContent extends LinkContext {
  /** The click's target; absent for opens. */
  url?: string;
}

/** RFC 9110 sets no limit; this keeps links (and emails) reasonable. */
export const maxUrlBytes = 4096;
const maxTokenLength = 8192;
const tokenPattern = /^([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;

export function parseSigningRing(json: string | undefined): Promise<KeyRing> {
  return parseKeyRingWith(json, "LINK_SIGNING_KEYS", (raw) =>
    crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]),
  );
}

/** Why a URL cannot be a click's target, or undefined when it can. */
export function targetProblem(url: string): string | undefined {
  if (utf8(url).length > maxUrlBytes) return `is longer than ${maxUrlBytes} bytes`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "is not an absolute URL";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    return "must be an http or https URL";
  return undefined;
}

const signed = (kind: LinkKind, domain: string, keyId: string, payload: string) =>
  utf8(`${kind}|${domain}|${keyId}.${payload}`);

export async function mintToken(
  ring: KeyRing,
  kind: LinkKind,
  domain: string,
  content: LinkContent,
): Promise<string> {
  if (kind === "click") {
    const problem = content.url === undefined ? "is missing" : targetProblem(content.url);
    if (problem) throw new Error(`the target URL ${problem}`);
  }
  const key = ring.keys.get(ring.current);
  if (!key) throw new Error("the current signing key is missing from the ring");
  const compact = {
    a: content.accountId,
    s: content.subaccountId,
    ...(kind === "click" ? { u: content.url } : {}),
    ...(content.messageId === undefined ? {} : { m: content.messageId }),
    ...(content.recipientId === undefined ? {} : { r: content.recipientId }),
    ...(content.linkName === undefined ? {} : { n: content.linkName }),
  };
  const payload = base64Url(JSON.stringify(compact));
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, signed(kind, domain, ring.current, payload)),
  );
  return `${ring.current}.${payload}.${base64Url(mac)}`;
}

/** The content of a token minted for `kind` on `domain` by a key of the ring; null otherwise. */
export async function verifyToken(
  ring: KeyRing,
  kind: LinkKind,
  domain: string,
  token: string,
): Promise<LinkContent | null> {
  if (token.length > maxTokenLength) return null;
  const match = tokenPattern.exec(token);
  if (!match) return null;
  const [, keyId = "", payload = "", mac = ""] = match;
  const key = ring.keys.get(keyId);
  if (!key) return null;
  // WebCrypto's HMAC verify compares in constant time.
  const valid = await crypto.subtle.verify(
    "HMAC",
    key,
    fromBase64Url(mac),
    signed(kind, domain, keyId, payload),
  );
  if (!valid) return null;
  let compact: { a?: unknown; s?: unknown; u?: unknown; m?: unknown; r?: unknown; n?: unknown };
  try {
    compact = JSON.parse(fromUtf8(fromBase64Url(payload)));
  } catch {
    return null;
  }
  if (typeof compact.a !== "number" || typeof compact.s !== "number") return null;
  const content: LinkContent = { accountId: compact.a, subaccountId: compact.s };
  if (kind === "click") {
    // Signed by us, but checked again: a link must never redirect anywhere but http(s).
    if (typeof compact.u !== "string" || targetProblem(compact.u)) return null;
    content.url = compact.u;
  }
  if (typeof compact.m === "string") content.messageId = compact.m;
  if (typeof compact.r === "string") content.recipientId = compact.r;
  if (typeof compact.n === "string") content.linkName = compact.n;
  return content;
}
