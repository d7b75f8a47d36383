// Webhook deliveries are signed the Standard Webhooks way: the project's signature is checked
// with the reference library (standardwebhooks), not with our own code. Also: where a webhook may
// point, and how long a failing batch waits.
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { retryDelayMs, signingSecretsAt } from "../../src/webhooks/delivery";
import { newSigningSecret, signDelivery } from "../../src/webhooks/signing";
import { checkTarget } from "../../src/webhooks/target";

describe("signDelivery", () => {
  const body = JSON.stringify([{ msys: { tracking_domain_event: { type: "tls_status_change" } } }]);

  it("makes headers that the Standard Webhooks library accepts", async () => {
    const secret = newSigningSecret();
    const headers = await signDelivery([secret], "batch-1", new Date(), body);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it("is refused under another secret, for another body, or when stale", async () => {
    const secret = newSigningSecret();
    const headers = await signDelivery([secret], "batch-1", new Date(), body);
    expect(() => new Webhook(newSigningSecret()).verify(body, { ...headers })).toThrow(
      WebhookVerificationError,
    );
    expect(() =>
      new Webhook(secret).verify(body.replace("status", "error"), { ...headers }),
    ).toThrow(WebhookVerificationError);
    const old = await signDelivery([secret], "batch-1", new Date(Date.now() - 3600_000), body);
    expect(() => new Webhook(secret).verify(body, { ...old })).toThrow(WebhookVerificationError);
  });

  it("signs under each secret while a replaced one is still honoured: either verifies", async () => {
    const [replaced, current] = [newSigningSecret(), newSigningSecret()];
    const headers = await signDelivery([current, replaced], "batch-1", new Date(), body);
    expect(headers["webhook-signature"]).toMatch(/^v1,\S+ v1,\S+$/);
    for (const secret of [current, replaced]) {
      expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
    }
    expect(() => new Webhook(newSigningSecret()).verify(body, { ...headers })).toThrow(
      WebhookVerificationError,
    );
  });

  it("honours a replaced secret only until its time is up", () => {
    const at = new Date("2026-11-27T12:00:00Z");
    const secrets = {
      signingSecret: "whsec_new",
      previousSigningSecret: "whsec_old",
      previousUntil: "2026-11-27T13:00:00Z",
    };
    expect(signingSecretsAt(secrets, at)).toEqual(["whsec_new", "whsec_old"]);
    expect(signingSecretsAt(secrets, new Date("2026-11-27T13:00:00Z"))).toEqual(["whsec_new"]);
    expect(signingSecretsAt({ signingSecret: "whsec_new" }, at)).toEqual(["whsec_new"]);
  });

  it("draws a new 32-byte secret each time", () => {
    const a = newSigningSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(newSigningSecret()).not.toBe(a);
  });
});

describe("checkTarget", () => {
  it("takes public https names only, in production", () => {
    expect(checkTarget("https://hooks.example.com/tls?x=1", false)).toEqual({
      ok: true,
      url: "https://hooks.example.com/tls?x=1",
    });
    const refused: [string, RegExp][] = [
      ["http://hooks.example.com/", /https:\/\//],
      ["https://127.0.0.1/hook", /not an IP address/],
      ["https://[::1]/hook", /not an IP address/],
      ["https://localhost/hook", /not a public name/],
      ["https://metadata.internal/hook", /not a public name/],
      ["https://a:b@hooks.example.com/", /credentials/],
      ["hooks.example.com/tls", /absolute URL/],
      [`https://hooks.example.com/${"a".repeat(2048)}`, /at most 2048/],
    ];
    for (const [target, reason] of refused) {
      const checked = checkTarget(target, false);
      expect(checked.ok, target).toBe(false);
      if (!checked.ok) expect(checked.reason, target).toMatch(reason);
    }
  });

  it("also takes http:// and loopback addresses when local runs allow them", () => {
    expect(checkTarget("http://127.0.0.1:8080/hook", true)).toEqual({
      ok: true,
      url: "http://127.0.0.1:8080/hook",
    });
    expect(checkTarget("ftp://127.0.0.1/hook", true).ok).toBe(false);
  });
});

describe("retryDelayMs", () => {
  it("waits 30 s, then twice as long each time, at most an hour", () => {
    expect([1, 2, 3, 4, 7, 8, 20].map((n) => retryDelayMs(n) / 1000)).toEqual([
      30, 60, 120, 240, 1920, 3600, 3600,
    ]);
  });
});
