// A domain's certificate object under stops and a failing mirror, run as the runtime runs it
// (test/workers/lifecycle-harness.ts): whichever storage write it dies at, it comes back from
// storage and the domain reaches valid with one order at the CA and one certificate, nothing half
// done; a D1 mirror write that fails after the object committed is repaired without anyone asking.
import { env } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { certificateIdOf } from "../../src/acme/ari";
import { phases } from "../../src/issuance/state";
import { certificatesFromPem } from "../../src/pki/pem";
import { newAccount } from "./helpers";
import {
  alarmOf,
  breakMirror,
  CaWire,
  managedDomain,
  mirrored,
  restart,
  type Stub,
  settle,
  stopAt,
  storedChallenges,
  until,
} from "./lifecycle-harness";

let wire: CaWire;
beforeEach(() => {
  wire = new CaWire().install();
});
afterEach(() => wire.uninstall());

/** What a user sees at the end: valid, one order, one certificate, nothing left half done. */
async function expectIssuedOnce(domain: string, stub: Stub) {
  const view = await stub.view();
  expect(view).toMatchObject({ status: "valid", step: "installed", error: null });
  expect(view.history.map((h) => h.status)).toEqual(["active"]);
  expect(wire.orders.get(domain)).toBe(1);
  expect(await storedChallenges(stub)).toBe(0);
  // The API shows the object's state.
  expect(await mirrored(domain)).toMatchObject({
    tls_status: "valid",
    tls_step: "installed",
    tls_expires_at: view.current?.notAfter,
    tls_error_code: null,
  });
}

const steps = phases.filter((p) => p !== "idle" && p !== "installed");

describe("a certificate object that stops", () => {
  it.each(
    steps.flatMap((phase) => [
      [phase, "after the state write"] as const,
      [phase, "before the state write"] as const,
    ]),
  )("at %s, %s, comes back and issues once", { timeout: 30_000 }, async (phase, when) => {
    const account = await newAccount();
    const { domain, stub } = await managedDomain(account.accountId);
    // The step's own writes (a challenge token, a key, a certificate) go through; the object
    // dies at the write of the state the step ends in, or at the write just after it.
    let stateWritten = false;
    const stop = await stopAt(stub, (write) => {
      if (stateWritten) return true;
      const endsStep = /^\s*INSERT INTO lifecycle/i.test(write.query) && write.phase === phase;
      if (endsStep && when === "before the state write") return true;
      if (endsStep) stateWritten = true;
      return false;
    });
    await stub.enable(domain, "us");
    await until(`a stop at ${phase}`, stop.stopped);
    const back = await restart(domain);
    await settle(back);
    await expectIssuedOnce(domain, back);
  });
});

describe("the D1 mirror", () => {
  it("shows the object's state again once a failed mirror write can go through", {
    timeout: 30_000,
  }, async () => {
    const account = await newAccount();
    const { domain, stub } = await managedDomain(account.accountId, "mirror");
    // D1 refuses the mirror from the start; the object goes on, and commits its own state.
    await breakMirror(stub);
    await stub.enable(domain, "us");
    await until("the certificate", async () => (await stub.view()).status === "valid");
    expect((await mirrored(domain))?.tls_status).toBe("pending");
    // The object asks again by itself soon (well within a sweep tick's minute). The alarm is
    // set once the step that reached valid has tried its mirror write.
    await until("the mirror's retry", async () => (await alarmOf(stub)) !== null);
    const alarm = await alarmOf(stub);
    expect((alarm as number) - Date.now()).toBeLessThanOrEqual(10_000);
    // D1 answers again (a new instance has the runtime's own binding): the retry mirrors.
    const back = await restart(domain);
    await until(
      "the mirror's retry",
      async () => (await mirrored(domain))?.tls_status === "valid",
      15_000,
    );
    await expectIssuedOnce(domain, back);
  });
});

describe("a renewal the CA's renewal information asks for", () => {
  it("names the certificate it replaces in the order the CA receives", {
    timeout: 60_000,
  }, async () => {
    // The CA speaks ARI (RFC 9773), which the test Pebble does not: the wire adds renewalInfo to
    // its directory and answers for it. The first certificate's window is already open; any
    // later one's is a month away.
    const origin = new URL(env.ACME_DIRECTORY_URL).origin;
    const asked: string[] = [];
    const chains: string[] = [];
    wire.standIn(async (request, forward) => {
      if (request.kind === "directory") {
        const directory = (await (await forward()).json()) as Record<string, unknown>;
        return Response.json({ ...directory, renewalInfo: `${origin}/renewal-info` });
      }
      if (request.url.startsWith(`${origin}/renewal-info/`)) {
        const id = request.url.slice(`${origin}/renewal-info/`.length);
        if (!asked.includes(id)) asked.push(id);
        const hours = (n: number) => new Date(Date.now() + n * 3_600_000).toISOString();
        const suggestedWindow =
          id === asked[0]
            ? { start: hours(-2), end: hours(-1) }
            : { start: hours(720), end: hours(744) };
        return Response.json({ suggestedWindow }, { headers: { "retry-after": "21600" } });
      }
      if (request.kind === "certificate") {
        const response = await forward();
        // Only the chains the CA served: a download refused (Pebble's random badNonce) has none.
        if (response.ok) chains.push(await response.clone().text());
        return response;
      }
      return null;
    });
    const account = await newAccount();
    const { domain, stub } = await managedDomain(account.accountId);
    await stub.enable(domain, "us");
    await until("renewed", async () => (await stub.view()).history.length === 2, 45_000);
    await settle(stub);

    // The orders the CA made (201): one refused for a bad nonce is re-signed and sent again, and
    // the refused copy is no order.
    const orders = wire.requests
      .filter((r) => r.kind === "newOrder" && r.answer?.startsWith("201"))
      .map((r) => r.payload as { identifiers: { value: string }[]; replaces?: string })
      .filter((p) => p.identifiers[0]?.value === domain);
    expect(orders).toHaveLength(2);
    expect(orders[0]?.replaces).toBeUndefined();
    // The renewal's order, as the CA received it, names the first certificate (AKI.serial).
    const first = certificatesFromPem(chains[0] ?? "")[0] as Uint8Array;
    expect(orders[1]?.replaces).toBe(certificateIdOf(first));
    const view = await stub.view();
    expect(view).toMatchObject({ status: "valid", step: "installed" });
    expect(view.history.map((h) => h.status).sort()).toEqual(["active", "superseded"]);
  });
});
