// ACME Renewal Information (RFC 9773): the certificate's identifier, and the CA's suggested
// renewal window for it, fetched with a plain GET.
import { parseCertificate } from "../pki/certificate";
import { base64Url } from "../util/encoding";
import { type AcmeClient, parseJson } from "./client";
import { AcmeProtocolError } from "./problem";
import { type Fetched, type RenewalInfo, RenewalInfoSchema } from "./types";

export class RenewalInfoUnavailableError extends Error {
  override readonly name = "RenewalInfoUnavailableError";
}

/**
 * §4.1: base64url(keyIdentifier of the Authority Key Identifier) "." base64url(the DER
 * encoding of the serial number's value, leading zero included).
 */
export function ariCertificateId(
  authorityKeyIdentifier: Uint8Array,
  serialNumber: Uint8Array,
): string {
  return `${base64Url(authorityKeyIdentifier)}.${base64Url(serialNumber)}`;
}

export function certificateIdOf(certificateDer: Uint8Array): string {
  const info = parseCertificate(certificateDer);
  if (!info.authorityKeyIdentifier) {
    throw new RenewalInfoUnavailableError(
      "the certificate has no Authority Key Identifier, so it has no ARI identifier",
    );
  }
  return ariCertificateId(info.authorityKeyIdentifier, info.serialNumber);
}

/**
 * GET {renewalInfo}/{certID} (§4.2). The server's Retry-After says when to ask again (§4.3);
 * the caller keeps it.
 */
export async function getRenewalInfo(
  client: AcmeClient,
  certificateId: string,
): Promise<Fetched<RenewalInfo>> {
  const { renewalInfo } = await client.directory();
  if (!renewalInfo)
    throw new RenewalInfoUnavailableError("the CA does not offer renewal information");
  const url = `${renewalInfo.replace(/\/+$/, "")}/${certificateId}`;
  const response = await client.get(url);
  const info = parseJson(response, RenewalInfoSchema, "renewalInfo", url);
  if (Date.parse(info.suggestedWindow.end) <= Date.parse(info.suggestedWindow.start)) {
    throw new AcmeProtocolError("the suggested renewal window ends before it starts", url);
  }
  return { resource: info, url, retryAfter: response.retryAfter };
}
