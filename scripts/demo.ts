// `npm run demo`: the whole product on this machine in one command. Installs what is missing,
// starts the local stack (Pebble as the CA, dnsmasq + dnss for DNS and DoH), the worker and the
// TLS edge; makes an account and API key; adds a tracking domain that the local DNS CNAMEs to
// the V2 endpoint, verifies it and shows every status change while managed HTTPS gets it a
// certificate; mints a tracked link and follows it over HTTPS, trusting only the local CA; then
// keeps running with the key and URLs to try until Ctrl-C, and shuts everything down.
// --exit-after-click stops after the HTTPS click (CI runs it so).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:https";
import { parseArgs } from "node:util";
import { createLocalApiKeys } from "./lib/api-key-sql";
import { getVia } from "./lib/get-via";
import {
  installPackages,
  missingPackages,
  stackIsRunning,
  startStack,
  stopStack,
} from "./lib/local-stack";
import { type LocalWorker, startLocalWorker } from "./lib/local-worker";
import { sleep } from "./lib/processes";
import {
  caCertificatePath,
  exampleRecords,
  generatedKeyRing,
  generatedToken,
  localWorkerVars,
  ports,
  stackDir,
  urls,
} from "./lib/stack-config";
import { migrateLocalDatabase } from "./lib/wrangler";
import { startTlsEdge, type TlsEdge } from "./tls-edge";

interface DomainView {
  status: { verified: boolean; cname_status: string; tls_status: string };
  tls_certificate: {
    expires_at: string | null;
    renews_at: string | null;
    error_code: string | null;
    error_detail: string | null;
    action_by: string | null;
    step: string | null;
  };
}

const say = (line = "") => console.log(line);
const heading = (line: string) => say(`\n== ${line}`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { "exit-after-click": { type: "boolean", default: false } },
  });
  const exitAfterClick = values["exit-after-click"] === true;

  heading("Local stack");
  if (missingPackages().length > 0) installPackages();
  const stackWasRunning = stackIsRunning();
  await startStack();
  say(`CA (Pebble) ${urls.acmeDirectory} · DoH ${urls.doh}`);

  let worker: LocalWorker | undefined;
  let edge: TlsEdge | undefined;
  const shutdown = async () => {
    await edge?.close();
    await worker?.stop();
    if (!stackWasRunning) await stopStack();
  };
  try {
    // A fresh local database for every demo, so that it always starts from nothing.
    const state = `${stackDir}/demo`;
    rmSync(state, { recursive: true, force: true });
    mkdirSync(state, { recursive: true });
    migrateLocalDatabase(state);
    const edgeToken = generatedToken();
    worker = await startLocalWorker({
      port: ports.worker,
      persistTo: state,
      vars: {
        ...localWorkerVars,
        KEY_ENCRYPTION_KEYS: generatedKeyRing(),
        LINK_SIGNING_KEYS: generatedKeyRing(),
        EDGE_PULL_TOKEN: edgeToken,
      },
    });
    say(`Worker (wrangler dev, local D1)  ${worker.url}`);
    edge = await startTlsEdge({
      port: ports.tlsEdge,
      origin: worker.url,
      token: edgeToken,
      pollIntervalMs: 2000,
      log: (event) => {
        if (event.event === "certificate_deployed")
          say(`  [tls-edge] ${event.domain} now serves certificate ${event.serial}`);
      },
    });
    say(`TLS edge (scripts/tls-edge.ts)   https://127.0.0.1:${edge.port}`);

    heading("Account and API key");
    const [key] = (await createLocalApiKeys(
      [{ account: "demo", label: "npm run demo" }],
      state,
    )) as [string];
    say(`API key for account "demo": ${key}`);
    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${worker?.url}/api/v1${path}`, {
        method,
        headers: { authorization: key, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = (await response.json().catch(() => null)) as { results?: unknown } | null;
      if (!response.ok)
        throw new Error(`${method} ${path}: HTTP ${response.status} ${JSON.stringify(json)}`);
      return json?.results;
    };

    const domain = exampleRecords.v2.name;
    heading(`Tracking domain ${domain}`);
    say(`The local DNS has ${domain} CNAME ${exampleRecords.v2.cname} (the V2 endpoint).`);
    await api("POST", "/tracking-domains", { domain });
    say(`POST /tracking-domains → created (managed HTTPS is on by default)`);
    const verified = (await api("POST", `/tracking-domains/${domain}/verify`)) as {
      verified: boolean;
      cname_status: string;
    };
    say(
      `POST /tracking-domains/${domain}/verify → verified=${verified.verified} cname_status=${verified.cname_status}`,
    );
    if (!verified.verified) throw new Error(`${domain} did not verify`);
    await api("PUT", `/tracking-domains/${domain}`, { default: true });
    say(
      `PUT /tracking-domains/${domain} {"default": true} → the account's default tracking domain`,
    );

    heading("Managed HTTPS: every status change as it happens");
    const started = Date.now();
    let last = "";
    let view: DomainView | undefined;
    while (Date.now() - started < 90_000) {
      view = (await api("GET", `/tracking-domains/${domain}`)) as DomainView;
      const c = view.tls_certificate;
      const line = `tls_status=${view.status.tls_status}${c.step ? ` step=${c.step}` : ""}${
        c.error_code ? ` error=${c.error_code} (${c.action_by} to act: ${c.error_detail})` : ""
      }`;
      if (line !== last) say(`  +${((Date.now() - started) / 1000).toFixed(1)} s  ${line}`);
      last = line;
      if (["valid", "failed", "unavailable"].includes(view.status.tls_status)) break;
      await sleep(100);
    }
    if (view?.status.tls_status !== "valid")
      throw new Error(`${domain} did not get a certificate: ${last}`);
    say(
      `Valid until ${view.tls_certificate.expires_at}; renews by itself at ${view.tls_certificate.renews_at}.`,
    );

    heading("A tracked link, clicked over HTTPS");
    const minted = (await api("POST", "/tracking-links", {
      links: [{ url: "https://example.com/welcome?utm_source=demo", name: "welcome" }],
    })) as { links: { tracked_url: string }[] };
    const link = minted.links[0]?.tracked_url as string;
    say(`Minted: ${link}`);
    const root = await pebbleRoot();
    const rootPath = `${state}/local-ca-root.pem`;
    writeFileSync(rootPath, root);
    const click = await getVia(link, { host: "127.0.0.1", port: edge.port, ca: root });
    const tls = click.tls;
    if (!tls) throw new Error("the click did not go over TLS");
    say(
      `TLS handshake with ${new URL(link).hostname}, trusting only the local CA's root (${rootPath}):`,
    );
    say(`  verified: ${tls.authorized ? "yes" : `NO (${tls.authorizationError})`}`);
    say(`  ${tls.protocol}, ${tls.cipher}`);
    say(
      `  certificate: ${tls.peer.subjectaltname}, serial ${tls.peer.serialNumber?.toLowerCase()}, issued by "${tls.peer.issuer?.CN}", valid until ${tls.peer.valid_to}`,
    );
    say(`HTTP ${click.status} → Location: ${click.location}`);
    if (!tls.authorized || click.status !== 302) throw new Error("the HTTPS click did not work");

    if (exitAfterClick) {
      heading("Done (--exit-after-click): shutting down");
      return 0;
    }
    const url = new URL(link);
    heading("Running. Try it (Ctrl-C stops everything)");
    say(`  export KEY=${key}`);
    say(`  curl -s -H "Authorization: $KEY" ${worker.url}/api/v1/tracking-domains/${domain} | jq`);
    say(`  curl -si --cacert ${rootPath} --resolve ${domain}:${edge.port}:127.0.0.1 \\`);
    say(`    'https://${domain}:${edge.port}${url.pathname}${url.search}'`);
    say(`  Management UI: ${worker.url}/ (sign in with the key above)`);
    say(`  API reference: ${worker.url}/api/v1/openapi.json`);
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    heading("Shutting down");
    return 0;
  } finally {
    await shutdown();
  }
}

/** The local CA's root: Pebble's management API is HTTPS under the stack's own local CA. */
function pebbleRoot(): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`${urls.pebbleManagement}/roots/0`, { ca: readFileSync(caCertificatePath) }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on("end", () =>
        res.statusCode === 200
          ? resolve(body)
          : reject(new Error(`Pebble's root: HTTP ${res.statusCode}`)),
      );
    }).once("error", reject);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`\ndemo failed: ${error instanceof Error ? error.message : error}`);
    process.exitCode = 1;
  },
);
