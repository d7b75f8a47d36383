// Verifying a self-managed domain: the customer's CDN or proxy terminates TLS, so its CNAME
// proves nothing. Instead we go there as a browser would — resolve the name (our DoH resolver),
// connect to port 443, verify the proxy's certificate for the name, and ask for a verification
// path on it — and our own edge must answer at the far end with a proof: an HMAC over the Host it
// received and a fresh random nonce. Nobody without our key can produce it, it is good for one
// name and one probe only, and it shows the proxy forwards the original Host (which links need).
// Each way it can fail names the part that failed: dns, tcp, tls (with the certificate's
// problem), http (the status), or proxy (it answers, but not with us behind it).

import type { DnsResolver } from "../dns/doh";
import { macOf, type SigningRing } from "../tracking/link-token";
import { equalInConstantTime } from "../util/constant-time";
import { base64Url, fromUtf8, utf8 } from "../util/encoding";
import type { RequestTarget } from "../util/request-target";
import {
  type CertificateDiagnosis,
  type CertificateSummary,
  certificateReader,
  clientHello,
  diagnoseLeaf,
  inspectWorkingLeaf,
} from "./tls-diagnosis";

export const httpsProbePrefix = "/.well-known/tracking-edge/verify/";
const nonceHeader = "x-tracking-edge-nonce";
const proofHeader = "x-tracking-edge-proof";
const hostHeader = "x-tracking-edge-host";
const noncePattern = /^[A-Za-z0-9_-]{22,64}$/;

/** Where a probe failed; `edge`: our edge does not route the name to us yet (edge-admission.ts). */
export type ProbeStage = "dns" | "tcp" | "tls" | "http" | "proxy" | "edge";

export interface HttpsProbeResult {
  ok: boolean;
  /** Where it failed; absent when it passed. */
  stage?: ProbeStage;
  errorCode?: `https:${ProbeStage}`;
  detail: string;
  address?: string;
  certificate?: CertificateSummary;
}

type Connect = typeof import("cloudflare:sockets").connect;

export interface ProbeContext {
  resolver: DnsResolver;
  connect: Connect;
  ring: SigningRing;
  port: number;
  timeoutMs?: number;
  now?: () => Date;
  fetch?: typeof fetch;
}

const proofInput = (host: string, nonce: string) =>
  utf8(`tracking-edge https probe\n${host}\n${nonce}`);

/** The proof our edge gives for `host` and `nonce`: "<key id>.<mac>". */
export function probeProof(ring: SigningRing, host: string, nonce: string): string {
  const key = ring.keys.get(ring.current);
  if (!key) throw new Error("the signing ring has no current key");
  return `${ring.current}.${base64Url(macOf(key, proofInput(host, nonce)))}`;
}

function proofHolds(ring: SigningRing, host: string, nonce: string, proof: string): boolean {
  const [keyId, mac] = proof.split(".");
  const key = keyId ? ring.keys.get(keyId) : undefined;
  if (!key || !mac) return false;
  return equalInConstantTime(mac, base64Url(macOf(key, proofInput(host, nonce))));
}

/** Our edge's answer on a tracking host to GET {httpsProbePrefix}{nonce}. */
export function answerHttpsProbe(target: RequestTarget, ring: SigningRing): Response {
  const nonce = target.path.slice(httpsProbePrefix.length);
  if (!noncePattern.test(nonce)) return new Response("Not found\n", { status: 404 });
  return new Response("tracking-edge\n", {
    headers: {
      "content-type": "text/plain",
      "cache-control": "no-store",
      [hostHeader]: target.host,
      [nonceHeader]: nonce,
      [proofHeader]: probeProof(ring, target.host, nonce),
    },
  });
}

const fail = (stage: ProbeStage, detail: string, extra: Partial<HttpsProbeResult> = {}) =>
  ({ ok: false, stage, errorCode: `https:${stage}`, detail, ...extra }) as HttpsProbeResult;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Reads from `readable` into `consume` until it returns a value, the stream ends, or time runs out. */
async function readUntil<T>(
  readable: ReadableStream<Uint8Array>,
  consume: (chunk: Uint8Array) => T | null,
  ms: number,
  what: string,
): Promise<T | null> {
  const reader = readable.getReader();
  try {
    return await withTimeout(
      (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return null;
          const result = consume(value);
          if (result !== null) return result;
        }
      })(),
      ms,
      what,
    );
  } finally {
    reader.releaseLock();
  }
}

/** Status and headers of an HTTP/1.1 response; the body is not needed. */
function responseHead(
  limit = 16_384,
): (chunk: Uint8Array) => { status: number; headers: Map<string, string> } | null {
  let text = "";
  return (chunk) => {
    text += fromUtf8(chunk);
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) {
      if (text.length > limit) throw new Error("the response head is too long");
      return null;
    }
    const [statusLine = "", ...lines] = text.slice(0, end).split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
    if (!status) throw new Error(`not an HTTP response: ${statusLine.slice(0, 60)}`);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0)
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    return { status: Number(status), headers };
  };
}

async function firstAddress(
  resolver: DnsResolver,
  domain: string,
): Promise<string | HttpsProbeResult> {
  try {
    const answer = await resolver.query(domain, "A");
    const address = answer.answers.find((r) => r.type === "A" && typeof r.data === "string")?.data;
    if (typeof address === "string") return address;
    return fail(
      "dns",
      answer.rcode === "NXDOMAIN"
        ? `${domain} does not exist in DNS.`
        : `${domain} has no IPv4 address in DNS: point it at your CDN or proxy.`,
    );
  } catch (error) {
    return fail("dns", `${domain} could not be resolved: ${(error as Error).message}`);
  }
}

/** The proxy's leaf certificate, read with our own TLS 1.2 ClientHello, or why it could not be. */
async function readLeaf(
  context: ProbeContext,
  address: string,
  domain: string,
  ms: number,
): Promise<Uint8Array | { reason: string }> {
  const socket = context.connect({ hostname: address, port: context.port });
  try {
    await withTimeout(socket.opened, ms, "connecting");
    const writer = socket.writable.getWriter();
    await writer.write(clientHello(domain));
    writer.releaseLock();
    const chain = await readUntil(
      socket.readable,
      certificateReader(),
      ms,
      "the TLS 1.2 handshake",
    );
    return chain?.[0] ?? { reason: "The proxy closed the connection during the TLS handshake." };
  } catch (error) {
    return {
      reason: `The TLS handshake failed; the reason could not be read (${(error as Error).message}).`,
    };
  } finally {
    socket.close().catch(() => {});
  }
}

/** Why the verified handshake failed, asked with a plaintext TLS 1.2 handshake. */
async function diagnoseTls(
  context: ProbeContext,
  address: string,
  domain: string,
  ms: number,
): Promise<CertificateDiagnosis> {
  const leaf = await readLeaf(context, address, domain, ms);
  return leaf instanceof Uint8Array
    ? diagnoseLeaf(leaf, domain, context.now?.() ?? new Date())
    : leaf;
}

/**
 * A passing probe, with what can be read of the proxy's certificate: its names and dates, and a
 * warning when it expires soon. A proxy that speaks only TLS 1.3 passes without them, and the
 * detail says that no warning can come.
 */
async function passed(
  context: ProbeContext,
  domain: string,
  address: string,
  ms: number,
): Promise<HttpsProbeResult> {
  const where = `${address}:${context.port}`;
  const leaf = await readLeaf(context, address, domain, ms);
  const inspected =
    leaf instanceof Uint8Array ? inspectWorkingLeaf(leaf, context.now?.() ?? new Date()) : null;
  const note = inspected
    ? (inspected.warning ?? "")
    : `We could not read its certificate (${unreadBecause(leaf)}), so we cannot warn you before it expires.`;
  return {
    ok: true,
    detail: `HTTPS for ${domain} works through ${where} and reaches tracking-edge.${note ? ` ${note}` : ""}`,
    address,
    ...(inspected ? { certificate: inspected.certificate } : {}),
  };
}

/** Why a working proxy's certificate could not be read, in a few words. */
function unreadBecause(leaf: Uint8Array | { reason: string }): string {
  if (leaf instanceof Uint8Array) return "it is not a certificate we can parse";
  return /refused a TLS 1\.2 handshake/.test(leaf.reason)
    ? "the proxy refused a TLS 1.2 handshake, as a TLS 1.3-only proxy does"
    : "the TLS 1.2 handshake we read it with did not complete";
}

/**
 * The same question through fetch(): it resolves and verifies TLS on its own, so it can only say
 * whether our proof came back. Null when it got no answer at all.
 */
async function probeWithFetch(
  domain: string,
  context: ProbeContext,
  ms: number,
): Promise<HttpsProbeResult | null> {
  const nonce = base64Url(crypto.getRandomValues(new Uint8Array(24)));
  const port = context.port === 443 ? "" : `:${context.port}`;
  let response: Response;
  try {
    response = await (context.fetch ?? fetch)(
      `https://${domain}${port}${httpsProbePrefix}${nonce}`,
      {
        redirect: "manual",
        signal: AbortSignal.timeout(ms),
      },
    );
  } catch {
    return null;
  }
  await response.body?.cancel();
  const proof = response.headers.get(proofHeader);
  const sawHost = response.headers.get(hostHeader);
  if (proof && sawHost === domain && proofHolds(context.ring, domain, nonce, proof))
    return {
      ok: true,
      detail: `HTTPS for ${domain} works through its proxy and reaches tracking-edge.`,
    };
  return fail(
    response.status === 200 ? "proxy" : "http",
    response.status === 200
      ? `HTTPS for ${domain} works, but the proxy does not reach tracking-edge: it answered without our proof.`
      : `The proxy for ${domain} answered HTTP ${response.status} for ${httpsProbePrefix}…; it must forward every path to the tracking endpoint.`,
  );
}

export async function probeHttps(domain: string, context: ProbeContext): Promise<HttpsProbeResult> {
  const ms = context.timeoutMs ?? 5000;
  const address = await firstAddress(context.resolver, domain);
  if (typeof address !== "string") return address;
  const where = `${address}:${context.port}`;

  let socket: ReturnType<Connect> | undefined;
  try {
    // connect() itself throws for an address the runtime will not dial.
    socket = context.connect(
      { hostname: address, port: context.port },
      { secureTransport: "starttls", allowHalfOpen: false },
    );
    await withTimeout(socket.opened, ms, "connecting");
  } catch (error) {
    socket?.close().catch(() => {});
    // Workers may not open sockets to some addresses (Cloudflare's own, so a proxy on
    // Cloudflare): ask through fetch() before calling the address unreachable.
    const fetched = await probeWithFetch(domain, context, ms);
    if (fetched) return fetched;
    return fail("tcp", `Nothing accepted a connection at ${where} (${(error as Error).message}).`, {
      address,
    });
  }
  try {
    const tls = socket.startTls({ expectedServerHostname: domain });
    const nonce = base64Url(crypto.getRandomValues(new Uint8Array(24)));
    let head: Awaited<ReturnType<ReturnType<typeof responseHead>>> | null;
    try {
      const writer = tls.writable.getWriter();
      await withTimeout(
        writer.write(
          utf8(
            `GET ${httpsProbePrefix}${nonce} HTTP/1.1\r\nHost: ${domain}\r\nUser-Agent: tracking-edge-verifier\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
          ),
        ),
        ms,
        "the TLS handshake",
      );
      writer.releaseLock();
      head = await readUntil(tls.readable, responseHead(), ms, "the response");
    } catch (error) {
      const message = (error as Error).message;
      if (/took longer/.test(message)) {
        return fail("http", `The proxy at ${where} did not answer within ${ms / 1000} s.`, {
          address,
        });
      }
      if (/not an HTTP response|too long/.test(message))
        return fail(
          "http",
          `The proxy at ${where} answered something that is not HTTP: ${message}`,
          { address },
        );
      // The runtime does not say why a verified handshake failed: find out ourselves.
      const diagnosis = await diagnoseTls(context, address, domain, ms);
      return fail(
        "tls",
        `HTTPS to ${domain} (${where}) failed the TLS check. ${diagnosis.reason}`,
        {
          address,
          ...(diagnosis.certificate ? { certificate: diagnosis.certificate } : {}),
        },
      );
    } finally {
      tls.close().catch(() => {});
    }
    if (!head)
      return fail("http", `The proxy at ${where} closed the connection without answering.`, {
        address,
      });
    const proof = head.headers.get(proofHeader);
    const sawHost = head.headers.get(hostHeader);
    if (
      proof &&
      sawHost &&
      head.headers.get(nonceHeader) === nonce &&
      proofHolds(context.ring, sawHost, nonce, proof)
    ) {
      if (sawHost !== domain) {
        return fail(
          "proxy",
          `The proxy reaches us but sends Host: ${sawHost} instead of ${domain}; configure it to pass the original Host header through, or tracked links will not work.`,
          { address },
        );
      }
      return passed(context, domain, address, ms);
    }
    if (head.status !== 200) {
      return fail(
        "http",
        `The proxy at ${where} answered HTTP ${head.status} for ${httpsProbePrefix}…; it must forward every path to the tracking endpoint.`,
        { address },
      );
    }
    const server = head.headers.get("server");
    return fail(
      "proxy",
      `HTTPS for ${domain} works, but the proxy does not reach tracking-edge: it answered without our proof${
        server ? ` (server: ${server})` : ""
      }. Point the proxy's origin at the tracking endpoint.`,
      { address },
    );
  } finally {
    socket.close().catch(() => {});
  }
}
