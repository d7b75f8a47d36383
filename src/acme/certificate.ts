// Certificates (RFC 8555 §7.4.2, §7.6): download the chain, choosing among the alternates by the
// issuer the caller prefers, and revoke.
import { parseCertificate } from "../pki/certificate";
import { certificatesFromPem, PemError } from "../pki/pem";
import { base64Url, fromUtf8 } from "../util/encoding";
import type { AcmeClient, Signer } from "./client";
import { postAsGet } from "./jws";
import { AcmeProtocolError } from "./problem";

export interface CertificateChain {
  url: string;
  /** The chain as the CA sent it: application/pem-certificate-chain, leaf first. */
  pem: string;
  /** DER of each certificate, leaf first. */
  certificates: Uint8Array[];
  /** The common name of the issuer of the chain's last certificate (the root it leads to). */
  topIssuer: string | undefined;
}

export interface DownloadOptions {
  /**
   * Prefer the chain whose topmost certificate was issued by this common name, as certbot's
   * --preferred-chain does; the default chain when none matches.
   */
  preferredIssuer?: string;
}

export interface DownloadedCertificate extends CertificateChain {
  /** URLs of the other chains the CA offered (Link rel="alternate"). */
  alternates: string[];
}

export async function downloadCertificate(
  client: AcmeClient,
  signer: Signer,
  url: string,
  options: DownloadOptions = {},
): Promise<DownloadedCertificate> {
  const { chain, alternates } = await fetchChain(client, signer, url);
  if (options.preferredIssuer === undefined || chain.topIssuer === options.preferredIssuer)
    return { ...chain, alternates };
  for (const alternate of alternates) {
    const candidate = await fetchChain(client, signer, alternate);
    if (candidate.chain.topIssuer === options.preferredIssuer) {
      return {
        ...candidate.chain,
        alternates: [url, ...alternates.filter((a) => a !== alternate)],
      };
    }
  }
  return { ...chain, alternates };
}

async function fetchChain(
  client: AcmeClient,
  signer: Signer,
  url: string,
): Promise<{ chain: CertificateChain; alternates: string[] }> {
  const response = await client.post(url, signer, postAsGet, "application/pem-certificate-chain");
  const pem = fromUtf8(response.body);
  let certificates: Uint8Array[];
  try {
    certificates = certificatesFromPem(pem);
  } catch (error) {
    if (error instanceof PemError)
      throw new AcmeProtocolError(`the certificate chain is not PEM: ${error.message}`, url);
    throw error;
  }
  const top = certificates[certificates.length - 1] as Uint8Array;
  const chain = { url, pem, certificates, topIssuer: parseCertificate(top).issuerCommonName };
  return {
    chain,
    alternates: response.links.filter((l) => l.rel === "alternate").map((l) => l.url),
  };
}

/** RFC 5280 §5.3.1 reason codes that RFC 8555 §7.6 allows. */
export type RevocationReason = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 8 | 9 | 10;

/** §7.6, signed by the account key (the account that holds the certificate's authorizations). */
export async function revokeCertificate(
  client: AcmeClient,
  signer: Signer,
  certificateDer: Uint8Array,
  reason?: RevocationReason,
): Promise<void> {
  const { revokeCert } = await client.directory();
  await client.post(revokeCert, signer, {
    certificate: base64Url(certificateDer),
    ...(reason === undefined ? {} : { reason }),
  });
}
