// The ACME client from Node against real Pebbles: the shared test Pebble, one rejecting half of
// all nonces, one requiring External Account Binding, one offering alternate chains. Every
// issued chain is checked with `openssl verify` against Pebble's root, for the name asked.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ports, testPebble } from "../../scripts/lib/stack-config";
import { findAccount, newAccount } from "../../src/acme/account";
import { deactivateAuthorization, getAuthorization } from "../../src/acme/authorization";
import { revokeCertificate } from "../../src/acme/certificate";
import { generateAccountKey } from "../../src/acme/jws";
import { newOrder } from "../../src/acme/order";
import { AcmeProblem } from "../../src/acme/problem";
import { parseCertificate } from "../../src/pki/certificate";
import { certificatesFromPem } from "../../src/pki/pem";
import { base64Url } from "../../src/util/encoding";
import { issueCertificate } from "../support/acme-driver";
import {
  accountOn,
  clientFor,
  opensslVerify,
  pebbleRoot,
  responder,
  startTestPebble,
  type TestPebble,
  uniqueName,
} from "./pebble";

describe("against the test Pebble", () => {
  it("creates an account, finds it again, and does not invent one for an unknown key", async () => {
    const client = clientFor(testPebble.directory);
    const key = await generateAccountKey();
    const created = await newAccount(client, key, {
      contact: ["mailto:ops@example.test"],
      termsOfServiceAgreed: true,
    });
    expect(created.resource).toMatchObject({
      status: "valid",
      contact: ["mailto:ops@example.test"],
    });
    expect((await findAccount(client, key)).url).toBe(created.url);
    expect((await newAccount(client, key, { termsOfServiceAgreed: true })).url).toBe(created.url);
    const unknown = await findAccount(client, await generateAccountKey()).catch((e: unknown) => e);
    expect((unknown as AcmeProblem).is("accountDoesNotExist")).toBe(true);
  });

  it.each(["ecdsa-p256", "rsa-2048"] as const)(
    "issues a %s certificate that openssl verifies for the name",
    async (keyAlgorithm) => {
      const client = clientFor(testPebble.directory);
      const signer = await accountOn(client);
      const name = uniqueName();
      const issued = await issueCertificate({
        client,
        signer,
        names: [name],
        http01: responder,
        keyAlgorithm,
      });
      expect(
        opensslVerify(
          issued.certificate.certificates,
          await pebbleRoot(testPebble.management),
          name,
        ),
      ).toBe("leaf.pem: OK");
      const leaf = parseCertificate(issued.certificate.certificates[0] as Uint8Array);
      expect(leaf.dnsNames).toEqual([name]);
      expect(leaf.notAfter.getTime()).toBeGreaterThan(Date.now());
      // And not for another name.
      expect(() => opensslVerify(issued.certificate.certificates, "", `x${name}`)).toThrow();
    },
  );

  it("fails a name on the CA's blocklist with a typed rejectedIdentifier", async () => {
    const client = clientFor(testPebble.directory);
    const error = await issueCertificate({
      client,
      signer: await accountOn(client),
      names: [testPebble.blockedName],
      http01: responder,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProblem);
    expect((error as AcmeProblem).is("rejectedIdentifier")).toBe(true);
    expect((error as AcmeProblem).status).toBe(400);
  });

  it("revokes a certificate, and a second revocation is a typed alreadyRevoked", async () => {
    const client = clientFor(testPebble.directory);
    const signer = await accountOn(client);
    const issued = await issueCertificate({
      client,
      signer,
      names: [uniqueName("rev")],
      http01: responder,
    });
    const leaf = issued.certificate.certificates[0] as Uint8Array;
    await revokeCertificate(client, signer, leaf, 4);
    const again = await revokeCertificate(client, signer, leaf).catch((e: unknown) => e);
    expect((again as AcmeProblem).is("alreadyRevoked")).toBe(true);
  });

  it("deactivates an authorization it no longer needs", async () => {
    const client = clientFor(testPebble.directory);
    const signer = await accountOn(client);
    const order = await newOrder(client, signer, {
      identifiers: [{ type: "dns", value: uniqueName("deact") }],
    });
    const url = order.resource.authorizations[0] as string;
    expect((await getAuthorization(client, signer, url)).resource.status).toBe("pending");
    expect((await deactivateAuthorization(client, signer, url)).resource.status).toBe(
      "deactivated",
    );
    expect((await getAuthorization(client, signer, url)).resource.status).toBe("deactivated");
  });

  it("fails a challenge nobody answers with the CA's reason", async () => {
    const client = clientFor(testPebble.directory);
    const silent = { present: async () => {}, remove: async () => {} };
    const error = await issueCertificate({
      client,
      signer: await accountOn(client),
      names: [uniqueName()],
      http01: silent,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AcmeProblem);
    expect((error as AcmeProblem).errorName).toMatch(/unauthorized|incorrectResponse|connection/);
  });
});

describe("with half of all nonces rejected (PEBBLE_WFE_NONCEREJECT=50)", () => {
  let pebble: TestPebble;
  beforeAll(async () => {
    pebble = await startTestPebble("pebble-noncereject", ports.nonceRejectPebbleAcme, {
      env: { PEBBLE_WFE_NONCEREJECT: "50" },
    });
  });
  afterAll(() => pebble.stop());

  it("issues 20 of 20 certificates, re-signing through every badNonce", async () => {
    let badNonces = 0;
    const counting: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (response.status === 400) {
        const text = await response.clone().text();
        if (text.includes("badNonce")) badNonces++;
      }
      return response;
    };
    const client = clientFor(pebble.directory, { fetch: counting });
    const signer = await accountOn(client);
    const root = await pebbleRoot(pebble.management);
    let issued = 0;
    for (let i = 0; i < 20; i++) {
      const name = uniqueName(`nr${i}-`);
      const result = await issueCertificate({ client, signer, names: [name], http01: responder });
      expect(opensslVerify(result.certificate.certificates, root, name)).toBe("leaf.pem: OK");
      issued++;
    }
    expect(issued).toBe(20);
    expect(badNonces).toBeGreaterThan(20);
  });
});

describe("with External Account Binding required", () => {
  let pebble: TestPebble;
  const hmacKey = base64Url(crypto.getRandomValues(new Uint8Array(32)));
  beforeAll(async () => {
    pebble = await startTestPebble("pebble-eab", ports.eabPebbleAcme, {
      config: {
        externalAccountBindingRequired: true,
        externalAccountMACKeys: { "kid-1": hmacKey },
      },
    });
  });
  afterAll(() => pebble.stop());

  it("refuses an account without a binding, and with a wrong key", async () => {
    const client = clientFor(pebble.directory);
    expect((await client.directory()).meta?.externalAccountRequired).toBe(true);
    const missing = await newAccount(client, await generateAccountKey(), {
      termsOfServiceAgreed: true,
    }).catch((e: unknown) => e);
    expect((missing as AcmeProblem).is("externalAccountRequired")).toBe(true);
    const wrong = await newAccount(client, await generateAccountKey(), {
      termsOfServiceAgreed: true,
      externalAccountBinding: {
        kid: "kid-1",
        hmacKey: base64Url(crypto.getRandomValues(new Uint8Array(32))),
      },
    }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(AcmeProblem);
    expect((wrong as AcmeProblem).is("externalAccountRequired")).toBe(false);
  });

  it("creates a bound account that can be used to issue", async () => {
    const client = clientFor(pebble.directory);
    const key = await generateAccountKey();
    const created = await newAccount(client, key, {
      termsOfServiceAgreed: true,
      externalAccountBinding: { kid: "kid-1", hmacKey },
    });
    expect(created.resource.status).toBe("valid");
    const name = uniqueName("eab");
    const issued = await issueCertificate({
      client,
      signer: { key, accountUrl: created.url },
      names: [name],
      http01: responder,
    });
    expect(
      opensslVerify(issued.certificate.certificates, await pebbleRoot(pebble.management), name),
    ).toBe("leaf.pem: OK");
  });
});

describe("with alternate chains (PEBBLE_ALTERNATE_ROOTS=1)", () => {
  let pebble: TestPebble;
  beforeAll(async () => {
    pebble = await startTestPebble("pebble-altroots", ports.altRootsPebbleAcme, {
      env: { PEBBLE_ALTERNATE_ROOTS: "1" },
    });
  });
  afterAll(() => pebble.stop());

  it("takes the default chain unless asked, and the preferred issuer's chain when asked", async () => {
    const client = clientFor(pebble.directory);
    const signer = await accountOn(client);
    const [root0, root1] = [
      await pebbleRoot(pebble.management, 0),
      await pebbleRoot(pebble.management, 1),
    ];
    const [name0, name1] = [rootName(root0), rootName(root1)];
    expect(name0).not.toBe(name1);

    const plainName = uniqueName("alt");
    const plain = await issueCertificate({ client, signer, names: [plainName], http01: responder });
    expect(plain.certificate.topIssuer).toBe(name0);
    expect(plain.certificate.alternates.length).toBeGreaterThan(0);
    expect(opensslVerify(plain.certificate.certificates, root0, plainName)).toBe("leaf.pem: OK");

    const preferredName = uniqueName("alt");
    const preferred = await issueCertificate({
      client,
      signer,
      names: [preferredName],
      http01: responder,
      preferredIssuer: name1,
    });
    expect(preferred.certificate.topIssuer).toBe(name1);
    expect(opensslVerify(preferred.certificate.certificates, root1, preferredName)).toBe(
      "leaf.pem: OK",
    );
    expect(() => opensslVerify(preferred.certificate.certificates, root0, preferredName)).toThrow();

    const fallback = await issueCertificate({
      client,
      signer,
      names: [uniqueName("alt")],
      http01: responder,
      preferredIssuer: "Nobody's Root",
    });
    expect(fallback.certificate.topIssuer).toBe(name0);
  });
});

const rootName = (pem: string) =>
  parseCertificate(certificatesFromPem(pem)[0] as Uint8Array).subjectCommonName;
