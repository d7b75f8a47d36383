// Certificate signing requests (PKCS #10) with pkijs: the first name as the subject's common
// name and every name as a subjectAltName dNSName, signed with the certificate's own key.
import * as asn1js from "asn1js";
import {
  AltName,
  Attribute,
  AttributeTypeAndValue,
  CertificationRequest,
  Extension,
  Extensions,
  GeneralName,
} from "pkijs";

const oid = {
  commonName: "2.5.4.3",
  extensionRequest: "1.2.840.113549.1.9.14",
  subjectAltName: "2.5.29.17",
};

/** A DER CSR for `names` (A-labels), signed with SHA-256 by `keys.privateKey`. */
export async function createCsr(
  keys: CryptoKeyPair,
  names: readonly string[],
): Promise<Uint8Array> {
  const [first] = names;
  if (first === undefined) throw new Error("a CSR needs at least one name");
  // A common name is limited to 64 characters (RFC 5280 ub-common-name); longer names go in
  // the SAN only, as CAs expect.
  const csr = new CertificationRequest();
  if (first.length <= 64) {
    csr.subject.typesAndValues.push(
      new AttributeTypeAndValue({
        type: oid.commonName,
        value: new asn1js.Utf8String({ value: first }),
      }),
    );
  }
  await csr.subjectPublicKeyInfo.importKey(keys.publicKey);
  const altNames = new AltName({
    altNames: names.map((value) => new GeneralName({ type: 2, value })),
  });
  csr.attributes = [
    new Attribute({
      type: oid.extensionRequest,
      values: [
        new Extensions({
          extensions: [
            new Extension({
              extnID: oid.subjectAltName,
              critical: false,
              extnValue: altNames.toSchema().toBER(false),
            }),
          ],
        }).toSchema(),
      ],
    }),
  ];
  await csr.sign(keys.privateKey, "SHA-256");
  return new Uint8Array(csr.toSchema().toBER(false));
}
