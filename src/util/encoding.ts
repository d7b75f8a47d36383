// Byte encodings used across the code: base64 (standard and URL-safe, unpadded), hex and UTF-8.
// Pure functions over Uint8Array that run the same in workerd and Node.

/** Bytes backed by an ordinary ArrayBuffer, which is what WebCrypto and the DOM types accept. */
export type Bytes = Uint8Array<ArrayBuffer>;

export class EncodingError extends Error {
  override readonly name = "EncodingError";
}

// base64url and ASCII run in plain JavaScript: on the click path every call into the runtime
// (TextEncoder, atob, Uint8Array.fromBase64) costs more than the loop it would replace.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Past this length the runtime's codecs win over a JavaScript loop. */
const shortText = 1024;

/** UTF-8 bytes of `text`; short ASCII, the common case, without a call into the runtime. */
export function utf8(text: string): Bytes {
  if (text.length > shortText) return encoder.encode(text) as Bytes;
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return encoder.encode(text) as Bytes;
    bytes[i] = code;
  }
  return bytes;
}

/**
 * Writes `text` into `out` from `at` when it is all ASCII and fits, and returns where it ends;
 * -1 otherwise (nothing is allocated, for callers that reuse one buffer).
 */
export function asciiInto(text: string, out: Uint8Array, at: number): number {
  if (at + text.length > out.length) return -1;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return -1;
    out[at + i] = code;
  }
  return at + text.length;
}

/** The text of UTF-8 `bytes` (malformed sequences become U+FFFD); short ASCII in JavaScript. */
export function fromUtf8(bytes: Uint8Array): string {
  if (bytes.length > shortText) return decoder.decode(bytes);
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i] as number) > 0x7f) return decoder.decode(bytes);
  }
  // One string built at once rather than a character at a time.
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

function fromBinary(binary: string): Bytes {
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBinary(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return binary;
}

export function base64(bytes: Uint8Array): string {
  return btoa(toBinary(bytes));
}

export function fromBase64(text: string): Bytes {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.replace(/=+$/, "").length % 4 === 1) {
    throw new EncodingError("not base64");
  }
  return fromBinary(atob(text));
}

/** RFC 4648 §5: the URL- and filename-safe alphabet. */
export const urlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const urlValues = new Int8Array(128).fill(-1);
for (let i = 0; i < urlAlphabet.length; i++) urlValues[urlAlphabet.charCodeAt(i)] = i;

/** RFC 4648 §5 without padding, as JOSE and ACME use it. */
export function base64Url(input: Uint8Array | string): string {
  const bytes = typeof input === "string" ? utf8(input) : input;
  let text = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n =
      ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    text +=
      urlAlphabet.charAt(n >> 18) +
      urlAlphabet.charAt((n >> 12) & 63) +
      urlAlphabet.charAt((n >> 6) & 63) +
      urlAlphabet.charAt(n & 63);
  }
  const left = bytes.length - i;
  if (left > 0) {
    const n = ((bytes[i] as number) << 16) | (left === 2 ? (bytes[i + 1] as number) << 8 : 0);
    text += urlAlphabet.charAt(n >> 18) + urlAlphabet.charAt((n >> 12) & 63);
    if (left === 2) text += urlAlphabet.charAt((n >> 6) & 63);
  }
  return text;
}

export function fromBase64Url(text: string): Bytes {
  const bytes = new Uint8Array(Math.floor((text.length * 3) / 4));
  fromBase64UrlInto(text, bytes);
  return bytes;
}

/** Decodes base64url `text` into the start of `out` and returns how many bytes it wrote. */
export function fromBase64UrlInto(text: string, out: Uint8Array): number {
  if (text.length % 4 === 1) throw new EncodingError("not base64url");
  const length = Math.floor((text.length * 3) / 4);
  if (length > out.length) throw new EncodingError("too long");
  let bits = 0;
  let count = 0;
  let written = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? (urlValues[code] as number) : -1;
    if (value < 0) throw new EncodingError("not base64url");
    bits = (bits << 6) | value;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[written++] = (bits >> count) & 0xff;
    }
  }
  return length;
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function concatBytes(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
