// A self-signed P-256 certificate for tests that read certificates (expiry warnings, chains,
// ARI identifiers): its subject and issuer are `name`, and it has no extensions at all.
import * as asn1js from "asn1js";
import { AttributeTypeAndValue, Certificate } from "pkijs";

const day = 86_400_000;

export async function selfSignedCertificate(
  name: string,
  validity: { notBefore?: Date; notAfter?: Date; serial?: number } = {},
): Promise<Uint8Array> {
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const cert = new Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ value: validity.serial ?? 1 });
  for (const holder of [cert.subject, cert.issuer]) {
    holder.typesAndValues.push(
      new AttributeTypeAndValue({ type: "2.5.4.3", value: new asn1js.Utf8String({ value: name }) }),
    );
  }
  cert.notBefore.value = validity.notBefore ?? new Date(Date.now() - day);
  cert.notAfter.value = validity.notAfter ?? new Date(Date.now() + day);
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey);
  await cert.sign(keys.privateKey, "SHA-256");
  return new Uint8Array(cert.toSchema().toBER(false));
}
