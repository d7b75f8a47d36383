// A small TLS terminator for tracking domains (edge-pull mode): it picks each connection's
// certificate by SNI from the worker's edge-pull endpoint (GET /internal/v1/certificates/{domain}),
// caches it, follows the change feed so that a renewal or a deletion takes effect without a
// restart, and relays the decrypted requests to the worker — HTTPS, and plain HTTP on a second
// port (HTTP-01, http:// links). The origin is the worker at an API host (https:// in
// production, where Cloudflare routes it); the tracking host, the client's address and the
// scheme travel in x-tracking-edge-* headers with the edge token, which the worker believes only
// with that token (src/util/edge-relay.ts). Forwarding headers a client sent are dropped; on
// HTTPS the Host must be the name the handshake was for (421 otherwise).
//
//   EDGE_PULL_TOKEN=… tsx scripts/tls-edge.ts [--listen 127.0.0.1:14443] [--listen-http 127.0.0.1:14080]
//                      [--origin http://127.0.0.1:5002] [--poll-seconds 5]
//
// A name the worker serves no certificate for gets no handshake at all; names it does not know
// are remembered (at most maxNegativeEntries, each for 30 s), and origin pulls for names not
// cached are bounded (maxPullsPerSecond), so a burst of random SNI names costs little. Node only.
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer, request as httpsRequest, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createSecureContext, type SecureContext } from "node:tls";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { relayHeaders } from "../src/util/edge-relay";

export interface TlsEdgeOptions {
  host?: string;
  /** 0 for any free port. */
  port: number;
  /** The worker: where requests go, and whose /internal/v1 serves certificates. */
  origin: string;
  token: string;
  /** Plain HTTP (HTTP-01, http:// links) on this port too; 0 for any free port; absent: none. */
  httpPort?: number;
  /** How often to read the change feed. */
  pollIntervalMs?: number;
  /** Names without a certificate remembered at once (the oldest forgotten first). */
  maxNegativeEntries?: number;
  /** Origin pulls a second for names not cached (a random-SNI burst stops here). */
  maxPullsPerSecond?: number;
  /** A cached certificate is fetched again after this long even without a change (a safety net). */
  maxCacheAgeMs?: number;
  log?: (event: Record<string, unknown>) => void;
}

export interface TlsEdge {
  url: string;
  port: number;
  /** The plain HTTP port, when one was asked for. */
  httpPort: number | undefined;
  /** Names remembered as having no certificate. */
  negativeEntries(): number;
  /** Certificate pulls made from the origin so far. */
  pulls(): number;
  /** The serial cached for a domain, if any. */
  cachedSerial(domain: string): string | undefined;
  close(): Promise<void>;
}

interface Cached {
  serial: string;
  context: SecureContext;
  notAfter: number;
  fetchedAt: number;
}

interface PulledCertificate {
  serial: string;
  not_after: string;
  certificate_chain: string;
  private_key: string;
}

interface ChangePage {
  changes: {
    cursor: number;
    domain: string;
    change: "deployed" | "removed";
    serial: string | null;
  }[];
  cursor: number;
  more: boolean;
  reset: boolean;
}

/** How long "no certificate for this name" is believed without a change saying otherwise. */
const negativeCacheMs = 30_000;

export async function startTlsEdge(options: TlsEdgeOptions): Promise<TlsEdge> {
  const origin = new URL(options.origin);
  const log = options.log ?? ((event) => console.log(JSON.stringify(event)));
  const maxAge = options.maxCacheAgeMs ?? 3600_000;
  const cache = new Map<string, Cached>();
  const absent = new Map<string, number>();
  const loading = new Map<string, Promise<Cached | null>>();
  const maxNegative = options.maxNegativeEntries ?? 10_000;
  const pullsPerSecond = options.maxPullsPerSecond ?? 20;
  let pullCount = 0;
  // A token bucket for pulls of names not cached: refilled every second.
  let budget = pullsPerSecond;
  let budgetAt = Date.now();
  const takePull = () => {
    const now = Date.now();
    if (now - budgetAt >= 1000) {
      budget = pullsPerSecond;
      budgetAt = now;
    }
    if (budget <= 0) return false;
    budget--;
    return true;
  };
  const rememberAbsent = (domain: string) => {
    absent.delete(domain);
    absent.set(domain, Date.now() + negativeCacheMs);
    // Oldest first: a Map iterates in insertion order.
    while (absent.size > maxNegative) absent.delete(absent.keys().next().value as string);
  };

  const pull = async <T>(path: string): Promise<T | null> => {
    const response = await fetch(new URL(`/internal/v1${path}`, origin), {
      headers: { authorization: `Bearer ${options.token}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (response.status === 404) return null;
    if (!response.ok)
      throw new Error(`edge pull ${path}: HTTP ${response.status} ${await response.text()}`);
    return ((await response.json()) as { results: T }).results;
  };

  const load = (domain: string, serial?: string): Promise<Cached | null> => {
    const key = `${domain} ${serial ?? ""}`;
    let pending = loading.get(key);
    if (!pending) {
      pending = (async () => {
        const query = serial ? `?serial=${encodeURIComponent(serial)}` : "";
        pullCount++;
        const pulled =
          (await pull<PulledCertificate>(`/certificates/${encodeURIComponent(domain)}${query}`)) ??
          // That serial is no longer the one deploying (it went live, or was replaced): the current.
          (serial
            ? await pull<PulledCertificate>(`/certificates/${encodeURIComponent(domain)}`)
            : null);
        if (!pulled) {
          cache.delete(domain);
          rememberAbsent(domain);
          return null;
        }
        const entry: Cached = {
          serial: pulled.serial,
          context: createSecureContext({ cert: pulled.certificate_chain, key: pulled.private_key }),
          notAfter: Date.parse(pulled.not_after),
          fetchedAt: Date.now(),
        };
        cache.set(domain, entry);
        absent.delete(domain);
        log({ event: "certificate_loaded", domain, serial: entry.serial });
        return entry;
      })().finally(() => loading.delete(key));
      loading.set(key, pending);
    }
    return pending;
  };

  const contextFor = async (servername: string): Promise<SecureContext | null> => {
    const domain = servername.toLowerCase().replace(/\.$/, "");
    const now = Date.now();
    const cached = cache.get(domain);
    if (cached && cached.notAfter > now && now - cached.fetchedAt < maxAge) return cached.context;
    if ((absent.get(domain) ?? 0) > now) return null;
    // A name not cached costs an origin pull: only so many a second, whatever the clients send.
    if (!loading.has(`${domain} `) && !takePull()) return null;
    return (await load(domain))?.context ?? null;
  };

  const server: Server = createServer({
    SNICallback: (servername, done) => {
      contextFor(servername).then(
        (context) =>
          context ? done(null, context) : done(new Error(`no certificate for ${servername}`)),
        (error: Error) => {
          log({ event: "certificate_error", domain: servername, message: error.message });
          done(error);
        },
      );
    },
  });

  /** Headers a client may not set for the worker: forwarding, relay and hop-by-hop ones. */
  const dropped = new Set([
    "host",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "cf-connecting-ip",
    "true-client-ip",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    ...Object.values(relayHeaders),
  ]);
  const send = origin.protocol === "https:" ? httpsRequest : httpRequest;

  /** Relays one request for `host` to the worker, saying who asked and how. */
  const relay = (
    req: IncomingMessage,
    res: ServerResponse,
    host: string,
    proto: "http" | "https",
  ) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined && !dropped.has(name)) headers[name] = value;
    const upstream = send(
      {
        host: origin.hostname,
        port: origin.port || (origin.protocol === "https:" ? 443 : 80),
        servername: origin.hostname,
        method: req.method,
        path: req.url,
        headers: {
          ...headers,
          host: origin.host,
          [relayHeaders.token]: options.token,
          [relayHeaders.host]: host,
          [relayHeaders.client]: req.socket.remoteAddress ?? "",
          [relayHeaders.proto]: proto,
        },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", (error) => {
      log({ event: "origin_error", message: error.message });
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end("Bad gateway\n");
    });
    req.pipe(upstream);
  };
  const hostOf = (req: IncomingMessage) =>
    (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase().replace(/\.$/, "");
  const misdirected = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { "content-type": "text/plain" });
    res.end(text);
  };

  server.on("request", (req, res) => {
    // The handshake was for one name: a request for another is not ours to relay (RFC 9110 §15.5.20).
    const servername = ((req.socket as { servername?: string }).servername ?? "").toLowerCase();
    const host = hostOf(req);
    if (!servername || host !== servername)
      return misdirected(res, 421, "Misdirected request: Host is not the name of the handshake\n");
    relay(req, res, host, "https");
  });
  const plain =
    options.httpPort === undefined
      ? undefined
      : createHttpServer((req, res) => {
          const host = hostOf(req);
          if (!host) return misdirected(res, 400, "A Host header is required\n");
          relay(req, res, host, "http");
        });
  server.on("tlsClientError", () => {
    // An unknown name or a client that gave up: nothing to serve, nothing to log per connection.
  });

  // The change feed: where we start, then every change since, applied to the cache.
  let cursor = (await pull<ChangePage>("/certificates"))?.cursor ?? 0;
  let stopped = false;
  const poll = async () => {
    for (;;) {
      const page = await pull<ChangePage>(`/certificates?since=${cursor}`);
      if (!page) return;
      if (page.reset) {
        cache.clear();
        absent.clear();
        log({ event: "cache_reset", cursor: page.cursor });
      }
      for (const change of page.changes) {
        const wasCached = cache.has(change.domain);
        cache.delete(change.domain);
        absent.delete(change.domain);
        log({
          event: `certificate_${change.change}`,
          domain: change.domain,
          serial: change.serial,
        });
        if (change.change === "deployed" && wasCached)
          await load(change.domain, change.serial ?? undefined).catch(() => null);
      }
      cursor = page.cursor;
      if (!page.more) return;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      poll()
        .catch((error: Error) => log({ event: "feed_error", message: error.message }))
        .finally(() => {
          if (!stopped) schedule();
        });
    }, options.pollIntervalMs ?? 5000);
  };
  schedule();

  await new Promise<void>((resolve) =>
    server.listen(options.port, options.host ?? "127.0.0.1", resolve),
  );
  if (plain)
    await new Promise<void>((resolve) =>
      plain.listen(options.httpPort, options.host ?? "127.0.0.1", resolve),
    );
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://${options.host ?? "127.0.0.1"}:${port}`,
    port,
    httpPort: plain ? (plain.address() as AddressInfo).port : undefined,
    negativeEntries: () => absent.size,
    pulls: () => pullCount,
    cachedSerial: (domain) => cache.get(domain)?.serial,
    close: async () => {
      stopped = true;
      clearTimeout(timer);
      server.closeAllConnections();
      plain?.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        plain ? new Promise<void>((resolve) => plain.close(() => resolve())) : undefined,
      ]);
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: "string", default: "127.0.0.1:14443" },
      "listen-http": { type: "string" },
      origin: { type: "string", default: "http://127.0.0.1:5002" },
      "poll-seconds": { type: "string", default: "5" },
    },
  });
  const token = process.env.EDGE_PULL_TOKEN;
  if (!token) throw new Error("EDGE_PULL_TOKEN must be set (the worker's secret of that name)");
  const [host, port] = (values.listen as string).split(/:(?=\d+$)/);
  const httpPort = values["listen-http"]?.split(/:(?=\d+$)/)[1];
  const edge = await startTlsEdge({
    host: host as string,
    port: Number(port),
    ...(httpPort ? { httpPort: Number(httpPort) } : {}),
    origin: values.origin as string,
    token,
    pollIntervalMs: Number(values["poll-seconds"]) * 1000,
  });
  console.log(
    `tls-edge: HTTPS on ${edge.url}${edge.httpPort ? `, HTTP on port ${edge.httpPort}` : ""}, relaying to ${values.origin}`,
  );
  const stop = () => void edge.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
