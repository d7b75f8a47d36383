// Tracked links: the target and its context signed with HMAC-SHA256 under LINK_SIGNING_KEYS.
// The signature also covers the kind of link (click or open) and the tracking domain, so a token
// works only where it was minted for, and only as what it was minted as. Verifying is a local
// computation: the click path needs no storage. Old ring keys keep verifying after rotation.
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { type KeyRing, mapKeyRing, parseRawKeyRing } from "../pki/key-ring";
import { base64UrlMatches } from "../util/constant-time";
import { asciiInto, base64Url, fromBase64UrlInto, fromUtf8, utf8 } from "../util/encoding";

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

/**
 * A signing key: HMAC-SHA256 with the key already absorbed, cloned for each token. Computed in
 * JavaScript (@noble/hashes, audited) rather than WebCrypto: on the click path, the promise and
 * copies around crypto.subtle cost more than the hash itself (see the README's redirect figures).
 */
export type SigningKey = ReturnType<typeof hmac.create>;
export type SigningRing = KeyRing<SigningKey>;

/** LINK_SIGNING_KEYS, parsed; throws a KeyRingError naming what is wrong. */
export function parseSigningRing(json: string | undefined): SigningRing {
  return mapKeyRing(parseRawKeyRing(json, "LINK_SIGNING_KEYS"), (raw) => hmac.create(sha256, raw));
}

export const macOf = (key: SigningKey, data: Uint8Array): Uint8Array =>
  key.clone().update(data).digest();

/** A cheap test for an http(s) URL's start: what a click re-checks on every redirect. */
export const startsHttp = (url: string): boolean => /^https?:\/\//i.test(url);

/** C0 controls and DEL: a URL holding one is refused, never cleaned up behind the sender's back. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const controlCharacter = /[\u0000-\u001f\u007f]/;
/** What a Location header may carry as it is: printable ASCII without spaces. */
const printableAscii = /^[\u0021-\u007e]*$/;

/**
 * A click's target as links carry it, or why `url` cannot be one. The target is the URL
 * parser's ASCII serialization (an IDN host as punycode, a non-ASCII path percent-encoded): the
 * URL a browser would follow, and a valid Location header whatever the sender wrote.
 */
export function clickTarget(url: string): { target: string } | { problem: string } {
  if (utf8(url).length > maxUrlBytes) return { problem: `is longer than ${maxUrlBytes} bytes` };
  if (controlCharacter.test(url))
    return { problem: "holds a control character (such as CR, LF, tab or NUL)" };
  if (!url.isWellFormed()) return { problem: "holds a lone UTF-16 surrogate" };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { problem: "is not an absolute URL" };
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    return { problem: "must be an http or https URL" };
  // What the URL parser forgives (" https://x", "https:x") is refused: a sender who wrote it
  // most likely meant something else.
  if (!startsHttp(url)) return { problem: "must start with http:// or https://" };
  const target = parsed.href;
  if (target.length > maxUrlBytes)
    return { problem: `is longer than ${maxUrlBytes} bytes (percent-encoded)` };
  return { target };
}

/** Why a URL cannot be a click's target, or undefined when it can. */
export function targetProblem(url: string): string | undefined {
  const checked = clickTarget(url);
  return "problem" in checked ? checked.problem : undefined;
}

/**
 * The Location a click answers with for a target a token holds: the target itself when it is
 * plain ASCII (every link minted since targets are serialized), else its ASCII serialization; null
 * when it cannot be one (a control character in a link minted before they were refused).
 */
export function locationOf(target: string): string | null {
  if (printableAscii.test(target)) return target;
  const checked = clickTarget(target);
  return "target" in checked && printableAscii.test(checked.target) ? checked.target : null;
}

/** What the MAC covers before the token's own text (`keyId.payload`): the kind and the domain. */
const signedPrefix = (kind: LinkKind, domain: string) => `${kind}|${domain}|`;

export function mintToken(
  ring: SigningRing,
  kind: LinkKind,
  domain: string,
  content: LinkContent,
): string {
  // The minter checks and serializes targets (clickTarget); this keeps any click http(s).
  if (kind === "click" && (content.url === undefined || !startsHttp(content.url)))
    throw new Error("a click's target must be an http(s) URL");
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
  const mac = macOf(key, utf8(`${signedPrefix(kind, domain)}${ring.current}.${payload}`));
  return `${ring.current}.${payload}.${base64Url(mac)}`;
}

// Verifying reuses one HMAC state and three buffers: on the click path, allocating typed arrays
// (and the views noble's hashes keep over them) cost more than hashing the token. Verification is
// synchronous, so no two calls can share them.
const scratch = {
  mac: undefined as SigningKey | undefined,
  message: new Uint8Array(maxTokenLength + 512),
  digest: new Uint8Array(32),
  payload: new Uint8Array(maxTokenLength),
};

/** The MAC of what a token signs (`signedText` is its key id and payload), in scratch.digest. */
function macInto(key: SigningKey, kind: LinkKind, domain: string, signedText: string): Uint8Array {
  const { message, digest } = scratch;
  const prefix = signedPrefix(kind, domain);
  let end = asciiInto(prefix, message, 0);
  if (end >= 0) end = asciiInto(signedText, message, end);
  const mac = key._cloneInto(scratch.mac) as SigningKey;
  scratch.mac = mac;
  mac.update(end >= 0 ? message.subarray(0, end) : utf8(`${prefix}${signedText}`));
  mac.digestInto(digest);
  return digest;
}

/** The content of a token minted for `kind` on `domain` by a key of the ring; null otherwise. */
export function verifyToken(
  ring: SigningRing,
  kind: LinkKind,
  domain: string,
  token: string,
): LinkContent | null {
  if (token.length > maxTokenLength) return null;
  const match = tokenPattern.exec(token);
  if (!match) return null;
  const [, keyId = "", payload = "", mac = ""] = match;
  const key = ring.keys.get(keyId);
  if (!key) return null;
  const signedText = token.slice(0, keyId.length + 1 + payload.length);
  if (!base64UrlMatches(mac, macInto(key, kind, domain, signedText))) return null;
  let compact: { a?: unknown; s?: unknown; u?: unknown; m?: unknown; r?: unknown; n?: unknown };
  try {
    const length = fromBase64UrlInto(payload, scratch.payload);
    compact = JSON.parse(fromUtf8(scratch.payload.subarray(0, length)));
  } catch {
    return null;
  }
  if (typeof compact.a !== "number" || typeof compact.s !== "number") return null;
  const content: LinkContent = { accountId: compact.a, subaccountId: compact.s };
  if (kind === "click") {
    // Signed by us, but checked again: a link must never redirect anywhere but http(s).
    if (typeof compact.u !== "string" || !startsHttp(compact.u)) return null;
    content.url = compact.u;
  }
  if (typeof compact.m === "string") content.messageId = compact.m;
  if (typeof compact.r === "string") content.recipientId = compact.r;
  if (typeof compact.n === "string") content.linkName = compact.n;
  return content;
}
