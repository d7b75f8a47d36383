// Reads what the lifecycle needs from an X.509 certificate (pkijs): serial, validity, names,
// issuer and the key identifiers that ARI and chain selection use. It validates no chain.
import * as asn1js from "asn1js";
import {
  AltName,
  AuthorityKeyIdentifier,
  Certificate,
  type RelativeDistinguishedNames,
} from "pkijs";
import { hex } from "../util/encoding";

export class CertificateParseError extends Error {
  override readonly name = "CertificateParseError";
}

export interface CertificateInfo {
  /** The serial number's DER content octets (with any leading zero), as ARI wants them. */
  serialNumber: Uint8Array;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  subjectCommonName: string | undefined;
  issuerCommonName: string | undefined;
  authorityKeyIdentifier: Uint8Array | undefined;
  subjectKeyIdentifier: Uint8Array | undefined;
}

const oid = {
  commonName: "2.5.4.3",
  subjectKeyIdentifier: "2.5.29.14",
  subjectAltName: "2.5.29.17",
  authorityKeyIdentifier: "2.5.29.35",
};

export function parseCertificate(der: Uint8Array): CertificateInfo {
  let certificate: Certificate;
  try {
    // A copy, so that any Uint8Array (a view of a shared buffer too) is accepted.
    certificate = Certificate.fromBER(new Uint8Array(der));
  } catch (error) {
    throw new CertificateParseError(`not an X.509 certificate: ${(error as Error).message}`);
  }
  const extension = (id: string) => certificate.extensions?.find((e) => e.extnID === id);
  const altNames = extension(oid.subjectAltName)?.parsedValue;
  const aki = extension(oid.authorityKeyIdentifier)?.parsedValue;
  const ski = extension(oid.subjectKeyIdentifier)?.parsedValue;
  const serialNumber = new Uint8Array(certificate.serialNumber.valueBlock.valueHexView);
  return {
    serialNumber,
    serialHex: hex(serialNumber).replace(/^(00)+(?=.)/, ""),
    notBefore: certificate.notBefore.value,
    notAfter: certificate.notAfter.value,
    dnsNames:
      altNames instanceof AltName
        ? altNames.altNames.filter((n) => n.type === 2).map((n) => String(n.value).toLowerCase())
        : [],
    subjectCommonName: commonName(certificate.subject),
    issuerCommonName: commonName(certificate.issuer),
    authorityKeyIdentifier:
      aki instanceof AuthorityKeyIdentifier && aki.keyIdentifier
        ? new Uint8Array(aki.keyIdentifier.valueBlock.valueHexView)
        : undefined,
    subjectKeyIdentifier:
      ski instanceof asn1js.OctetString ? new Uint8Array(ski.valueBlock.valueHexView) : undefined,
  };
}

function commonName(name: RelativeDistinguishedNames): string | undefined {
  const value = name.typesAndValues.find((tv) => tv.type === oid.commonName)?.value;
  return value === undefined ? undefined : String(value.valueBlock.value);
}
