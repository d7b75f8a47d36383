// The management UI in Debian's Chromium (playwright-core), against the worker and the real
// stack, as a person would use it: a wrong key is refused; a domain with managed HTTPS is created,
// shows its DNS record, verifies and reaches Valid with its dates; an insecure domain goes through
// the enable-HTTPS wizard, where a CAA record fails with its fix until DNS is fixed; a
// self-managed domain shows its last check through its proxy; a webhook is added, tested against
// a real endpoint and deleted; an API key with some grants is made and revoked; a name another
// account holds is claimed with the TXT record the form shows; a domain is deleted after
// confirming. Screenshots go to test-output/screenshots for people to look at.
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { getVia } from "../../scripts/lib/get-via";
import { findBinary } from "../../scripts/lib/local-stack";
import { endpoints, projectRoot } from "../../scripts/lib/stack-config";
import { WebhookEndpoint } from "../support/webhook-endpoint";
import { api, d1Execute, dns, dynamicName } from "./helpers";

const screenshots = `${projectRoot}/test-output/screenshots`;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const executablePath = findBinary("chromium");
  if (!executablePath) throw new Error("chromium is not installed: apt-get install chromium");
  mkdirSync(screenshots, { recursive: true });
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
});

const ui = () => `${inject("workerUrl")}/`;

async function signIn(key: string): Promise<void> {
  await signInWith(key);
  await page.getByRole("heading", { name: "Tracking domains" }).waitFor();
}

async function signInWith(key: string): Promise<void> {
  // A fresh browser session: the key is kept in session storage only.
  await page.goto(ui());
  await page.evaluate(() => sessionStorage.clear());
  await page.reload();
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

describe("management UI", () => {
  it("refuses a wrong API key, saying so", async () => {
    await signInWith(`te_${"0".repeat(40)}`);
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("not valid");
    expect(await page.getByLabel("API key").isVisible()).toBe(true);
  });

  it("creates a managed domain, shows its DNS record, verifies it and watches it reach Valid", {
    timeout: 60_000,
  }, async () => {
    const domain = dynamicName("ui");
    await dns.setCname(domain, endpoints.v2Us);
    await signIn(inject("apiKeys").alpha);
    await page.getByRole("link", { name: "Add a domain" }).first().click();
    // The API's own message for a name it refuses.
    await page.getByLabel("Subdomain").fill("com");
    await page.getByRole("button", { name: "Add domain" }).click();
    await expect
      .poll(() => page.getByRole("alert").textContent())
      .toContain("invalid data format/type");
    expect(await page.getByRole("alert").textContent()).toContain('"com"');

    await page.getByLabel("Subdomain").fill(domain);
    expect(await page.getByLabel("Managed HTTPS").isChecked()).toBe(true);
    await page.getByRole("button", { name: "Add domain" }).click();
    await page.getByRole("heading", { name: domain }).waitFor();
    const record = page.locator("#dns-record tbody tr");
    expect(await record.locator("td").nth(0).textContent()).toContain(domain);
    expect(await record.locator("td").nth(1).textContent()).toBe("CNAME");
    expect(await record.locator("td").nth(2).textContent()).toContain(endpoints.v2Us);
    expect(await page.getByRole("button", { name: "Copy value" }).isVisible()).toBe(true);

    await page.getByRole("button", { name: "Verify" }).click();
    await expect.poll(() => page.locator("#verified").textContent()).toBe("Verified");
    await expect
      .poll(() => page.locator("#tls-status").textContent(), { timeout: 30_000 })
      .toContain("Valid");
    for (const field of ["#issued-at", "#expires-at", "#renews-at"])
      expect(await page.locator(field).textContent()).toMatch(/\d{4} \d\d:\d\d:\d\d UTC/);
    expect(await page.locator("#engagement-summary").textContent()).toBe("None yet.");

    // A click on one of its links (over http, as a link in an older email would come) shows up.
    const key = inject("apiKeys").alpha;
    await api(key, "POST", "/sending-domains", {
      domain: `mail.${domain}`,
      tracking_domain: domain,
    });
    const minted = await api(key, "POST", "/tracking-links", {
      sending_domain: `mail.${domain}`,
      links: [{ url: "https://shop.example/boots", name: "boots" }],
    });
    const link = (await minted.json<{ results: { links: { tracked_url: string }[] } }>()).results
      .links[0]?.tracked_url as string;
    expect(link.startsWith(`https://${domain}/`)).toBe(true);
    const worker = new URL(inject("workerUrl"));
    const clicked = await getVia(link.replace(/^https:/, "http:"), {
      host: worker.hostname,
      port: Number(worker.port),
    });
    expect(clicked.status).toBe(302);
    await expect
      .poll(
        async () =>
          (
            await (
              await api(key, "GET", `/events/engagement?tracking_domain=${domain}`)
            ).json<{ results: unknown[] }>()
          ).results.length,
        { timeout: 15_000 },
      )
      .toBe(1);
    await page.reload();
    await expect
      .poll(() => page.locator("#engagement-summary").textContent())
      .toBe("The latest 1: 1 click and 0 opens; 0 of 1 over HTTPS.");
    expect(await page.locator("#engagement tbody tr").textContent()).toContain("boots");
    await page.screenshot({ path: `${screenshots}/details.png`, fullPage: true });

    await page.getByRole("link", { name: "Tracking domains" }).first().click();
    const row = page.locator("#domains tr", { hasText: domain });
    await row.waitFor();
    expect(await row.textContent()).toContain("Valid");
    expect(await row.textContent()).toContain("Managed HTTPS");
    await page.screenshot({ path: `${screenshots}/list.png`, fullPage: true });
  });

  it("enables HTTPS on an insecure domain through the wizard, failing on CAA until DNS is fixed", {
    timeout: 60_000,
  }, async () => {
    const org = `c${randomUUID().slice(0, 8)}.dyn.test`;
    const domain = `track.${org}`;
    await dns.setCname(domain, endpoints.v2Us);
    await dns.addCaa(org, [{ tag: "issue", value: "other-ca.example" }]);
    const key = inject("apiKeys").alpha;
    expect((await api(key, "POST", "/tracking-domains", { domain, secure: false })).status).toBe(
      200,
    );
    expect((await api(key, "POST", `/tracking-domains/${domain}/verify`)).status).toBe(200);

    await signIn(key);
    await page.goto(`${ui()}ui/#/domains/${domain}`);
    await page.getByRole("link", { name: "Enable managed HTTPS…" }).click();
    await page.getByRole("button", { name: "Run the checks" }).click();
    const caa = page.locator('tr[data-check="caa"]');
    await caa.waitFor();
    expect(await caa.locator("td").nth(1).textContent()).toBe("Fail");
    expect(await caa.locator("td").nth(3).textContent()).toContain(`CAA 0 issue "letsencrypt.org"`);
    expect(await page.locator('tr[data-check="cname"] td').nth(1).textContent()).toBe("Pass");
    expect(await page.getByRole("button", { name: "Enable HTTPS" }).isDisabled()).toBe(true);
    await page.screenshot({ path: `${screenshots}/wizard.png`, fullPage: true });

    await dns.clearCaa(org);
    await page.getByRole("button", { name: "Run the checks" }).click();
    await expect
      .poll(() => page.locator('tr[data-check="caa"] td').nth(1).textContent())
      .toBe("Pass");
    await page.getByRole("button", { name: "Enable HTTPS" }).click();
    await page.getByRole("heading", { name: domain }).waitFor();
    await expect
      .poll(() => page.locator("#tls-status").textContent(), { timeout: 30_000 })
      .toContain("Valid");
  });

  it("offers to claim a name another account holds, shows the TXT record, and claims it once the record is there", {
    timeout: 30_000,
  }, async () => {
    const domain = dynamicName("ui-claim");
    await dns.setCname(domain, endpoints.v2Us);
    const { alpha, beta } = inject("apiKeys");
    expect((await api(beta, "POST", "/tracking-domains", { domain })).status).toBe(200);
    await signIn(alpha);
    await page.getByRole("link", { name: "Add a domain" }).first().click();
    await page.getByLabel("Subdomain").fill(domain);
    await page.getByRole("button", { name: "Add domain" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("another account");
    const row = page.locator("#claim-record tbody tr");
    await row.waitFor();
    expect(await row.locator("td").nth(0).textContent()).toContain(`_tracking-edge.${domain}`);
    expect(await row.locator("td").nth(1).textContent()).toBe("TXT");
    const value = (await row.locator("td code").nth(1).textContent()) ?? "";
    expect(value).toMatch(/^tracking-edge-account=[0-9a-f]{32}$/);
    // Before the record is there, the claim says what is missing.
    await page.getByRole("button", { name: "Claim it" }).click();
    await expect
      .poll(() => page.locator("#claim-status").textContent())
      .toContain(`Add a TXT record _tracking-edge.${domain}`);
    await page.screenshot({ path: `${screenshots}/claim.png`, fullPage: true });

    await dns.setTxt(`_tracking-edge.${domain}`, value);
    await page.getByRole("button", { name: "Claim it" }).click();
    await page.getByRole("heading", { name: domain, exact: true }).waitFor();
    const records = page.locator("#dns-record tbody tr");
    expect(await records.count()).toBe(2);
    expect(await records.nth(1).locator("td").nth(1).textContent()).toBe("TXT");
    expect(await page.locator("#ownership").textContent()).toContain("proven");
    expect((await api(beta, "GET", `/tracking-domains/${domain}`)).status).toBe(404);
  });

  it("shows a self-managed domain's last check through its proxy: why it failed, who acts, which links", async () => {
    // The name points at an address where nothing listens: the probe fails to connect.
    const domain = dynamicName("ui-proxied");
    await dns.addA(domain, ["127.0.0.3"]);
    const key = inject("apiKeys").alpha;
    const created = await api(key, "POST", "/tracking-domains", {
      domain,
      https_mode: "self_managed",
    });
    expect(created.status).toBe(200);
    await signIn(key);
    await page.goto(`${ui()}ui/#/domains/${domain}`);
    await expect
      .poll(() => page.locator("#https-check").textContent())
      .toContain("not been checked");

    await page.getByRole("button", { name: "Verify" }).click();
    await expect.poll(() => page.locator("#https-check").textContent()).toContain("https:tcp");
    const check = (await page.locator("#https-check").textContent()) ?? "";
    expect(check).toContain("Nothing accepted a connection at 127.0.0.3");
    expect(check).toContain("New links use http://");
    // Not verified, so not watched: the customer is told to verify again, not to wait.
    expect(check).toContain("press Verify once it is fixed");
    expect(check).toContain("Who must act: you (your CDN or proxy)");
    await page.screenshot({ path: `${screenshots}/self-managed.png`, fullPage: true });
  });

  it("shows the TXT record Cloudflare wants for a self-managed name as the customer's to add", async () => {
    const domain = dynamicName("ui-edge");
    const key = inject("apiKeys").alpha;
    const created = await api(key, "POST", "/tracking-domains", {
      domain,
      https_mode: "self_managed",
    });
    expect(created.status).toBe(200);
    // What a verify in a Cloudflare deploy mode records (this worker deploys by edge-pull, which
    // needs no such record): written as Cloudflare's answer would be.
    const value = randomUUID();
    d1Execute(
      `UPDATE tracking_domains SET edge_status = 'pending', edge_active = 0,
         edge_txt_name = '_cf-custom-hostname.${domain}', edge_txt_value = '${value}',
         edge_detail = 'The edge has not admitted the name yet: add the TXT record.',
         edge_checked_at = '${new Date().toISOString()}' WHERE domain = '${domain}'`,
    );
    await signIn(key);
    await page.goto(`${ui()}ui/#/domains/${domain}`);
    await expect
      .poll(() => page.locator("#edge-ownership").textContent())
      .toContain("waiting for you");
    const records = (await page.locator("#dns-record").textContent()) ?? "";
    expect(records).toContain(`_cf-custom-hostname.${domain}`);
    expect(records).toContain(value);
    expect(await page.locator("#edge-ownership").textContent()).toContain("add the TXT record");
  });

  it("can be used with the keyboard alone", async () => {
    await page.goto(ui());
    await page.evaluate(() => sessionStorage.clear());
    await page.reload();
    await page.getByLabel("API key").waitFor();
    // Each view puts the focus on the main region, so one Tab reaches the key field; Enter submits.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("api-key");
    await page.keyboard.type(inject("apiKeys").alpha);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Tracking domains" }).waitFor();
    // Every control in the form for a new domain has a label, and Enter adds it.
    await page.goto(`${ui()}ui/#/new`);
    await page.getByLabel("Subdomain").focus();
    const domain = dynamicName("ui-keys");
    await page.keyboard.type(domain);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: domain }).waitFor();
    const unlabelled = await page.evaluate(
      () =>
        Array.from(document.querySelectorAll("input, button, select")).filter(
          (e) =>
            !(
              e.getAttribute("aria-label") ||
              e.textContent?.trim() ||
              (e as HTMLInputElement).labels?.length
            ),
        ).length,
    );
    expect(unlabelled).toBe(0);
  });

  it("adds a webhook, shows its secret once, sends a test the endpoint can verify, deletes it", async () => {
    const endpoint = new WebhookEndpoint();
    await endpoint.start();
    try {
      await signIn(inject("apiKeys").alpha);
      await page.getByRole("link", { name: "Webhooks" }).click();
      await page.getByRole("heading", { name: "Webhooks", exact: true }).waitFor();
      const name = `ui-hook-${randomUUID().slice(0, 8)}`;
      await page.getByLabel("Name").fill(name);
      // The API's reason for a target it refuses.
      await page.getByLabel("Target URL").fill("ftp://hooks.example.com/tls");
      await page.getByRole("button", { name: "Add webhook" }).click();
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("https://");
      await page.getByLabel("Target URL").fill(endpoint.url);
      await page.getByLabel("Certificate renewed").uncheck();
      await page.getByRole("button", { name: "Add webhook" }).click();
      const secret = (await page.locator("#signing-secret").textContent()) ?? "";
      expect(secret).toMatch(/^whsec_/);
      await page.getByRole("link", { name: "Go to the webhook" }).click();
      await page.getByRole("heading", { name, exact: true }).waitFor();
      expect(await page.locator("main").textContent()).not.toContain(secret);
      expect(await page.locator("main").textContent()).toContain(
        "HTTPS status changes; A problem appears, changes or clears; The check through your own CDN or proxy fails or recovers; Another account proves it owns a domain and claims it",
      );

      await page.getByRole("button", { name: "Send a test event" }).click();
      await expect
        .poll(() => page.locator("#webhook-test").textContent())
        .toBe("Test POST to endpoint succeeded (HTTP 200)");
      const [request] = endpoint.received;
      expect(request).toBeDefined();
      // The secret the page showed verifies what the endpoint received.
      new Webhook(secret).verify(request?.body ?? "", {
        "webhook-id": String(request?.headers["webhook-id"]),
        "webhook-timestamp": String(request?.headers["webhook-timestamp"]),
        "webhook-signature": String(request?.headers["webhook-signature"]),
      });
      await page.screenshot({ path: `${screenshots}/webhook.png`, fullPage: true });

      // The secret replaced with a day's overlap: the new one is shown once, and a test event
      // carries signatures that both the old and the new secret verify.
      await page.getByRole("button", { name: "Replace the signing secret…" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Replace" }).click();
      const replaced = (await page.locator("#signing-secret").textContent()) ?? "";
      expect(replaced).toMatch(/^whsec_/);
      expect(replaced).not.toBe(secret);
      expect(await page.locator("#previous-secret").textContent()).toContain("until");
      await page.getByRole("link", { name: "Go to the webhook" }).click();
      await page.getByRole("heading", { name, exact: true }).waitFor();
      await page.getByRole("button", { name: "Send a test event" }).click();
      await expect.poll(() => endpoint.received.length).toBe(2);
      const retest = endpoint.received[1];
      for (const key of [secret, replaced]) {
        new Webhook(key).verify(retest?.body ?? "", {
          "webhook-id": String(retest?.headers["webhook-id"]),
          "webhook-timestamp": String(retest?.headers["webhook-timestamp"]),
          "webhook-signature": String(retest?.headers["webhook-signature"]),
        });
      }

      // Changed in place: a target the API refuses is explained, a good change is saved.
      await page.getByLabel("Target URL").fill("ftp://hooks.example.com/");
      await page.getByRole("button", { name: "Save changes" }).click();
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("https://");
      await page.getByLabel("Target URL").fill(endpoint.url);
      await page.getByLabel("A link is clicked (every click)").check();
      await page.getByRole("button", { name: "Save changes" }).click();
      await expect
        .poll(() => page.locator("main dl").textContent())
        .toContain(
          "The check through your own CDN or proxy fails or recovers; Another account proves it owns a domain and claims it; A link is clicked (every click)",
        );

      // Paused and resumed: what happens meanwhile is not sent later, and the page says which.
      await page.getByRole("button", { name: "Turn off" }).click();
      await expect.poll(() => page.locator("#webhook-state").textContent()).toBe("Off");
      expect(
        (
          await (
            await api(inject("apiKeys").alpha, "GET", "/webhooks")
          ).json<{
            results: { name: string; active: boolean }[];
          }>()
        ).results.find((w) => w.name === name)?.active,
      ).toBe(false);
      await page.getByRole("button", { name: "Turn on (from now on)" }).click();
      await expect.poll(() => page.locator("#webhook-state").textContent()).toBe("On");

      await page.getByRole("button", { name: "Delete this webhook…" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
      await page.getByRole("heading", { name: "Webhooks", exact: true }).waitFor();
      expect(await page.locator("main").textContent()).not.toContain(name);
    } finally {
      await endpoint.stop();
    }
  });

  it("makes an API key with only some grants, shows it once, changes it, and revokes it after confirming", async () => {
    const admin = inject("apiKeys").alpha;
    await signIn(admin);
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("heading", { name: "API keys", exact: true }).waitFor();
    // The key this browser signed in with cannot be revoked from here.
    expect(await page.locator("#api-keys").textContent()).toContain("This browser's key");

    const label = `ui-reader-${randomUUID().slice(0, 8)}`;
    await page.getByLabel("Label").fill(label);
    await page.getByRole("button", { name: "Make key" }).click();
    // No grant ticked: the API's reason, naming the field.
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("grants");
    await page.getByLabel("See tracking domains").check();
    await page.getByLabel("Make tracking links").check();
    // A range the API refuses is explained; then one that includes this browser.
    await page.getByLabel("Only from these addresses").fill("127.0.0.0/8, 10.0.0.0/33");
    await page.getByRole("button", { name: "Make key" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("valid_ips.1");
    await page.getByLabel("Only from these addresses").fill("127.0.0.1/8");
    await page.getByRole("button", { name: "Make key" }).click();
    const key = (await page.locator("#new-api-key-value").textContent()) ?? "";
    expect(key).toMatch(/^te_[0-9a-f]{40}$/);
    // The key does what was ticked and nothing more.
    expect((await api(key, "GET", "/tracking-domains")).status).toBe(200);
    expect((await api(key, "GET", "/webhooks")).status).toBe(403);

    await page.getByRole("link", { name: "Back to API keys" }).click();
    const row = page.locator("#api-keys tr", { hasText: label });
    await row.waitFor();
    expect(await page.locator("main").textContent()).not.toContain(key);
    expect(await row.textContent()).toContain("See tracking domains");
    expect(await row.textContent()).toContain(key.slice(0, 11));
    expect(await row.textContent()).toContain("127.0.0.0/8");
    await page.screenshot({ path: `${screenshots}/api-keys.png`, fullPage: true });

    // Changed in place: what it may do. Only what changed is sent.
    await row.getByRole("link", { name: label }).click();
    await page.getByRole("heading", { name: label, exact: true }).waitFor();
    await page.getByLabel("Make tracking links").uncheck();
    await page.getByLabel("See webhooks").check();
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("heading", { name: "API keys", exact: true }).waitFor();
    expect((await api(key, "GET", "/webhooks")).status).toBe(200);
    expect(await page.locator("#api-keys tr", { hasText: label }).textContent()).toContain(
      "See webhooks",
    );
    // The browser's own key cannot narrow itself; the page says why.
    await page.locator("#api-keys tr", { hasText: "This browser's key" }).getByRole("link").click();
    // The list has a form with the same boxes: wait for the key's own page before ticking.
    await page.getByRole("heading", { name: "Change this key" }).waitFor();
    await page.getByLabel("Read clicks and opens").uncheck();
    await page.getByRole("button", { name: "Save changes" }).click();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("another key");
    await page.getByRole("link", { name: "← API keys" }).click();

    const changedRow = page.locator("#api-keys tr", { hasText: label });
    await changedRow.getByRole("button", { name: `Revoke ${label}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    expect((await api(key, "GET", "/tracking-domains")).status).toBe(200);
    await changedRow.getByRole("button", { name: `Revoke ${label}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
    await expect.poll(() => page.locator("#api-keys").textContent()).not.toContain(label);
    expect((await api(key, "GET", "/tracking-domains")).status).toBe(401);
  });

  it("deletes a domain only after confirming", async () => {
    const domain = dynamicName("ui-delete");
    const key = inject("apiKeys").alpha;
    await api(key, "POST", "/tracking-domains", { domain, secure: false });
    await signIn(key);
    await page.goto(`${ui()}ui/#/domains/${domain}`);
    await page.getByRole("button", { name: "Delete this domain…" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    expect((await api(key, "GET", `/tracking-domains/${domain}`)).status).toBe(200);
    await page.getByRole("button", { name: "Delete this domain…" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await page.getByRole("heading", { name: "Tracking domains" }).waitFor();
    expect((await api(key, "GET", `/tracking-domains/${domain}`)).status).toBe(404);
    expect(await page.locator("main").textContent()).not.toContain(domain);
  });
});
