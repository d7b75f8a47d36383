// The management UI: a small single-page app over the same /api/v1 as every other client. The
// API key lives in sessionStorage only (gone when the browser session ends). Views are built
// with DOM calls, never HTML strings, so nothing the API returns can become markup.
const keyStorage = "tracking-edge-api-key";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
let refreshTimer;

const statusLabels = {
  unknown: ["Inactive", "inactive", "○"],
  pending: ["Pending", "pending", "…"],
  valid: ["Valid", "valid", "✓"],
  expired: ["Expired", "expired", "✕"],
  failed: ["Failed", "failed", "!"],
  unavailable: ["Unavailable", "unavailable", "✕"],
};
const modeLabels = {
  managed: "Managed HTTPS",
  self_managed: "Self-managed (CDN or proxy)",
  none: "HTTP only",
};

/** An element with attributes (on* as listeners) and children (strings become text). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

const badge = (status) => {
  const [label, kind, symbol] = statusLabels[status] ?? [status, "inactive", "?"];
  return h(
    "span",
    { class: `badge badge-${kind}` },
    h("span", { "aria-hidden": "true" }, `${symbol} `),
    label,
  );
};
const date = (iso) => (iso ? new Date(iso).toUTCString().replace(" GMT", " UTC") : "—");
const apiKey = () => sessionStorage.getItem(keyStorage);

class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => e.description ?? e.message).join(" "));
    this.status = status;
    this.errors = errors;
  }
}

/** A call to /api/v1 with the session's key; a 401 ends the session (except when signing in). */
async function api(method, path, body, { signingIn = false } = {}) {
  const response = await fetch(`/api/v1${path}`, {
    method,
    headers: {
      authorization: apiKey() ?? "",
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status === 204) return null;
  const json = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401 && !signingIn)
      signOut("Your API key is no longer accepted; sign in again.");
    throw new ApiError(response.status, json.errors ?? [{ message: `HTTP ${response.status}` }]);
  }
  return json.results;
}

/**
 * A link to a view of this app that also works from a page shown at its own address (after
 * making a key or replacing a secret): there it draws the view again.
 */
function appLink(hash, text, attributes = {}) {
  return h(
    "a",
    {
      ...attributes,
      href: hash,
      onclick: (event) => {
        if (location.hash !== hash) return;
        event.preventDefault();
        route();
      },
    },
    text,
  );
}

function show(...children) {
  clearInterval(refreshTimer);
  main.replaceChildren(...children);
  main.focus();
}

const errorBox = (error) =>
  h(
    "div",
    { class: "error", role: "alert" },
    error instanceof ApiError
      ? error.errors.map((e) =>
          h("p", {}, h("strong", {}, e.message), e.description ? ` — ${e.description}` : ""),
        )
      : String(error.message ?? error),
  );

function signOut(message) {
  sessionStorage.removeItem(keyStorage);
  renderSignIn(message);
}

function renderSignIn(message) {
  nav.hidden = true;
  const input = h("input", {
    type: "password",
    id: "api-key",
    name: "api-key",
    autocomplete: "off",
    required: true,
  });
  const status = h(
    "div",
    { id: "sign-in-status" },
    message ? h("p", { class: "notice", role: "status" }, message) : null,
  );
  show(
    h("h1", {}, "Sign in"),
    h(
      "form",
      {
        id: "sign-in",
        onsubmit: async (event) => {
          event.preventDefault();
          sessionStorage.setItem(keyStorage, input.value.trim());
          try {
            // A 403 is a valid key that may not list domains: signed in all the same.
            await api("GET", "/tracking-domains", undefined, { signingIn: true }).catch((error) => {
              if (!(error instanceof ApiError && error.status === 403)) throw error;
            });
            // On to where the address points (a deep link survives signing in).
            route();
          } catch (error) {
            sessionStorage.removeItem(keyStorage);
            status.replaceChildren(errorBox(error));
          }
        },
      },
      h("label", { for: "api-key" }, "API key"),
      input,
      h("p", {}, "Kept for this browser session only."),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")),
    ),
    status,
  );
}

async function renderList() {
  const domains = await api("GET", "/tracking-domains");
  const rows = domains.map((d) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/domains/${d.domain}` }, d.domain)),
      h("td", {}, d.status.verified ? "Verified" : "Not verified"),
      h("td", {}, badge(d.status.tls_status)),
      h("td", {}, modeLabels[d.https_mode]),
      h("td", {}, d.tls_certificate.expires_at ? date(d.tls_certificate.expires_at) : "—"),
      h("td", {}, d.default ? "Default" : ""),
    ),
  );
  show(
    h("h1", {}, "Tracking domains"),
    domains.length === 0
      ? h("p", {}, "No tracking domains yet. ", h("a", { href: "#/new" }, "Add one."))
      : h(
          "table",
          { id: "domains" },
          h("caption", {}, `${domains.length} tracking domain${domains.length === 1 ? "" : "s"}`),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Domain", "Verification", "HTTPS", "HTTPS configuration", "Expires", "Default"].map(
                (t) => h("th", { scope: "col" }, t),
              ),
            ),
          ),
          h("tbody", {}, rows),
        ),
    h("div", { class: "actions" }, h("a", { class: "button", href: "#/new" }, "Add a domain")),
  );
}

function renderNew() {
  const status = h("div", { id: "create-status" });
  const radio = (name, value, label, hint, checked) =>
    h(
      "label",
      {},
      h("input", { type: "radio", name, value, checked }),
      h("span", {}, h("strong", {}, label), hint ? ` — ${hint}` : ""),
    );
  show(
    h("h1", {}, "Add a tracking domain"),
    h(
      "form",
      {
        id: "create",
        onsubmit: async (event) => {
          event.preventDefault();
          const form = new FormData(event.target);
          try {
            const created = await api("POST", "/tracking-domains", {
              domain: String(form.get("domain")).trim(),
              region: form.get("region"),
              https_mode: form.get("https_mode"),
            });
            location.hash = `#/domains/${created.domain}`;
          } catch (error) {
            status.replaceChildren(errorBox(error));
            if (error instanceof ApiError && error.status === 409)
              await offerClaim(String(form.get("domain")).trim(), form, status);
          }
        },
      },
      h("label", { for: "domain" }, "Subdomain"),
      h("input", {
        type: "text",
        id: "domain",
        name: "domain",
        required: true,
        placeholder: "track.example.com",
        "aria-describedby": "domain-hint",
      }),
      h(
        "p",
        { id: "domain-hint" },
        "A subdomain you own, such as track.example.com, that you will point at us with a CNAME.",
      ),
      h(
        "fieldset",
        {},
        h("legend", {}, "Region"),
        radio("region", "us", "US", null, true),
        radio("region", "eu", "EU", null, false),
      ),
      h(
        "fieldset",
        {},
        h("legend", {}, "HTTPS configuration"),
        radio(
          "https_mode",
          "managed",
          "Managed HTTPS",
          "we get the certificate and renew it; nothing else to do",
          true,
        ),
        radio(
          "https_mode",
          "self_managed",
          "Self-managed",
          "your CDN or reverse proxy terminates TLS with your certificate and forwards to us",
          false,
        ),
      ),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit" }, "Add domain"),
        h("a", { class: "button secondary", href: "#/" }, "Cancel"),
      ),
    ),
    status,
  );
}

/**
 * A name another account holds: the TXT record that proves it is this account's, and the claim
 * that moves it here once the record is in place.
 */
async function offerClaim(domain, form, status) {
  let claim;
  try {
    claim = await api("GET", `/tracking-domains/${encodeURIComponent(domain)}/claim`);
  } catch {
    return;
  }
  if (claim.held_by_this_account) return;
  const claimStatus = h("div", { id: "claim-status" });
  status.append(
    h(
      "section",
      { id: "claim", "aria-labelledby": "claim-heading" },
      h("h2", { id: "claim-heading" }, `Is ${claim.domain} yours?`),
      h(
        "p",
        {},
        "Another account holds this name. If it is yours, add this record at your DNS provider to prove it, then claim it: the name moves to this account, and the other account's domain, certificate and links end.",
      ),
      recordTable("claim-record", [
        { name: claim.ownership.name, type: "TXT", value: claim.ownership.value },
      ]),
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          {
            type: "button",
            id: "claim-button",
            onclick: async (event) => {
              event.target.disabled = true;
              try {
                const claimed = await api(
                  "POST",
                  `/tracking-domains/${encodeURIComponent(claim.domain)}/claim`,
                  { region: form.get("region"), https_mode: form.get("https_mode") },
                );
                location.hash = `#/domains/${claimed.domain}`;
              } catch (error) {
                claimStatus.replaceChildren(errorBox(error));
                event.target.disabled = false;
              }
            },
          },
          "Claim it",
        ),
      ),
      claimStatus,
    ),
  );
}

/** DNS records to add, each name and value with a copy button. */
function recordTable(id, records) {
  return h(
    "table",
    { id },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Name", "Type", "Value"].map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h(
      "tbody",
      {},
      records.map((record) =>
        h(
          "tr",
          {},
          h("td", {}, h("code", {}, record.name), " ", copyButton(record.name, "name")),
          h("td", {}, record.type),
          h("td", {}, h("code", {}, record.value), " ", copyButton(record.value, "value")),
        ),
      ),
    ),
  );
}

function copyButton(value, what) {
  return h(
    "button",
    {
      type: "button",
      class: "secondary",
      "aria-label": `Copy ${what}`,
      onclick: async (event) => {
        try {
          await navigator.clipboard.writeText(value);
          event.target.textContent = "Copied";
        } catch {
          event.target.textContent = "Select and copy";
        }
      },
    },
    "Copy",
  );
}

function verificationResult(v) {
  const https = v.https;
  return h(
    "div",
    { role: "status", id: "verify-result", class: v.verified ? "notice" : "error" },
    h(
      "p",
      {},
      h("strong", {}, v.verified ? "Verified." : "Not verified."),
      " ",
      https ? https.detail : v.dns.detail,
    ),
    h("p", {}, "Found: ", h("code", {}, v.dns.found.join(" → ") || "nothing")),
    !v.verified && v.dns.fix && !https ? h("p", {}, "Fix: ", v.dns.fix) : null,
    v.ownership.status === "pending" || v.ownership.status === "invalid"
      ? h(
          "p",
          { id: "ownership-result" },
          v.ownership.detail,
          v.ownership.fix ? ` Fix: ${v.ownership.fix}` : "",
        )
      : null,
  );
}

/** A self-managed domain's last HTTPS check through its proxy, and what links say because of it. */
function proxyCheck(check, verified) {
  if (!check) {
    return h(
      "p",
      { id: "https-check" },
      "Your CDN or proxy has not been checked yet: Verify checks it over HTTPS. Until a check passes, new links use ",
      h("code", {}, "http://"),
      ".",
    );
  }
  return h(
    "div",
    { id: "https-check", class: check.passed ? "notice" : "error" },
    h(
      "p",
      {},
      h("strong", {}, check.passed ? "HTTPS through your proxy works. " : `${check.error_code}. `),
      check.detail,
    ),
    h(
      "p",
      {},
      // The Cron watch probes verified domains only; an unverified one waits for Verify.
      verified
        ? `Checked ${date(check.checked_at)}; checked again ${check.passed ? "daily" : "hourly"}. New links use `
        : `Checked ${date(check.checked_at)}; press Verify once it is fixed. New links use `,
      h("code", {}, check.passed ? "https://" : "http://"),
      check.passed ? "." : " until a check passes.",
    ),
    check.passed ? null : h("p", {}, "Who must act: you (your CDN or proxy)"),
  );
}

/**
 * The domain's latest clicks and opens (up to 100): how many came over HTTPS, which shows
 * whether links in sent emails use it, and the newest few.
 */
function engagementSection(recent) {
  const clicks = recent.filter((e) => e.type === "click").length;
  const secure = recent.filter((e) => e.secure).length;
  return h(
    "section",
    { "aria-labelledby": "engagement-heading" },
    h("h2", { id: "engagement-heading" }, "Clicks and opens"),
    recent.length === 0
      ? h("p", { id: "engagement-summary" }, "None yet.")
      : [
          h(
            "p",
            { id: "engagement-summary" },
            `The latest ${recent.length}: ${clicks} click${clicks === 1 ? "" : "s"} and ${recent.length - clicks} open${recent.length - clicks === 1 ? "" : "s"}; ${secure} of ${recent.length} over HTTPS.`,
          ),
          h(
            "table",
            { id: "engagement" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["When", "What", "Link", "Over"].map((t) => h("th", { scope: "col" }, t)),
              ),
            ),
            h(
              "tbody",
              {},
              recent
                .slice(0, 10)
                .map((e) =>
                  h(
                    "tr",
                    {},
                    h("td", {}, date(e.occurred_at)),
                    h("td", {}, e.type === "click" ? "Click" : "Open"),
                    h("td", {}, e.link_name ?? e.target_url ?? "—"),
                    h("td", {}, e.secure ? "HTTPS" : "HTTP"),
                  ),
                ),
            ),
          ),
        ],
  );
}

async function renderDetails(name) {
  const [d, cert, events, engagement] = await Promise.all([
    api("GET", `/tracking-domains/${name}`),
    api("GET", `/tracking-domains/${name}/certificate`).catch(() => null),
    api("GET", `/tracking-domains/${name}/certificate/events?limit=15`).catch(() => []),
    // A key without message_events/view sees the rest of the page, without this section.
    api("GET", `/events/engagement?tracking_domain=${encodeURIComponent(name)}&limit=100`).catch(
      () => null,
    ),
  ]);
  const verifyStatus = h("div", { id: "verify-status" });
  const t = d.tls_certificate;
  const record = d.dns_record;
  const needsProof = d.ownership.status !== "not_required";
  // Self-managed on Cloudflare: the edge's own TXT record, while it has not admitted the name.
  const edge = d.edge_ownership;
  const edgeRecord = edge && !edge.routed && edge.dns_record ? edge.dns_record : null;
  const problem = t.error_code || t.stuck;
  show(
    h("p", {}, h("a", { href: "#/" }, "← Tracking domains")),
    h("h1", {}, d.domain),
    h(
      "section",
      { "aria-labelledby": "dns-heading" },
      h("h2", { id: "dns-heading" }, "DNS record to add"),
      d.https_mode === "self_managed"
        ? h(
            "p",
            {},
            "Point the name at your CDN or proxy, and have it forward every path to the target below, keeping the Host header.",
          )
        : h(
            "p",
            {},
            needsProof
              ? "Add these records at your DNS provider, then verify."
              : "Add this record at your DNS provider, then verify.",
          ),
      recordTable("dns-record", [
        record,
        ...(needsProof ? [{ name: d.ownership.name, type: "TXT", value: d.ownership.value }] : []),
        ...(edgeRecord ? [edgeRecord] : []),
      ]),
      edge
        ? h(
            "p",
            { id: "edge-ownership" },
            "Our edge: ",
            h(
              "strong",
              {},
              edge.routed
                ? "routes this name to us"
                : edge.action_by === "customer"
                  ? "waiting for you"
                  : "waiting for us",
            ),
            edge.routed ? "" : ` — ${edge.detail}`,
          )
        : null,
      needsProof
        ? h(
            "p",
            { id: "ownership" },
            "Ownership: ",
            h(
              "strong",
              {},
              d.ownership.status === "valid"
                ? "proven with the TXT record"
                : d.ownership.status === "invalid"
                  ? "the TXT record does not hold this account's value"
                  : "the TXT record is needed",
            ),
            d.ownership.status === "valid"
              ? ""
              : " — another account held this name before (or your account asks for proof of every name), so the TXT record proves the name's owner wants it here.",
          )
        : null,
      h(
        "p",
        {},
        "Verification: ",
        h("strong", { id: "verified" }, d.status.verified ? "Verified" : "Not verified"),
      ),
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          {
            type: "button",
            id: "verify",
            onclick: async (event) => {
              event.target.disabled = true;
              try {
                const v = await api("POST", `/tracking-domains/${name}/verify`);
                await renderDetails(name);
                document.getElementById("verify-status")?.replaceChildren(verificationResult(v));
              } catch (error) {
                verifyStatus.replaceChildren(errorBox(error));
                event.target.disabled = false;
              }
            },
          },
          "Verify",
        ),
      ),
      verifyStatus,
    ),
    h(
      "section",
      { "aria-labelledby": "https-heading", id: "https" },
      h("h2", { id: "https-heading" }, "HTTPS"),
      h(
        "dl",
        {},
        h("dt", {}, "Status"),
        h(
          "dd",
          { id: "tls-status" },
          badge(d.status.tls_status),
          t.step && d.status.tls_status === "pending" ? ` (step: ${t.step})` : "",
        ),
        h("dt", {}, "Configuration"),
        h("dd", {}, modeLabels[d.https_mode]),
        h("dt", {}, "Issued"),
        h("dd", { id: "issued-at" }, date(t.issued_at)),
        h("dt", {}, "Expires"),
        h("dd", { id: "expires-at" }, date(t.expires_at)),
        h("dt", {}, "Next renewal"),
        h("dd", { id: "renews-at" }, date(t.renews_at)),
      ),
      problem
        ? h(
            "div",
            { class: "error", id: "tls-problem" },
            h(
              "p",
              {},
              h("strong", {}, t.stuck ? "Stuck. " : `${t.error_code}. `),
              t.error_detail ?? "",
            ),
            t.action_by
              ? h(
                  "p",
                  {},
                  "Who must act: ",
                  t.action_by === "customer"
                    ? "you (your DNS)"
                    : "us (or the CA); nothing for you to do",
                )
              : null,
          )
        : null,
      d.https_mode === "self_managed" ? proxyCheck(d.https_check, d.status.verified) : null,
      d.https_mode !== "managed"
        ? h(
            "div",
            { class: "actions" },
            h(
              "a",
              { class: "button", href: `#/domains/${name}/enable-https`, id: "enable-https" },
              "Enable managed HTTPS…",
            ),
          )
        : null,
    ),
    cert && cert.history.length > 0
      ? h(
          "section",
          { "aria-labelledby": "history-heading" },
          h("h2", { id: "history-heading" }, "Certificates"),
          h(
            "table",
            {},
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Serial", "Valid from", "Valid until", "Issuer", "Status"].map((c) =>
                  h("th", { scope: "col" }, c),
                ),
              ),
            ),
            h(
              "tbody",
              {},
              cert.history.map((c) =>
                h(
                  "tr",
                  {},
                  h("td", {}, h("code", {}, c.serial)),
                  h("td", {}, date(c.not_before)),
                  h("td", {}, date(c.not_after)),
                  h("td", {}, c.issuer ?? ""),
                  h("td", {}, c.status),
                ),
              ),
            ),
          ),
        )
      : null,
    events.length > 0
      ? h(
          "section",
          { "aria-labelledby": "events-heading" },
          h("h2", { id: "events-heading" }, "Recent events"),
          h(
            "ol",
            { id: "events", reversed: true },
            events.map((e) =>
              h("li", {}, h("time", { datetime: e.at }, date(e.at)), ` — ${e.reason}`),
            ),
          ),
        )
      : null,
    engagement ? engagementSection(engagement) : null,
    h(
      "section",
      { "aria-labelledby": "danger-heading" },
      h("h2", { id: "danger-heading" }, "Delete"),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          id: "delete",
          onclick: async () => {
            if (
              !(await confirmDialog(
                `Delete ${name}?`,
                "Its links stop working and its certificate is removed. This cannot be undone.",
              ))
            )
              return;
            await api("DELETE", `/tracking-domains/${name}`);
            location.hash = "#/";
          },
        },
        "Delete this domain…",
      ),
    ),
  );
  // Live while something is happening.
  if (
    d.status.tls_status === "pending" ||
    (d.https_mode === "managed" && t.step && t.step !== "installed")
  ) {
    refreshTimer = setInterval(async () => {
      const fresh = await api("GET", `/tracking-domains/${name}`).catch(() => null);
      if (
        fresh &&
        (fresh.status.tls_status !== d.status.tls_status ||
          fresh.tls_certificate.step !== t.step ||
          fresh.tls_certificate.error_code !== t.error_code)
      ) {
        const result = document.getElementById("verify-result");
        await renderDetails(name);
        if (result) document.getElementById("verify-status")?.replaceChildren(result);
      }
    }, 1000);
  }
}

function confirmDialog(title, text, action = "Delete") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) =>
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true,
    }),
  );
}

const checkNames = {
  name: "Domain name",
  policy: "Our policy",
  cname: "CNAME to the V2 endpoint",
  caa: "CAA records",
};
const checkStatus = { pass: "Pass", fail: "Fail", error: "Could not check" };

async function renderWizard(name) {
  const d = await api("GET", `/tracking-domains/${name}`);
  const results = h("div", { id: "checks", "aria-live": "polite" });
  const enable = h("button", { type: "button", id: "enable", disabled: true }, "Enable HTTPS");
  const status = h("div", { id: "wizard-status" });
  const run = async () => {
    results.replaceChildren(h("p", {}, "Checking…"));
    try {
      const report = await api("POST", `/tracking-domains/${name}/certificate/check`);
      enable.disabled = !report.eligible;
      results.replaceChildren(
        h(
          "p",
          { role: "status" },
          report.eligible
            ? "Every check passes: HTTPS can be enabled."
            : "Some checks fail: make the changes below, then run the checks again.",
        ),
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Check", "Result", "What we found", "What to do"].map((c) =>
                h("th", { scope: "col" }, c),
              ),
            ),
          ),
          h(
            "tbody",
            {},
            report.checks.map((c) =>
              h(
                "tr",
                { "data-check": c.name },
                h("td", {}, checkNames[c.name] ?? c.name),
                h("td", { class: `check-${c.status}` }, checkStatus[c.status] ?? c.status),
                h("td", {}, c.detail),
                h("td", {}, c.fix ?? (c.status === "pass" ? "Nothing" : "")),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      results.replaceChildren(errorBox(error));
    }
  };
  enable.addEventListener("click", async () => {
    enable.disabled = true;
    try {
      await api("PUT", `/tracking-domains/${name}`, { https_mode: "managed" });
      if (!d.status.verified) await api("POST", `/tracking-domains/${name}/verify`);
      location.hash = `#/domains/${name}`;
    } catch (error) {
      status.replaceChildren(errorBox(error));
      enable.disabled = false;
    }
  });
  show(
    h("p", {}, h("a", { href: `#/domains/${name}` }, `← ${name}`)),
    h("h1", {}, `Enable managed HTTPS for ${name}`),
    h(
      "ol",
      {},
      h("li", {}, "Run the eligibility checks: the CNAME, CAA records, and the name itself."),
      h("li", {}, "Make the DNS changes they ask for, and run them again."),
      h(
        "li",
        {},
        "Enable HTTPS: we get a certificate, usually within a minute, and renew it from then on.",
      ),
    ),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        { type: "button", class: "secondary", id: "run-checks", onclick: run },
        "Run the checks",
      ),
      enable,
    ),
    results,
    status,
  );
}

const eventLabels = {
  tls_status_change: "HTTPS status changes",
  tls_certificate_renewed: "Certificate renewed",
  tls_error_change: "A problem appears, changes or clears",
  https_check_change: "The check through your own CDN or proxy fails or recovers",
  domain_claimed: "Another account proves it owns a domain and claims it",
  click: "A link is clicked (every click)",
  open: "An email is opened (every open)",
};
/** Clicks and opens are many: asked for, never preselected. */
const highVolumeEvents = new Set(["click", "open"]);

async function renderWebhooks() {
  const hooks = await api("GET", "/webhooks");
  show(
    h("h1", {}, "Webhooks"),
    h(
      "p",
      {},
      "We POST to these endpoints when your domains' certificates change, signed so that you can check it was us.",
    ),
    hooks.length === 0
      ? h("p", {}, "No webhooks yet.")
      : h(
          "table",
          { id: "webhooks" },
          h("caption", {}, `${hooks.length} webhook${hooks.length === 1 ? "" : "s"}`),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Name", "Target", "State", "Last delivered", "Last problem"].map((t) =>
                h("th", { scope: "col" }, t),
              ),
            ),
          ),
          h(
            "tbody",
            {},
            hooks.map((w) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/webhooks/${w.id}` }, w.name)),
                h("td", {}, h("code", {}, w.target)),
                h("td", {}, w.active ? (w.retrying ? "Retrying" : "On") : "Off"),
                h("td", {}, date(w.last_successful)),
                h("td", {}, w.last_failure_reason ?? "—"),
              ),
            ),
          ),
        ),
    newWebhookForm(),
  );
}

/**
 * The form for a webhook's name, target and events: empty to add one, filled in to change one.
 * `save` gets the fields and does the call; its error is shown under the form.
 */
function webhookForm({ heading, button, initial, save }) {
  const status = h("div", { id: "webhook-status" });
  return h(
    "section",
    { "aria-labelledby": "webhook-form-heading" },
    h("h2", { id: "webhook-form-heading" }, heading),
    h(
      "form",
      {
        id: "webhook-form",
        onsubmit: async (event) => {
          event.preventDefault();
          const form = new FormData(event.target);
          try {
            await save({
              name: String(form.get("name")).trim(),
              target: String(form.get("target")).trim(),
              events: form.getAll("events"),
            });
          } catch (error) {
            status.replaceChildren(errorBox(error));
          }
        },
      },
      h("label", { for: "webhook-name" }, "Name"),
      h("input", {
        type: "text",
        id: "webhook-name",
        name: "name",
        required: true,
        value: initial?.name,
      }),
      h("label", { for: "webhook-target" }, "Target URL"),
      h("input", {
        type: "url",
        id: "webhook-target",
        name: "target",
        required: true,
        placeholder: "https://example.com/hooks/tls",
        value: initial?.target,
      }),
      h(
        "fieldset",
        {},
        h("legend", {}, "Tell me when"),
        Object.entries(eventLabels).map(([value, label]) =>
          h(
            "label",
            {},
            h("input", {
              type: "checkbox",
              name: "events",
              value,
              checked: initial ? initial.events.includes(value) : !highVolumeEvents.has(value),
            }),
            h("span", {}, label),
          ),
        ),
      ),
      h("div", { class: "actions" }, h("button", { type: "submit" }, button)),
    ),
    status,
  );
}

const newWebhookForm = () =>
  webhookForm({
    heading: "Add a webhook",
    button: "Add webhook",
    save: async (fields) => renderSecret(await api("POST", "/webhooks", fields)),
  });

/**
 * A secret right after it was made, the only time it is shown: a heading, the value with a copy
 * button, notes on using it, and the way back.
 */
function renderShownOnce({ heading, what, id, value, notes, back }) {
  show(
    h("h1", {}, heading),
    h(
      "div",
      { class: "notice", role: "status" },
      h("p", {}, h("strong", {}, `Copy the ${what} now: it is not shown again.`)),
      h("p", {}, h("code", { id }, value), " ", copyButton(value, what)),
      notes,
    ),
    h("div", { class: "actions" }, back),
  );
}

/** A webhook's signing secret, after creating the webhook or replacing the secret. */
function renderSecret(created, heading = `Webhook ${created.name} added`, previousUntil = null) {
  renderShownOnce({
    heading,
    what: "signing secret",
    id: "signing-secret",
    value: created.signing_secret,
    notes: [
      previousUntil
        ? h(
            "p",
            { id: "previous-secret" },
            `The old secret also signs each delivery until ${date(previousUntil)}; switch your endpoint to the new one before then.`,
          )
        : null,
      h(
        "p",
        {},
        "Each delivery carries webhook-id, webhook-timestamp and webhook-signature headers (Standard Webhooks); verify them with this secret.",
      ),
    ],
    back: appLink(`#/webhooks/${created.id}`, "Go to the webhook", { class: "button" }),
  });
}

/** How long a replaced signing secret may keep signing, as the API takes it (seconds). */
const overlapChoices = [
  [0, "stops at once"],
  [3600, "keeps signing for an hour"],
  [86400, "keeps signing for a day"],
  [604800, "keeps signing for a week"],
];

function replaceSecretForm(w, status) {
  return h(
    "section",
    { "aria-labelledby": "replace-secret-heading" },
    h("h2", { id: "replace-secret-heading" }, "Signing secret"),
    h(
      "form",
      {
        id: "replace-secret",
        onsubmit: async (event) => {
          event.preventDefault();
          const seconds = Number(new FormData(event.target).get("previous_valid_for"));
          const sure = await confirmDialog(
            "Replace the signing secret?",
            seconds === 0
              ? "Deliveries will be signed with the new secret only, from now on; your endpoint refuses them until it has it."
              : "Deliveries will carry signatures under both secrets for a while; switch your endpoint to the new one before the old one stops.",
            "Replace",
          );
          if (!sure) return;
          try {
            const replaced = await api("POST", `/webhooks/${w.id}/signing-secret`, {
              previous_valid_for: seconds,
            });
            renderSecret(
              { ...w, signing_secret: replaced.signing_secret },
              `New signing secret for ${w.name}`,
              replaced.previous_valid_until,
            );
          } catch (error) {
            status.replaceChildren(errorBox(error));
          }
        },
      },
      h("label", { for: "previous-valid-for" }, "The old secret"),
      h(
        "select",
        { id: "previous-valid-for", name: "previous_valid_for" },
        overlapChoices.map(([value, label]) =>
          h("option", { value, selected: value === 86400 }, label),
        ),
      ),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit" }, "Replace the signing secret…"),
      ),
    ),
  );
}

async function renderWebhook(id) {
  const [w, attempts] = await Promise.all([
    api("GET", `/webhooks/${id}`),
    api("GET", `/webhooks/${id}/batch-status?limit=20`),
  ]);
  const status = h("div", { id: "webhook-test", "aria-live": "polite" });
  show(
    h("p", {}, h("a", { href: "#/webhooks" }, "← Webhooks")),
    h("h1", {}, w.name),
    h(
      "dl",
      {},
      h("dt", {}, "Target"),
      h("dd", {}, h("code", {}, w.target)),
      h("dt", {}, "Tells you when"),
      h("dd", {}, w.events.map((e) => eventLabels[e] ?? e).join("; ")),
      h("dt", {}, "State"),
      h(
        "dd",
        { id: "webhook-state" },
        !w.active
          ? "Off"
          : w.retrying
            ? `Retrying: attempt ${w.retrying.attempts} failed; next at ${date(w.retrying.next_attempt_at)}`
            : "On",
      ),
      h("dt", {}, "Last problem"),
      h(
        "dd",
        {},
        w.last_failure_reason ? `${w.last_failure_reason} (${date(w.last_failure)})` : "None",
      ),
    ),
    h(
      "div",
      { class: "actions" },
      h(
        "button",
        {
          type: "button",
          id: "send-test",
          onclick: async () => {
            status.replaceChildren(h("p", {}, "Sending…"));
            try {
              const result = await api("POST", `/webhooks/${id}/validate`);
              status.replaceChildren(
                h(
                  "p",
                  { role: "status", class: result.ok ? "notice" : "error" },
                  result.msg,
                  result.response ? ` (HTTP ${result.response.status})` : "",
                ),
              );
            } catch (error) {
              status.replaceChildren(errorBox(error));
            }
          },
        },
        "Send a test event",
      ),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          id: "toggle-webhook",
          onclick: async (event) => {
            event.target.disabled = true;
            try {
              await api("PUT", `/webhooks/${id}`, { active: !w.active });
              await renderWebhook(id);
            } catch (error) {
              status.replaceChildren(errorBox(error));
              event.target.disabled = false;
            }
          },
        },
        w.active ? "Turn off" : "Turn on (from now on)",
      ),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            if (
              !(await confirmDialog(
                "Delete this webhook?",
                `Nothing more will be sent to ${w.target}.`,
              ))
            )
              return;
            try {
              await api("DELETE", `/webhooks/${id}`);
              location.hash = "#/webhooks";
            } catch (error) {
              status.replaceChildren(errorBox(error));
            }
          },
        },
        "Delete this webhook…",
      ),
    ),
    status,
    replaceSecretForm(w, status),
    webhookForm({
      heading: "Change this webhook",
      button: "Save changes",
      initial: w,
      save: async (fields) => {
        await api("PUT", `/webhooks/${id}`, fields);
        await renderWebhook(id);
      },
    }),
    h(
      "section",
      { "aria-labelledby": "attempts-heading" },
      h("h2", { id: "attempts-heading" }, "Recent deliveries"),
      attempts.length === 0
        ? h("p", {}, "Nothing sent yet.")
        : h(
            "table",
            { id: "attempts" },
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["When", "Events", "Attempt", "Outcome", "Answer"].map((t) =>
                  h("th", { scope: "col" }, t),
                ),
              ),
            ),
            h(
              "tbody",
              {},
              attempts.map((a) =>
                h(
                  "tr",
                  {},
                  h("td", {}, date(a.ts)),
                  h("td", {}, String(a.events)),
                  h("td", {}, String(a.attempts)),
                  h(
                    "td",
                    {},
                    { delivered: "Delivered", failed: "Failed, will retry", dropped: "Given up" }[
                      a.outcome
                    ],
                  ),
                  h(
                    "td",
                    {},
                    a.failure_code ?? (a.response_code ? `HTTP ${a.response_code}` : "—"),
                  ),
                ),
              ),
            ),
          ),
    ),
  );
}

/** What each grant lets a key do, in the order the API lists them. */
const grantLabels = {
  "account/view": "See the account and its CNAME targets",
  "api_keys/manage": "Make, change and revoke API keys",
  "tracking_domains/view": "See tracking domains",
  "tracking_domains/manage": "Add, verify and change tracking domains (and see them)",
  "sending_domains/view": "See sending domains",
  "sending_domains/manage": "Change sending domains (and see them)",
  "subaccounts/view": "See subaccounts",
  "subaccounts/manage": "Add subaccounts (and see them)",
  "tracking_links/create": "Make tracking links",
  "message_events/view": "Read clicks and opens",
  "webhooks/view": "See webhooks",
  "webhooks/modify": "Add and change webhooks (and see them)",
};

/** A key's grants in words: "Everything" for a key that holds all its kind can hold. */
function grantSummary(key) {
  const possible = Object.keys(grantLabels).filter(
    (g) => !(key.subaccount_id && g.startsWith("subaccounts/")),
  );
  if (possible.every((g) => key.grants.includes(g))) return "Everything";
  return h(
    "ul",
    { class: "plain" },
    key.grants.map((g) => h("li", {}, grantLabels[g] ?? g)),
  );
}

async function renderApiKeys() {
  const keys = await api("GET", "/api-keys");
  const status = h("div", { id: "api-key-status", "aria-live": "polite" });
  const signedInWith = apiKey();
  const table = h(
    "table",
    { id: "api-keys" },
    h("caption", {}, `${keys.length} API key${keys.length === 1 ? "" : "s"}`),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Label", "Key", "May", "From", "Last used", "Created", ""].map((t) =>
          h("th", { scope: "col" }, t),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      keys.map((k) => {
        const mine = signedInWith?.startsWith(k.short_key) ?? false;
        return h(
          "tr",
          {},
          h(
            "td",
            {},
            h("a", { href: `#/api-keys/${k.id}` }, k.label),
            k.subaccount_id ? ` (subaccount ${k.subaccount_id})` : "",
          ),
          h("td", {}, h("code", { class: "nowrap" }, `${k.short_key}…`)),
          h("td", {}, grantSummary(k)),
          h("td", {}, k.valid_ips.length === 0 ? "Anywhere" : k.valid_ips.join(", ")),
          h("td", {}, k.last_used_at ? date(k.last_used_at) : "Never"),
          h("td", {}, date(k.created_at)),
          h(
            "td",
            {},
            mine
              ? "This browser's key"
              : h(
                  "button",
                  {
                    type: "button",
                    class: "danger",
                    "aria-label": `Revoke ${k.label}`,
                    onclick: async () => {
                      const sure = await confirmDialog(
                        `Revoke ${k.label}?`,
                        `Calls made with ${k.short_key}… will be refused from now on. This cannot be undone.`,
                        "Revoke",
                      );
                      if (!sure) return;
                      try {
                        await api("DELETE", `/api-keys/${k.id}`);
                        await renderApiKeys();
                      } catch (error) {
                        status.replaceChildren(errorBox(error));
                      }
                    },
                  },
                  "Revoke…",
                ),
          ),
        );
      }),
    ),
  );
  show(
    h("h1", {}, "API keys"),
    h(
      "p",
      {},
      "Give each integration its own key with only what it needs; revoke a key you no longer use (see Last used).",
    ),
    table,
    status,
    newApiKeyForm(),
  );
}

/**
 * The form for a key's label, addresses and grants: empty to make a key, filled in to change one.
 * `save` gets the fields (addresses as a list) and makes the call; its error shows under the form.
 */
function apiKeyForm({ heading, button, initial, save }) {
  const status = h("div", { id: "api-key-form-status" });
  return h(
    "section",
    { "aria-labelledby": "api-key-form-heading" },
    h("h2", { id: "api-key-form-heading" }, heading),
    h(
      "form",
      {
        id: "api-key-form",
        onsubmit: async (event) => {
          event.preventDefault();
          const form = new FormData(event.target);
          try {
            await save({
              label: String(form.get("label")).trim(),
              grants: form.getAll("grants"),
              valid_ips: String(form.get("valid_ips"))
                .split(/[\s,]+/)
                .filter(Boolean),
            });
          } catch (error) {
            status.replaceChildren(errorBox(error));
          }
        },
      },
      h("label", { for: "api-key-label" }, "Label"),
      h("input", {
        type: "text",
        id: "api-key-label",
        name: "label",
        required: true,
        value: initial?.label,
      }),
      h("label", { for: "api-key-valid-ips" }, "Only from these addresses (optional)"),
      h("input", {
        type: "text",
        id: "api-key-valid-ips",
        name: "valid_ips",
        placeholder: "203.0.113.0/24, 2001:db8::/48",
        "aria-describedby": "api-key-valid-ips-hint",
        value: initial?.valid_ips.join(", "),
      }),
      h(
        "p",
        { id: "api-key-valid-ips-hint", class: "hint" },
        initial
          ? "Addresses or CIDR ranges, separated by commas. Empty: anywhere."
          : "Addresses or CIDR ranges, separated by commas. Empty: wherever the key you signed in with works.",
      ),
      h(
        "fieldset",
        {},
        h("legend", {}, "This key may"),
        Object.entries(grantLabels).map(([value, label]) =>
          h(
            "label",
            {},
            h("input", {
              type: "checkbox",
              name: "grants",
              value,
              checked: initial?.grants.includes(value),
            }),
            h("span", {}, label),
          ),
        ),
      ),
      h("div", { class: "actions" }, h("button", { type: "submit" }, button)),
    ),
    status,
  );
}

const newApiKeyForm = () =>
  apiKeyForm({
    heading: "Make an API key",
    button: "Make key",
    save: async ({ valid_ips, ...fields }) =>
      renderNewApiKey(
        await api("POST", "/api-keys", {
          ...fields,
          // None given: the API makes it usable from wherever this browser's key is.
          ...(valid_ips.length === 0 ? {} : { valid_ips }),
        }),
      ),
  });

const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** One key's page: change its label, addresses or grants (only what changed is sent). */
async function renderApiKey(id) {
  const key = await api("GET", `/api-keys/${id}`);
  show(
    h("p", {}, h("a", { href: "#/api-keys" }, "← API keys")),
    h("h1", {}, key.label),
    h(
      "dl",
      {},
      h("dt", {}, "Key"),
      h("dd", {}, h("code", {}, `${key.short_key}…`)),
      h("dt", {}, "Last used"),
      h("dd", {}, key.last_used_at ? date(key.last_used_at) : "Never"),
    ),
    apiKeyForm({
      heading: "Change this key",
      button: "Save changes",
      initial: key,
      save: async (fields) => {
        const change = {};
        if (fields.label !== key.label) change.label = fields.label;
        if (!sameList([...fields.grants].sort(), [...key.grants].sort()))
          change.grants = fields.grants;
        if (!sameList(fields.valid_ips, key.valid_ips)) change.valid_ips = fields.valid_ips;
        await api("PUT", `/api-keys/${id}`, change);
        location.hash = "#/api-keys";
      },
    }),
  );
}

/** Right after making a key: the key itself, which is never shown again. */
function renderNewApiKey(created) {
  renderShownOnce({
    heading: `API key ${created.label} made`,
    what: "API key",
    id: "new-api-key-value",
    value: created.key,
    notes: h("p", {}, "Send it in the Authorization header of each call."),
    back: appLink("#/api-keys", "Back to API keys", { class: "button" }),
  });
}

async function route() {
  if (!apiKey()) return renderSignIn();
  nav.hidden = false;
  const hash = location.hash.replace(/^#/, "") || "/";
  try {
    const wizard = /^\/domains\/([^/]+)\/enable-https$/.exec(hash);
    const details = /^\/domains\/([^/]+)$/.exec(hash);
    const webhook = /^\/webhooks\/([^/]+)$/.exec(hash);
    const apiKeyPage = /^\/api-keys\/([^/]+)$/.exec(hash);
    if (hash === "/") await renderList();
    else if (hash === "/new") renderNew();
    else if (wizard) await renderWizard(wizard[1]);
    else if (details) await renderDetails(details[1]);
    else if (hash === "/webhooks") await renderWebhooks();
    else if (webhook) await renderWebhook(webhook[1]);
    else if (hash === "/api-keys") await renderApiKeys();
    else if (apiKeyPage) await renderApiKey(apiKeyPage[1]);
    else show(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Tracking domains")));
  } catch (error) {
    if (apiKey()) show(h("h1", {}, "Something went wrong"), errorBox(error));
  }
}

document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);
route();
