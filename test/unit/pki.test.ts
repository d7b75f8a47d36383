// Keys, CSRs, PEM and key wrapping: what a CA and the TLS edge will read back.
import * as asn1js from "asn1js";
import { AltName, CertificationRequest, Extensions } from "pkijs";
import { describe, expect, it } from "vitest";
import { createCsr } from "../../src/pki/csr";
import {
  KeyRingError,
  parseKeyRing,
  UnwrapError,
  unwrapKey,
  wrapKey,
} from "../../src/pki/key-wrap";
import { exportPkcs8, generateKeyPair, importPkcs8 } from "../../src/pki/keys";
import { certificatesFromPem, PemError, pemBlocks, toPem } from "../../src/pki/pem";
import { base64, fromBase64 } from "../../src/util/encoding";

const randomKey = () => base64(crypto.getRandomValues(new Uint8Array(32)));

describe("CSR", () => {
  it.each(["ecdsa-p256", "rsa-2048"] as const)(
    "names every host and verifies with its own %s key",
    async (algorithm) => {
      const keys = await generateKeyPair(algorithm);
      const der = await createCsr(keys, ["track.example.com", "xn--bcher-kva.example"]);
      const csr = CertificationRequest.fromBER(der);
      expect(await csr.verify()).toBe(true);
      const cn = csr.subject.typesAndValues.find((tv) => tv.type === "2.5.4.3");
      expect(cn?.value.valueBlock.value).toBe("track.example.com");
      const request = csr.attributes?.find((a) => a.type === "1.2.840.113549.1.9.14");
      const extensions = new Extensions({ schema: request?.values[0] });
      const san = extensions.extensions.find((e) => e.extnID === "2.5.29.17");
      const names = new AltName({
        schema: asn1js.fromBER(san?.extnValue.valueBlock.valueHexView ?? new Uint8Array()).result,
      });
      expect(names.altNames.map((n) => [n.type, n.value])).toEqual([
        [2, "track.example.com"],
        [2, "xn--bcher-kva.example"],
      ]);
    },
  );

  it("leaves a name longer than 64 characters out of the common name", async () => {
    const long = `${"a".repeat(60)}.example.com`;
    const csr = CertificationRequest.fromBER(await createCsr(await generateKeyPair(), [long]));
    expect(csr.subject.typesAndValues).toEqual([]);
    expect(await csr.verify()).toBe(true);
  });
});

describe("keys", () => {
  it("export P-256 keys as the PKCS #8 structure the storage scan looks for", async () => {
    // test/e2e/managed-https-resilience.test.ts searches stored bytes for this prefix.
    const der = await exportPkcs8((await generateKeyPair()).privateKey);
    const prefix = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420";
    expect(
      Array.from(der.slice(0, prefix.length / 2), (b) => b.toString(16).padStart(2, "0")).join(""),
    ).toBe(prefix);
  });

  it("export to PKCS #8 and import again, signing the same", async () => {
    const keys = await generateKeyPair();
    const again = await importPkcs8(await exportPkcs8(keys.privateKey));
    const data = new Uint8Array([1, 2, 3]);
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, again, data);
    expect(
      await crypto.subtle.verify(
        { name: "ECDSA", hash: "SHA-256" },
        keys.publicKey,
        signature,
        data,
      ),
    ).toBe(true);
  });
});

describe("PEM", () => {
  it("round-trips DER with 64-character lines", () => {
    const der = crypto.getRandomValues(new Uint8Array(200));
    const pem = toPem("CERTIFICATE", der);
    expect(pem.split("\n").every((line) => line.length <= 64)).toBe(true);
    expect(pemBlocks(`junk before\n${pem}junk between\n${pem}`)).toEqual([
      { label: "CERTIFICATE", der },
      { label: "CERTIFICATE", der },
    ]);
  });

  it.each([
    ["no block at all", "hello", "no PEM certificate found"],
    [
      "a key in a chain",
      toPem("PRIVATE KEY", new Uint8Array([1])),
      "unexpected PEM block PRIVATE KEY",
    ],
    [
      "mismatched labels",
      "-----BEGIN CERTIFICATE-----\nAQID\n-----END PRIVATE KEY-----",
      "ends with END PRIVATE KEY",
    ],
    [
      "bad base64",
      "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----",
      "not valid base64",
    ],
  ])("refuses %s", (_, text, message) => {
    expect(() => certificatesFromPem(text)).toThrow(PemError);
    expect(() => certificatesFromPem(text)).toThrow(message);
  });
});

describe("key wrapping", () => {
  it("seals and opens a key for the same domain, under the current ring key", async () => {
    const ring = await parseKeyRing(JSON.stringify({ current: "k1", keys: { k1: randomKey() } }));
    const secret = crypto.getRandomValues(new Uint8Array(138));
    const wrapped = await wrapKey(ring, secret, "track.example.com");
    expect(wrapped).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(wrapped).not.toContain(base64(secret).slice(0, 20));
    expect(await unwrapKey(ring, wrapped, "track.example.com")).toEqual(secret);
    expect(await wrapKey(ring, secret, "track.example.com")).not.toBe(wrapped);
  });

  it("will not open a key for another domain, or one that was altered", async () => {
    const ring = await parseKeyRing(JSON.stringify({ current: "k1", keys: { k1: randomKey() } }));
    const wrapped = await wrapKey(ring, new Uint8Array([1, 2, 3]), "track.example.com");
    await expect(unwrapKey(ring, wrapped, "other.example.com")).rejects.toThrow(UnwrapError);
    const parts = wrapped.split(".");
    const flipped = [
      ...parts.slice(0, 3),
      `${parts[3]?.startsWith("A") ? "B" : "A"}${parts[3]?.slice(1)}`,
    ].join(".");
    await expect(unwrapKey(ring, flipped, "track.example.com")).rejects.toThrow("does not open");
    await expect(unwrapKey(ring, "v1.k1.zz", "track.example.com")).rejects.toThrow(
      "not a wrapped key",
    );
    // Relabelling with another key id changes the additional data, so it fails too.
    const both = await parseKeyRing(
      JSON.stringify({ current: "k1", keys: { k1: randomKey(), k2: randomKey() } }),
    );
    const sealed = await wrapKey(both, new Uint8Array([9]), "d");
    await expect(unwrapKey(both, sealed.replace(".k1.", ".k2."), "d")).rejects.toThrow(UnwrapError);
  });

  it("keeps opening old keys after the current key changes", async () => {
    const k1 = randomKey();
    const before = await parseKeyRing(JSON.stringify({ current: "k1", keys: { k1 } }));
    const old = await wrapKey(before, new Uint8Array([7, 7]), "track.example.com");
    const after = await parseKeyRing(
      JSON.stringify({ current: "k2", keys: { k1, k2: randomKey() } }),
    );
    expect(await unwrapKey(after, old, "track.example.com")).toEqual(new Uint8Array([7, 7]));
    expect(await wrapKey(after, new Uint8Array([1]), "x")).toMatch(/^v1\.k2\./);
    const retired = await parseKeyRing(
      JSON.stringify({ current: "k2", keys: { k2: randomKey() } }),
    );
    await expect(unwrapKey(retired, old, "track.example.com")).rejects.toThrow(
      "key k1, which is not in the ring",
    );
  });

  it.each([
    [undefined, "is not set"],
    ["{", "is not JSON"],
    ["[]", "must be {"],
    [JSON.stringify({ current: "k1", keys: { k1: "c2hvcnQ=" } }), "key k1 must be 32 bytes"],
    [
      JSON.stringify({ current: "k9", keys: { k1: base64(new Uint8Array(32)) } }),
      '"current" must name one of its keys',
    ],
    [
      JSON.stringify({ current: "k 1", keys: { "k 1": base64(new Uint8Array(32)) } }),
      "must be 1-32 letters",
    ],
  ])("names what is wrong with the key ring %j, without showing keys", async (json, message) => {
    const error = await parseKeyRing(json).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyRingError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).toContain("KEY_ENCRYPTION_KEYS");
  });

  it("accepts keys in base64url too", async () => {
    const raw = fromBase64(randomKey());
    const url = base64(raw).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
    const ring = await parseKeyRing(JSON.stringify({ current: "a", keys: { a: url } }));
    expect(ring.keys.has("a")).toBe(true);
  });
});
