// JWS, thumbprints, key authorizations and External Account Binding, checked against the
// RFCs' own examples (RFC 7515 A.3, RFC 7638 §3.1) and by verifying what we sign.
import { describe, expect, it } from "vitest";
import {
  type AccountKey,
  exportAccountKey,
  generateAccountKey,
  importAccountKey,
  jwkThumbprint,
  keyAuthorization,
  postAsGet,
  signExternalAccountBinding,
  signJws,
} from "../../src/acme/jws";
import { base64Url, fromBase64Url, fromUtf8, utf8 } from "../../src/util/encoding";

// RFC 7515 Appendix A.3: an ES256 JWS and the key that made it.
const rfc7515 = {
  jwk: {
    kty: "EC",
    crv: "P-256",
    x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    d: "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
  },
  protected: "eyJhbGciOiJFUzI1NiJ9",
  payload:
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
  signature:
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
};

// RFC 7638 §3.1: an RSA public key and its SHA-256 thumbprint.
const rfc7638 = {
  jwk: {
    kty: "RSA",
    n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    e: "AQAB",
    alg: "RS256",
    kid: "2011-04-29",
  },
  thumbprint: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
};

async function verifyEs256(
  jwk: JsonWebKey,
  signingInput: string,
  signature: string,
): Promise<boolean> {
  const { kty, crv, x, y } = jwk;
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty, crv, x, y },
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  return crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    fromBase64Url(signature),
    utf8(signingInput),
  );
}

const decodeJson = (part: string) => JSON.parse(fromUtf8(fromBase64Url(part)));

describe("JWS", () => {
  it("reads an ES256 signature the way RFC 7515 A.3 writes it (raw r||s)", async () => {
    expect(
      await verifyEs256(rfc7515.jwk, `${rfc7515.protected}.${rfc7515.payload}`, rfc7515.signature),
    ).toBe(true);
    expect(
      await verifyEs256(rfc7515.jwk, `${rfc7515.protected}.${rfc7515.payload}x`, rfc7515.signature),
    ).toBe(false);
  });

  it("signs with the RFC's key so that the RFC's key verifies it", async () => {
    const key = await importAccountKey(rfc7515.jwk);
    expect(key.publicJwk).toEqual({ kty: "EC", crv: "P-256", x: rfc7515.jwk.x, y: rfc7515.jwk.y });
    const jws = await signJws(
      key,
      { nonce: "n1", url: "https://ca.example/acct", kid: "https://ca.example/acct/1" },
      { a: 1 },
    );
    expect(fromBase64Url(jws.signature)).toHaveLength(64);
    expect(await verifyEs256(rfc7515.jwk, `${jws.protected}.${jws.payload}`, jws.signature)).toBe(
      true,
    );
  });

  it("puts the public key in the header for newAccount and the account URL afterwards", async () => {
    const key = await generateAccountKey();
    const withJwk = await signJws(
      key,
      { nonce: "abc", url: "https://ca.example/new-acct", jwk: key.publicJwk },
      { termsOfServiceAgreed: true },
    );
    expect(decodeJson(withJwk.protected)).toEqual({
      alg: "ES256",
      nonce: "abc",
      url: "https://ca.example/new-acct",
      jwk: key.publicJwk,
    });
    expect(decodeJson(withJwk.payload)).toEqual({ termsOfServiceAgreed: true });

    const withKid = await signJws(
      key,
      { nonce: "def", url: "https://ca.example/order/1", kid: "https://ca.example/acct/7" },
      postAsGet,
    );
    expect(decodeJson(withKid.protected)).toEqual({
      alg: "ES256",
      nonce: "def",
      url: "https://ca.example/order/1",
      kid: "https://ca.example/acct/7",
    });
    // RFC 8555 §6.3: POST-as-GET carries an empty payload, not "" encoded as JSON.
    expect(withKid.payload).toBe("");
    expect(await verifyEs256(key.publicJwk, `${withKid.protected}.`, withKid.signature)).toBe(true);
  });

  it("exports and re-imports an account key without changing it", async () => {
    const key = await generateAccountKey();
    const again: AccountKey = await importAccountKey(await exportAccountKey(key));
    expect(again.publicJwk).toEqual(key.publicJwk);
    const jws = await signJws(again, { nonce: "n", url: "https://ca.example/x", kid: "k" }, {});
    expect(await verifyEs256(key.publicJwk, `${jws.protected}.${jws.payload}`, jws.signature)).toBe(
      true,
    );
  });
});

describe("account keys", () => {
  it.each([
    ["an RSA key", { kty: "RSA", n: "AQAB", e: "AQAB", d: "AQAB" }],
    ["a P-384 key", { ...rfc7515.jwk, crv: "P-384" }],
    ["a public key", { ...rfc7515.jwk, d: undefined }],
  ])("refuses %s", async (_, jwk) => {
    await expect(importAccountKey(jwk as JsonWebKey)).rejects.toThrow(
      "an ACME account key must be a private EC P-256 JWK",
    );
  });

  it("imports the RFC's key with its public half, and exports it again", async () => {
    const key = await importAccountKey(rfc7515.jwk);
    const { kty, crv, x, y, d } = rfc7515.jwk;
    expect(key.publicJwk).toEqual({ kty, crv, x, y });
    expect(await exportAccountKey(key)).toEqual({ kty, crv, x, y, d });
  });
});

describe("thumbprints and key authorizations", () => {
  it("computes the RFC 7638 §3.1 thumbprint, ignoring optional members", async () => {
    expect(await jwkThumbprint(rfc7638.jwk)).toBe(rfc7638.thumbprint);
  });

  it("thumbprints an EC key over crv, kty, x, y in that order", async () => {
    const { kty, crv, x, y } = rfc7515.jwk;
    const expected = base64Url(
      new Uint8Array(
        await crypto.subtle.digest(
          "SHA-256",
          utf8(`{"crv":"${crv}","kty":"${kty}","x":"${x}","y":"${y}"}`),
        ),
      ),
    );
    expect(await jwkThumbprint({ y, x, kty, crv, d: "ignored" })).toBe(expected);
  });

  it("thumbprints an OKP key as RFC 8037 §A.3 does, and an oct key over k and kty", async () => {
    expect(
      await jwkThumbprint({
        kty: "OKP",
        crv: "Ed25519",
        x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        d: "ignored",
      }),
    ).toBe("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    const expected = base64Url(
      new Uint8Array(await crypto.subtle.digest("SHA-256", utf8('{"k":"c2VjcmV0","kty":"oct"}'))),
    );
    expect(await jwkThumbprint({ kty: "oct", alg: "HS256", k: "c2VjcmV0" })).toBe(expected);
  });

  it("refuses a key type it cannot thumbprint", async () => {
    await expect(jwkThumbprint({ kty: "XYZ" })).rejects.toThrow("no thumbprint for key type XYZ");
  });

  it("forms the HTTP-01 key authorization as token.thumbprint (RFC 8555 §8.1)", async () => {
    const key = await importAccountKey(rfc7515.jwk);
    const thumbprint = await jwkThumbprint({ ...key.publicJwk });
    expect(
      await keyAuthorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", key.publicJwk),
    ).toBe(`evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.${thumbprint}`);
  });
});

describe("External Account Binding", () => {
  it("MACs the account's public JWK with the CA's key, naming its kid and the newAccount URL", async () => {
    const key = await generateAccountKey();
    const hmacKey = base64Url(crypto.getRandomValues(new Uint8Array(32)));
    const eab = await signExternalAccountBinding(
      { kid: "kid-1", hmacKey },
      key.publicJwk,
      "https://ca.example/new-acct",
    );
    expect(decodeJson(eab.protected)).toEqual({
      alg: "HS256",
      kid: "kid-1",
      url: "https://ca.example/new-acct",
    });
    expect(decodeJson(eab.payload)).toEqual(key.publicJwk);
    const macKey = await crypto.subtle.importKey(
      "raw",
      fromBase64Url(hmacKey),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    );
    expect(
      await crypto.subtle.verify(
        "HMAC",
        macKey,
        fromBase64Url(eab.signature),
        utf8(`${eab.protected}.${eab.payload}`),
      ),
    ).toBe(true);
  });
});
