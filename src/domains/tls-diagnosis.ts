// Why a TLS handshake with a customer's proxy failed. The runtime's verified TLS says only that it
// failed, so we ask again the old way: a TLS 1.2 ClientHello over plain TCP, whose answer carries
// the server's certificate chain unencrypted (TLS 1.3 encrypts it). We read records only until
// the Certificate message, then hang up; the leaf is parsed with pkijs and judged against the
// name and the time. A server that speaks only TLS 1.3 leaves the reason unknown, which we say.
import { type CertificateInfo, parseCertificate } from "../pki/certificate";
import { concatBytes, utf8 } from "../util/encoding";

export interface CertificateSummary {
  names: string[];
  issuer: string | null;
  notBefore: string;
  notAfter: string;
}

export interface CertificateDiagnosis {
  /** What is wrong with the presented certificate, as a sentence for the customer. */
  reason: string;
  certificate?: CertificateSummary;
}

const summaryOf = (leaf: CertificateInfo): CertificateSummary => ({
  names: leaf.dnsNames.length > 0 ? leaf.dnsNames : [leaf.subjectCommonName ?? ""],
  issuer: leaf.issuerCommonName ?? null,
  notBefore: leaf.notBefore.toISOString(),
  notAfter: leaf.notAfter.toISOString(),
});

/** How long before a working certificate expires we start saying so. */
export const expiryWarningDays = 14;

/**
 * A working proxy's certificate, read after the probe passed: its summary, and a warning for the
 * customer when it expires within `expiryWarningDays`. Null when it is not a certificate.
 */
export function inspectWorkingLeaf(
  der: Uint8Array,
  now: Date,
): { certificate: CertificateSummary; warning?: string } | null {
  let leaf: CertificateInfo;
  try {
    leaf = parseCertificate(der);
  } catch {
    return null;
  }
  const certificate = summaryOf(leaf);
  const left = leaf.notAfter.getTime() - now.getTime();
  if (left < 0 || left > expiryWarningDays * 86_400_000) return { certificate };
  const days = Math.floor(left / 86_400_000);
  const when = days === 0 ? "within a day" : `in ${days} day${days === 1 ? "" : "s"}`;
  return {
    certificate,
    warning: `Its certificate expires on ${certificate.notAfter} (${when}): renew it on your CDN or proxy, or new links will use http:// from then on.`,
  };
}

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const withU16Length = (bytes: number[]) => [...u16(bytes.length), ...bytes];

/** A TLS 1.2 ClientHello for `serverName`, with the usual ECDHE suites and signature schemes. */
export function clientHello(serverName: string): Uint8Array {
  const name = [...utf8(serverName)];
  const extension = (type: number, body: number[]) => [...u16(type), ...withU16Length(body)];
  const extensions = [
    ...extension(0x0000, withU16Length([0x00, ...withU16Length(name)])), // server_name
    ...extension(0x000a, withU16Length([0x00, 0x1d, 0x00, 0x17, 0x00, 0x18])), // groups
    ...extension(0x000b, [0x01, 0x00]), // ec_point_formats: uncompressed
    // signature_algorithms: ecdsa p256/p384, rsa-pss, rsa-pkcs1 with sha256/384/512
    ...extension(0x000d, withU16Length([4, 3, 5, 3, 8, 4, 8, 5, 8, 6, 4, 1, 5, 1, 6, 1])),
  ];
  const suites = [
    0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30, 0xcc, 0xa9, 0xcc, 0xa8, 0x00, 0x9c, 0x00, 0x2f,
  ];
  const body = [
    0x03, 0x03, // TLS 1.2
    ...crypto.getRandomValues(new Uint8Array(32)),
    0x00, // no session id
    ...withU16Length(suites),
    0x01, 0x00, // compression: none
    ...withU16Length(extensions),
  ]; // biome-ignore format: byte layout
  const handshake = [0x01, ...u24(body.length), ...body];
  return new Uint8Array([0x16, 0x03, 0x01, ...withU16Length(handshake)]);
}

export class TlsDiagnosisError extends Error {
  override readonly name = "TlsDiagnosisError";
}

/**
 * Feeds the server's bytes in as they arrive; returns the certificate chain (DER, leaf first)
 * once the Certificate message is complete, null while more is needed. Throws on an alert or on
 * anything that is not a TLS 1.2 handshake.
 */
export function certificateReader(limit = 65_536): (chunk: Uint8Array) => Uint8Array[] | null {
  let records = new Uint8Array(0);
  let handshake = new Uint8Array(0);
  let seen = 0;
  return (chunk) => {
    seen += chunk.length;
    if (seen > limit) throw new TlsDiagnosisError(`no certificate within ${limit} bytes`);
    records = concatBytes(records, chunk);
    while (records.length >= 5) {
      const type = records[0] as number;
      const length = ((records[3] as number) << 8) | (records[4] as number);
      if (records.length < 5 + length) break;
      const fragment = records.subarray(5, 5 + length);
      records = records.slice(5 + length);
      if (type === 0x15) {
        throw new TlsDiagnosisError(
          `the server refused a TLS 1.2 handshake (alert ${fragment[1] ?? "?"})`,
        );
      }
      if (type !== 0x16) throw new TlsDiagnosisError(`unexpected TLS record type ${type}`);
      handshake = concatBytes(handshake, fragment);
    }
    while (handshake.length >= 4) {
      const type = handshake[0] as number;
      const length =
        ((handshake[1] as number) << 16) |
        ((handshake[2] as number) << 8) |
        (handshake[3] as number);
      if (handshake.length < 4 + length) return null;
      const message = handshake.subarray(4, 4 + length);
      handshake = handshake.slice(4 + length);
      if (type === 2) {
        // ServerHello: a server that chose TLS 1.3 would not get this far in plaintext.
        continue;
      }
      if (type !== 11) throw new TlsDiagnosisError(`unexpected handshake message ${type}`);
      const chain: Uint8Array[] = [];
      let offset = 3;
      while (offset + 3 <= message.length) {
        const size =
          ((message[offset] as number) << 16) |
          ((message[offset + 1] as number) << 8) |
          (message[offset + 2] as number);
        chain.push(message.slice(offset + 3, offset + 3 + size));
        offset += 3 + size;
      }
      if (chain.length === 0) throw new TlsDiagnosisError("the server sent no certificate");
      return chain;
    }
    return null;
  };
}

/** Whether a certificate name (possibly a wildcard) covers `domain`. */
export function nameCovers(pattern: string, domain: string): boolean {
  const p = pattern.toLowerCase();
  if (p === domain) return true;
  if (!p.startsWith("*.")) return false;
  const rest = domain.slice(domain.indexOf(".") + 1);
  return domain.includes(".") && p.slice(2) === rest;
}

/** What is wrong with a leaf for `domain` at `now`; when nothing is, an untrusted issuer. */
export function diagnoseLeaf(der: Uint8Array, domain: string, now: Date): CertificateDiagnosis {
  let leaf: CertificateInfo;
  try {
    leaf = parseCertificate(der);
  } catch {
    return { reason: "The proxy presented something that is not an X.509 certificate." };
  }
  const certificate = summaryOf(leaf);
  const names = certificate.names;
  if (leaf.notAfter.getTime() < now.getTime())
    return { reason: `The proxy's certificate expired on ${certificate.notAfter}.`, certificate };
  if (leaf.notBefore.getTime() > now.getTime()) {
    return {
      reason: `The proxy's certificate is not valid before ${certificate.notBefore}.`,
      certificate,
    };
  }
  if (!names.some((n) => nameCovers(n, domain))) {
    return {
      reason: `The proxy's certificate is for ${names.join(", ")}, not ${domain}.`,
      certificate,
    };
  }
  return {
    reason: `The proxy's certificate for ${domain} is not trusted: issued by "${
      certificate.issuer ?? "an unnamed issuer"
    }", which is not a publicly trusted CA, or the proxy does not send the intermediate certificates.`,
    certificate,
  };
}
