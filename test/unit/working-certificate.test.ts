// A self-managed domain's proxy passes the probe; its certificate is then read so that the
// customer hears of its expiry two weeks ahead (src/domains/tls-diagnosis.ts inspectWorkingLeaf).
import { describe, expect, it } from "vitest";
import { expiryWarningDays, inspectWorkingLeaf } from "../../src/domains/tls-diagnosis";
import { selfSignedCertificate } from "../support/self-signed";

const day = 86_400_000;
const now = new Date("2026-11-26T12:00:00Z");

/** A self-signed certificate for `name`, valid from a month before `now` until `notAfter`. */
const certificate = (name: string, notAfter: Date) =>
  selfSignedCertificate(name, { notBefore: new Date(now.getTime() - 30 * day), notAfter });

describe("a working proxy's certificate", () => {
  it("warns when it expires within two weeks, saying when and what happens then", async () => {
    const leaf = await certificate("track.shop.test", new Date(now.getTime() + 5 * day + 3600_000));
    const inspected = inspectWorkingLeaf(leaf, now);
    expect(inspected?.certificate).toMatchObject({
      names: ["track.shop.test"],
      notAfter: "2026-12-01T13:00:00.000Z",
    });
    expect(inspected?.warning).toBe(
      "Its certificate expires on 2026-12-01T13:00:00.000Z (in 5 days): renew it on your CDN or proxy, or new links will use http:// from then on.",
    );
  });

  it("says 'within a day' on the last day, and nothing further out than two weeks", async () => {
    const lastDay = await certificate("a.shop.test", new Date(now.getTime() + 3600_000));
    expect(inspectWorkingLeaf(lastDay, now)?.warning).toContain("(within a day)");
    const later = await certificate(
      "b.shop.test",
      new Date(now.getTime() + (expiryWarningDays + 1) * day),
    );
    const inspected = inspectWorkingLeaf(later, now);
    expect(inspected?.certificate.names).toEqual(["b.shop.test"]);
    expect(inspected?.warning).toBeUndefined();
  });

  it("reads nothing from bytes that are not a certificate", () => {
    expect(inspectWorkingLeaf(new Uint8Array([0x30, 0x03, 1, 2, 3]), now)).toBeNull();
  });
});
