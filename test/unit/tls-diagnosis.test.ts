// The TLS 1.2 diagnosis of a failed handshake (src/domains/tls-diagnosis.ts): the ClientHello it
// sends, reading a certificate out of records however they are split, refusing alerts and
// garbage, and matching names as certificates do (one wildcard label at most).
import { describe, expect, it } from "vitest";
import {
  certificateReader,
  clientHello,
  nameCovers,
  TlsDiagnosisError,
} from "../../src/domains/tls-diagnosis";

const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const record = (type: number, body: number[]) => [
  type,
  3,
  3,
  (body.length >> 8) & 0xff,
  body.length & 0xff,
  ...body,
];
const handshake = (type: number, body: number[]) => [type, ...u24(body.length), ...body];

describe("TLS diagnosis", () => {
  it("sends a TLS 1.2 ClientHello naming the server", () => {
    const hello = clientHello("track.example.com");
    expect([...hello.slice(0, 3)]).toEqual([0x16, 0x03, 0x01]);
    expect((hello[3] as number) * 256 + (hello[4] as number)).toBe(hello.length - 5);
    expect(hello[5]).toBe(1); // client_hello
    expect([...hello.slice(9, 11)]).toEqual([3, 3]);
    expect(new TextDecoder().decode(hello)).toContain("track.example.com");
  });

  it("reads the certificate chain however the records are split", () => {
    const leaf = [0x30, 0x03, 1, 2, 3];
    const intermediate = [0x30, 0x02, 9, 9];
    const certificates = [
      ...u24(leaf.length),
      ...leaf,
      ...u24(intermediate.length),
      ...intermediate,
    ];
    const bytes = new Uint8Array([
      ...record(0x16, handshake(2, [3, 3, ...new Array(34).fill(0)])),
      ...record(0x16, handshake(11, [...u24(certificates.length), ...certificates])),
    ]);
    for (const size of [1, 7, bytes.length]) {
      const read = certificateReader();
      let chain: Uint8Array[] | null = null;
      for (let i = 0; i < bytes.length && !chain; i += size) chain = read(bytes.slice(i, i + size));
      expect(chain?.map((c) => [...c])).toEqual([leaf, intermediate]);
    }
  });

  it("refuses an alert, a record that is not a handshake, and endless bytes", () => {
    expect(() => certificateReader()(new Uint8Array(record(0x15, [2, 70])))).toThrow(
      TlsDiagnosisError,
    );
    expect(() => certificateReader()(new Uint8Array(record(0x17, [1, 2])))).toThrow(
      "record type 23",
    );
    const read = certificateReader(1000);
    expect(() => {
      for (let i = 0; i < 10; i++)
        read(new Uint8Array([0x16, 3, 3, 0xff, 0xff, ...new Array(200).fill(0)]));
    }).toThrow("within 1000 bytes");
  });

  it.each([
    ["track.example.com", "track.example.com", true],
    ["*.example.com", "track.example.com", true],
    ["*.example.com", "a.track.example.com", false],
    ["*.example.com", "example.com", false],
    ["other.example.com", "track.example.com", false],
  ])("%s covers %s: %s", (pattern, domain, covers) => {
    expect(nameCovers(pattern, domain)).toBe(covers);
  });
});
