// Byte encodings used across the code: base64 (standard and URL-safe, unpadded), hex and UTF-8.
// Pure functions over Uint8Array that run the same in workerd and Node.

/** Bytes backed by an ordinary ArrayBuffer, which is what WebCrypto and the DOM types accept. */
export type Bytes = Uint8Array<ArrayBuffer>;

export class EncodingError extends Error {
  override readonly name = "EncodingError";
}

export const utf8 = (text: string): Bytes => new TextEncoder().encode(text) as Bytes;
export const fromUtf8 = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

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
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** RFC 4648 §5 without padding, as JOSE and ACME use it. */
export function base64Url(bytes: Uint8Array | string): string {
  const data = typeof bytes === "string" ? utf8(bytes) : bytes;
  return base64(data).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function fromBase64Url(text: string): Bytes {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1)
    throw new EncodingError("not base64url");
  return fromBase64(text.replaceAll("-", "+").replaceAll("_", "/"));
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
