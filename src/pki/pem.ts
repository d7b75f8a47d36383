// PEM (RFC 7468) in and out: DER bytes under a label, 64 characters to a line.
import { type Bytes, base64, EncodingError, fromBase64 } from "../util/encoding";

export class PemError extends Error {
  override readonly name = "PemError";
}

export interface PemBlock {
  label: string;
  der: Bytes;
}

export function toPem(label: string, der: Uint8Array): string {
  const body = base64(der).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

const blockPattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Every PEM block in the text, in order; text between blocks is ignored, as RFC 7468 allows. */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(blockPattern)) {
    const [, begin, body = "", end] = match;
    if (begin !== end) throw new PemError(`PEM block BEGIN ${begin} ends with END ${end}`);
    try {
      blocks.push({ label: begin as string, der: fromBase64(body.replace(/\s+/g, "")) });
    } catch (error) {
      if (error instanceof EncodingError)
        throw new PemError(`PEM block ${begin} is not valid base64`);
      throw error;
    }
  }
  return blocks;
}

/** The certificates of a PEM chain, leaf first; an error if there are none or anything else. */
export function certificatesFromPem(text: string): Bytes[] {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) throw new PemError("no PEM certificate found");
  const other = blocks.find((b) => b.label !== "CERTIFICATE");
  if (other) throw new PemError(`unexpected PEM block ${other.label} in a certificate chain`);
  return blocks.map((b) => b.der);
}
