// Tracked links inside workerd: mint, click and open through the Worker itself; every way a token
// can be wrong; key rotation; which domain and scheme a message gets; HTML rewriting.
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { mintToken, parseSigningRing } from "../../src/tracking/link-token";
import worker from "../../workers/edge";
import { type ErrorBody, newAccount, type TestAccount, uniqueDomain } from "./helpers";
import { generatedTestRing } from "./rings";

interface Minted {
  tracking_domain: string;
  scheme: string;
  links: { url: string; name: string | null; tracked_url: string }[];
  open_pixel_url: string | null;
}

async function accountWithDefaultDomain(
  options: { tls?: "pending" | "valid"; region?: "us" | "eu" } = {},
) {
  const account = await newAccount({ subaccounts: [1] });
  const domain = uniqueDomain("click");
  await account.call("POST", "/tracking-domains", {
    body: { domain, region: options.region ?? "us" },
  });
  await env.DB.prepare("UPDATE tracking_domains SET verified = 1, tls_status = ? WHERE domain = ?")
    .bind(options.tls ?? "pending", domain)
    .run();
  await account.call("PUT", `/tracking-domains/${domain}`, { body: { default: true } });
  return { account, domain };
}

async function mint(account: TestAccount, body: Record<string, unknown>): Promise<Minted> {
  const response = await account.call("POST", "/tracking-links", { body });
  expect(response.status).toBe(200);
  return (await response.json<{ results: Minted }>()).results;
}

const follow = (url: string, init: RequestInit = {}) =>
  SELF.fetch(url, { redirect: "manual", ...init });

/** Replaces one character of a token's payload (still valid base64url, wrong signature). */
function tamper(url: string): string {
  const [head, token = ""] = url.split(/\/(?=[^/]+$)/);
  const [kid, payload = "", mac] = token.split(".");
  const flipped = payload.slice(0, 5) + (payload[5] === "A" ? "B" : "A") + payload.slice(6);
  return `${head}/${kid}.${flipped}.${mac}`;
}

describe("clicks and opens", () => {
  it("redirects a minted link to exactly its target, with nothing cached and no referrer", async () => {
    const { account, domain } = await accountWithDefaultDomain();
    const target = "https://shop.example.com/sale?utm_source=email&q=a%20b#top";
    const minted = await mint(account, {
      message_id: "m-1",
      recipient_id: "r-1",
      links: [{ url: target, name: "sale" }],
    });
    expect(minted).toMatchObject({ tracking_domain: domain, scheme: "http" });
    const tracked = minted.links[0]?.tracked_url ?? "";
    expect(tracked.startsWith(`http://${domain}/f/`)).toBe(true);

    const response = await follow(tracked);
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(target);
    expect(response.headers.get("cache-control")).toContain("no-store");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");

    const head = await follow(tracked, { method: "HEAD" });
    expect(head.status).toBe(302);
    expect(head.headers.get("location")).toBe(target);

    // The link keeps working once the domain serves HTTPS (and old http:// links keep working).
    const overHttps = await follow(tracked.replace(/^http:/, "https:"));
    expect(overHttps.status).toBe(302);
    expect(overHttps.headers.get("location")).toBe(target);
  });

  it("records the click through the queue, without the client's address", async () => {
    const { account, domain } = await accountWithDefaultDomain();
    const messageId = `m-${crypto.randomUUID()}`;
    const minted = await mint(account, {
      message_id: messageId,
      links: [{ url: "https://example.com/a", name: "a" }],
    });
    await follow(minted.links[0]?.tracked_url ?? "", {
      headers: { "cf-connecting-ip": "203.0.113.77", "user-agent": "Mail/1.0" },
    });
    const row = await eventually(() =>
      env.DB.prepare("SELECT * FROM engagement_events WHERE message_id = ?")
        .bind(messageId)
        .first<Record<string, unknown>>(),
    );
    expect(row).toMatchObject({
      type: "click",
      tracking_domain: domain,
      account_id: account.accountId,
      link_name: "a",
      target_url: "https://example.com/a",
      user_agent: "Mail/1.0",
      ip_prefix: "203.0.113.0/24",
      secure: 0,
    });
    expect(JSON.stringify(row)).not.toContain("203.0.113.77");
  }, 20_000);

  it("records an EU domain's open through the EU queue into the EU database only", async () => {
    const { account, domain } = await accountWithDefaultDomain({ region: "eu" });
    const messageId = `m-${crypto.randomUUID()}`;
    const minted = await mint(account, {
      message_id: messageId,
      recipient_id: "rcpt-eu",
      links: [{ url: "https://example.com/eu" }],
    });
    expect((await follow(minted.open_pixel_url ?? "")).status).toBe(200);
    const row = await eventually(() =>
      env.DB_EU.prepare("SELECT * FROM engagement_events WHERE message_id = ?")
        .bind(messageId)
        .first<Record<string, unknown>>(),
    );
    expect(row).toMatchObject({ type: "open", tracking_domain: domain, recipient_id: "rcpt-eu" });
    const global = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM engagement_events WHERE message_id = ?",
    )
      .bind(messageId)
      .first<{ n: number }>();
    expect(global?.n).toBe(0);
  }, 20_000);

  it("answers an open with a 1×1 GIF", async () => {
    const { account } = await accountWithDefaultDomain();
    const minted = await mint(account, {
      message_id: "m-2",
      links: [{ url: "https://example.com/" }],
    });
    const response = await follow(minted.open_pixel_url ?? "");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/gif");
    const gif = new Uint8Array(await response.arrayBuffer());
    expect(gif.length).toBe(43);
    expect(new TextDecoder().decode(gif.slice(0, 6))).toBe("GIF89a");
  });

  it.each([
    ["tampered", (url: string) => tamper(url)],
    ["truncated", (url: string) => url.slice(0, -5)],
    ["unsigned", (url: string) => url.replace(/\.[A-Za-z0-9_-]+$/, "")],
    [
      "an open token used as a click",
      (url: string, open: string) => url.replace(/\/f\/.*/, `/f/${open.split("/q/")[1]}`),
    ],
    ["garbage", (url: string) => url.replace(/\/f\/.*/, "/f/<script>")],
  ])("answers a %s token with a 404 and no Location", async (_, change) => {
    const { account } = await accountWithDefaultDomain();
    const minted = await mint(account, { links: [{ url: "https://example.com/" }] });
    const response = await follow(
      change(minted.links[0]?.tracked_url ?? "", minted.open_pixel_url ?? ""),
    );
    expect(response.status).toBe(404);
    expect(response.headers.get("location")).toBeNull();
  });

  it("does not honour a link on another tracking domain than its own", async () => {
    const first = await accountWithDefaultDomain();
    const second = await accountWithDefaultDomain();
    const minted = await mint(first.account, { links: [{ url: "https://example.com/" }] });
    const moved = (minted.links[0]?.tracked_url ?? "").replace(first.domain, second.domain);
    const response = await follow(moved);
    expect(response.status).toBe(404);
    expect(response.headers.get("location")).toBeNull();
  });

  it("keeps old links working after a key rotation, and drops them once their key is retired", async () => {
    const { account } = await accountWithDefaultDomain();
    const minted = await mint(account, { links: [{ url: "https://example.com/kept" }] });
    const old = JSON.parse(env.LINK_SIGNING_KEYS) as {
      current: string;
      keys: Record<string, string>;
    };
    const fresh = generatedTestRing("next");
    const rotated = JSON.stringify({ current: "next", keys: { ...old.keys, ...fresh.keys } });
    const retired = JSON.stringify(fresh);
    const click = async (ring: string) => {
      const ctx = createExecutionContext();
      const request = new Request<unknown, IncomingRequestCfProperties>(
        minted.links[0]?.tracked_url ?? "",
        { redirect: "manual" },
      );
      const response = await worker.fetch(request, { ...env, LINK_SIGNING_KEYS: ring }, ctx);
      await waitOnExecutionContext(ctx);
      return response;
    };
    const afterRotation = await click(rotated);
    expect(afterRotation.status).toBe(302);
    expect(afterRotation.headers.get("location")).toBe("https://example.com/kept");
    const afterRetirement = await click(retired);
    expect(afterRetirement.status).toBe(404);
    expect(afterRetirement.headers.get("location")).toBeNull();
  });

  it.each([
    ["an unknown path", "/nothing-here", "GET", 404],
    ["a POST to a click path", "/f/abc.def.ghi", "POST", 405],
  ])("answers %s on a tracking host with %s", async (_, path, method, status) => {
    const response = await follow(`http://${uniqueDomain()}${path}`, { method });
    expect(response.status).toBe(status);
    expect(response.headers.get("location")).toBeNull();
  });
});

describe("which domain and which scheme", () => {
  it("gives http:// links while the certificate is pending and https:// once it is valid", async () => {
    const { account, domain } = await accountWithDefaultDomain({ tls: "pending" });
    const body = { message_id: "m-scheme", links: [{ url: "https://example.com/" }] };
    const pending = await mint(account, body);
    expect(pending.scheme).toBe("http");
    expect(pending.links[0]?.tracked_url.startsWith(`http://${domain}/f/`)).toBe(true);
    await env.DB.prepare("UPDATE tracking_domains SET tls_status = 'valid' WHERE domain = ?")
      .bind(domain)
      .run();
    const valid = await mint(account, body);
    expect(valid.scheme).toBe("https");
    expect(valid.links[0]?.tracked_url.startsWith(`https://${domain}/f/`)).toBe(true);
    expect(valid.open_pixel_url?.startsWith(`https://${domain}/q/`)).toBe(true);
    // And the https link works on the same host.
    expect((await follow(valid.links[0]?.tracked_url ?? "")).status).toBe(302);
  });

  it("uses the sending domain's tracking domain, then the subaccount's default, then the account's", async () => {
    const { account, domain: accountDefault } = await accountWithDefaultDomain();
    const associated = uniqueDomain("assoc");
    await account.call("POST", "/tracking-domains", { body: { domain: associated } });
    await env.DB.prepare("UPDATE tracking_domains SET verified = 1 WHERE domain = ?")
      .bind(associated)
      .run();
    const sending = `mail.${uniqueDomain("s")}`;
    await account.call("POST", "/sending-domains", {
      body: { domain: sending, tracking_domain: associated },
    });

    expect(
      (await mint(account, { sending_domain: sending, links: [{ url: "https://a.example/" }] }))
        .tracking_domain,
    ).toBe(associated);
    expect(
      (
        await mint(account, {
          sending_domain: `other.${uniqueDomain("s")}`,
          links: [{ url: "https://a.example/" }],
        })
      ).tracking_domain,
    ).toBe(accountDefault);

    const sub = uniqueDomain("sub");
    await account.call("POST", "/tracking-domains", {
      body: { domain: sub },
      headers: { "x-msys-subaccount": "1" },
    });
    const asSub = { "x-msys-subaccount": "1" };
    const viaAccountDefault = await account.call("POST", "/tracking-links", {
      body: { links: [{ url: "https://a.example/" }] },
      headers: asSub,
    });
    expect((await viaAccountDefault.json<{ results: Minted }>()).results.tracking_domain).toBe(
      accountDefault,
    );
    await env.DB.prepare("UPDATE tracking_domains SET verified = 1 WHERE domain = ?")
      .bind(sub)
      .run();
    await account.call("PUT", `/tracking-domains/${sub}`, {
      body: { default: true },
      headers: asSub,
    });
    const viaSubDefault = await account.call("POST", "/tracking-links", {
      body: { links: [{ url: "https://a.example/" }] },
      headers: asSub,
    });
    expect((await viaSubDefault.json<{ results: Minted }>()).results.tracking_domain).toBe(sub);
  });

  it("does not use a domain that is neither associated nor a default", async () => {
    const account = await newAccount();
    const domain = uniqueDomain();
    await account.call("POST", "/tracking-domains", { body: { domain } });
    await env.DB.prepare("UPDATE tracking_domains SET verified = 1 WHERE domain = ?")
      .bind(domain)
      .run();
    const response = await account.call("POST", "/tracking-links", {
      body: { sending_domain: "mail.example.com", links: [{ url: "https://a.example/" }] },
    });
    expect(response.status).toBe(422);
    const error = (await response.json<ErrorBody>()).errors[0];
    expect(error).toMatchObject({ message: "no tracking domain", param: "sending_domain" });
    expect(error?.description).toContain("associate one");
  });

  it("refuses targets that are not http(s) URLs of at most 4096 bytes, naming each", async () => {
    const { account } = await accountWithDefaultDomain();
    const response = await account.call("POST", "/tracking-links", {
      body: {
        links: [
          { url: "https://fine.example/" },
          { url: "javascript:alert(1)" },
          { url: `https://long.example/${"x".repeat(4100)}` },
          { url: "/relative" },
          { url: "https:shop.example/" },
        ],
      },
    });
    expect(response.status).toBe(422);
    const errors = (await response.json<ErrorBody>()).errors;
    expect(errors.map((e) => [e.param, e.description])).toEqual([
      ["links.1.url", "links.1.url must be an http or https URL"],
      ["links.2.url", "links.2.url is longer than 4096 bytes"],
      ["links.3.url", "links.3.url is not an absolute URL"],
      ["links.4.url", "links.4.url must start with http:// or https://"],
    ]);
  });

  it("refuses targets holding control characters or lone surrogates, naming each link", async () => {
    const { account } = await accountWithDefaultDomain();
    const response = await account.call("POST", "/tracking-links", {
      body: {
        links: [
          { url: "https://fine.example/" },
          { url: "https://split.example/a\r\nSet-Cookie: x=1" },
          { url: "https://nul.example/\u0000" },
          { url: "https://tab.example/\tx" },
        ],
      },
    });
    expect(response.status).toBe(422);
    const errors = (await response.json<ErrorBody>()).errors;
    expect(errors.map((e) => e.param)).toEqual(["links.1.url", "links.2.url", "links.3.url"]);
    expect(errors[0]?.description).toContain("control character");
    // JSON can spell a lone surrogate; no stored or sent text can hold one.
    const surrogate = await account.call("POST", "/tracking-links", {
      rawBody: '{"links": [{"url": "https://example.com/\\ud800"}]}',
      headers: { "content-type": "application/json" },
    });
    expect(surrogate.status).toBe(422);
    expect((await surrogate.json<ErrorBody>()).errors[0]).toMatchObject({ param: "links.0.url" });
  });

  it("mints a non-ASCII target as its ASCII form: punycode host, percent-encoded path", async () => {
    const { account } = await accountWithDefaultDomain();
    const minted = await mint(account, { links: [{ url: "https://例え.jp/パス?q=ü" }] });
    const response = await follow(minted.links[0]?.tracked_url ?? "");
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(
      "https://xn--r8jz45g.jp/%E3%83%91%E3%82%B9?q=%C3%BC",
    );
  });

  it.each([
    ["CR and LF", "https://example.com/a\r\nx: y", null],
    ["a NUL", "https://example.com/\u0000", null],
    ["non-ASCII", "https://例え.jp/パス", "https://xn--r8jz45g.jp/%E3%83%91%E3%82%B9"],
    ["a space", "https://example.com/a b", "https://example.com/a%20b"],
  ])(
    "answers a token minted before targets were checked, holding %s, with a 404 or an ASCII Location",
    async (_, url, location) => {
      const { account, domain } = await accountWithDefaultDomain();
      // Minted as an older release did: the target exactly as the sender gave it.
      const token = mintToken(parseSigningRing(env.LINK_SIGNING_KEYS), "click", domain, {
        accountId: account.accountId,
        subaccountId: 0,
        url,
      });
      const response = await follow(`http://${domain}/f/${token}`);
      expect(response.status).toBe(location === null ? 404 : 302);
      expect(response.headers.get("location")).toBe(location);
    },
  );

  it("keeps sending domains and their associations within one subaccount", async () => {
    const { account, domain } = await accountWithDefaultDomain();
    const response = await account.call("POST", "/sending-domains", {
      body: { domain: "mail.example.com", tracking_domain: domain },
      headers: { "x-msys-subaccount": "1" },
    });
    expect(response.status).toBe(422);
    expect((await response.json<ErrorBody>()).errors[0]).toMatchObject({
      param: "tracking_domain",
    });
  });
});

describe("HTML rewriting", () => {
  const email = `<!DOCTYPE html>
<html><head><title>Sale &amp; more</title></head>
<body style="margin:0">
<table role="presentation" width="100%"><tr><td align="center">
  <A HREF="https://shop.example.com/sale?a=1&amp;b=2#top" class="btn">Shop &rarr;</A>
  <a href='http://blog.example.com/post?id=7'>Read</a>
  <a href="mailto:help@example.com">Mail us</a>
  <a href="tel:+15551234567">Call</a>
  <a href="#footer">Skip</a>
  <a href="/relative/path">Relative</a>
  <a href="https://example.com/unsubscribe" data-msys-clicktrack="0">Unsubscribe</a>
  <a href=" https://example.com/spaced " data-msys-linkname="spaced &amp; named">Spaced</a>
</td></tr></table>
<p>&copy; 2026 Example &lt;Inc&gt;</p>
</body></html>`;

  it("wraps only http(s) links, keeps everything else byte for byte, and adds two open pixels", async () => {
    const { account } = await accountWithDefaultDomain();
    const response = await account.call("POST", "/tracking-links/html", {
      body: { html: email, message_id: "m-html" },
    });
    expect(response.status).toBe(200);
    const { results } = await response.json<{
      results: { html: string; links_tracked: number; links_left: number };
    }>();
    expect(results).toMatchObject({ links_tracked: 3, links_left: 5 });

    const tracked = [...results.html.matchAll(/(?:HREF|href)="(http:\/\/[^"]+\/f\/[^"]+)"/g)].map(
      (m) => m[1] as string,
    );
    const pixels = [...results.html.matchAll(/<img src="([^"]+\/q\/[^"]+)"[^>]*\/>/g)].map(
      (m) => m[0],
    );
    expect(tracked).toHaveLength(3);
    expect(pixels).toHaveLength(2);

    // Put the originals back: what is left must be the input exactly.
    let restored = results.html;
    for (const pixel of new Set(pixels)) restored = restored.replaceAll(pixel, "");
    const originals = [
      '"https://shop.example.com/sale?a=1&amp;b=2#top"',
      "'http://blog.example.com/post?id=7'",
      '" https://example.com/spaced "',
    ];
    tracked.forEach((url, i) => {
      restored = restored.replace(`"${url}"`, originals[i] as string);
    });
    expect(restored).toBe(email);

    // Each tracked link leads where the browser would have gone, entities decoded.
    const targets = await Promise.all(
      tracked.map(async (url) => (await follow(url)).headers.get("location")),
    );
    expect(targets).toEqual([
      "https://shop.example.com/sale?a=1&b=2#top",
      "http://blog.example.com/post?id=7",
      "https://example.com/spaced",
    ]);
    expect(results.html.indexOf(pixels[0] as string)).toBe(
      results.html.indexOf('<body style="margin:0">') + '<body style="margin:0">'.length,
    );
    expect(results.html.lastIndexOf(pixels[1] as string) + (pixels[1] as string).length).toBe(
      results.html.indexOf("</body>"),
    );
  });

  it("adds the pixels around a fragment without a body", async () => {
    const { account } = await accountWithDefaultDomain();
    const response = await account.call("POST", "/tracking-links/html", {
      body: { html: "<p>Hi</p>" },
    });
    const { results } = await response.json<{ results: { html: string } }>();
    expect(results.html).toMatch(
      /^<img src="[^"]+\/q\/[^"]+"[^>]*\/><p>Hi<\/p><img src="[^"]+\/q\/[^"]+"[^>]*\/>$/,
    );
  });

  it("takes an HTML body larger than other requests may be", async () => {
    const { account } = await accountWithDefaultDomain();
    const html = `<body>${'<a href="https://example.com/x">x</a>'.repeat(3000)}</body>`;
    expect(html.length).toBeGreaterThan(64 * 1024);
    const response = await account.call("POST", "/tracking-links/html", { body: { html } });
    expect(response.status).toBe(200);
    expect(
      (await response.json<{ results: { links_tracked: number } }>()).results.links_tracked,
    ).toBe(3000);
  });
});

async function eventually<T>(read: () => Promise<T | null>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error("not within the time allowed");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
