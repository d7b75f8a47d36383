// The ACME client inside workerd against a real Pebble: accounts, a full issuance whose chain
// leads to Pebble's root, and a refused name as a typed problem.
import { env } from "cloudflare:test";
import { Certificate, CertificateChainValidationEngine } from "pkijs";
import { describe, expect, it } from "vitest";
import { findAccount, newAccount } from "../../src/acme/account";
import { certificateIdOf, getRenewalInfo, RenewalInfoUnavailableError } from "../../src/acme/ari";
import { AcmeClient } from "../../src/acme/client";
import { generateAccountKey } from "../../src/acme/jws";
import { AcmeProblem } from "../../src/acme/problem";
import { parseCertificate } from "../../src/pki/certificate";
import { certificatesFromPem } from "../../src/pki/pem";
import { issueCertificate } from "../support/acme-driver";
import { challtestsrvResponder } from "../support/challtestsrv";

const client = () => new AcmeClient({ directoryUrl: env.TEST_PEBBLE_DIRECTORY });
const uniqueName = () => `w${crypto.randomUUID().slice(0, 8)}.acme.${env.TEST_DYNAMIC_ZONE}`;

async function account(acme: AcmeClient) {
  const key = await generateAccountKey();
  const created = await newAccount(acme, key, {
    contact: ["mailto:ops@example.test"],
    termsOfServiceAgreed: true,
  });
  return { key, accountUrl: created.url };
}

describe("ACME client in workerd, against Pebble", () => {
  it("creates an account and finds it again by its key", async () => {
    const acme = client();
    const key = await generateAccountKey();
    const created = await newAccount(acme, key, {
      contact: ["mailto:ops@example.test"],
      termsOfServiceAgreed: true,
    });
    expect(created.resource.status).toBe("valid");
    expect((await findAccount(acme, key)).url).toBe(created.url);
    const stranger = await findAccount(acme, await generateAccountKey()).catch((e: unknown) => e);
    expect((stranger as AcmeProblem).is("accountDoesNotExist")).toBe(true);
  });

  it("issues a certificate whose chain leads to Pebble's root, for the name asked", async () => {
    const acme = client();
    const signer = await account(acme);
    const name = uniqueName();
    const issued = await issueCertificate({
      client: acme,
      signer,
      names: [name],
      http01: challtestsrvResponder(env.TEST_CHALLTESTSRV),
    });
    const [leaf, ...intermediates] = issued.certificate.certificates;
    expect(parseCertificate(leaf as Uint8Array).dnsNames).toEqual([name]);

    const rootPem = await (await fetch(`${env.TEST_PEBBLE_MANAGEMENT}/roots/0`)).text();
    const root = Certificate.fromBER(certificatesFromPem(rootPem)[0] as Uint8Array);
    const chain = new CertificateChainValidationEngine({
      trustedCerts: [root],
      certs: [leaf, ...intermediates].map((der) => Certificate.fromBER(der as Uint8Array)),
    });
    expect((await chain.verify()).result).toBe(true);

    // Pebble 2.4 offers no renewal information: the client says so rather than guessing.
    await expect(getRenewalInfo(acme, certificateIdOf(leaf as Uint8Array))).rejects.toThrow(
      RenewalInfoUnavailableError,
    );
  });

  it("reports a name the CA refuses as a typed rejectedIdentifier", async () => {
    const acme = client();
    const signer = await account(acme);
    const error = await issueCertificate({
      client: acme,
      signer,
      names: [env.TEST_PEBBLE_BLOCKED_NAME],
      http01: challtestsrvResponder(env.TEST_CHALLTESTSRV),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProblem);
    expect((error as AcmeProblem).is("rejectedIdentifier")).toBe(true);
  });
});
