// DNS over HTTPS (RFC 8484, wire format) with the answers a caller can trust: a bounded wait,
// a bounded body, the answer checked against the question. NXDOMAIN and "no records" are
// answers; SERVFAIL, REFUSED, timeouts and garbage are DnsQueryErrors of a named kind.
// It follows no CNAMEs itself (see cname.ts) and caches nothing.
import * as dnsPacket from "@dnsquery/dns-packet";
import { base64Url } from "../util/encoding";
import { BodyTooLargeError, readLimited } from "../util/http";

export type DnsRecordType = "A" | "AAAA" | "CNAME" | "CAA" | "TXT";

export interface DnsRecord {
  /** Lower-case, without the trailing dot. */
  name: string;
  type: string;
  ttl: number;
  data: unknown;
}

export interface DnsAnswer {
  rcode: "NOERROR" | "NXDOMAIN";
  answers: DnsRecord[];
}

export type DnsFailureKind =
  | "timeout"
  | "network"
  | "http_status"
  | "malformed"
  | "servfail"
  | "refused"
  | "rcode";

export class DnsQueryError extends Error {
  override readonly name = "DnsQueryError";
  constructor(
    readonly kind: DnsFailureKind,
    readonly query: { name: string; type: DnsRecordType },
    message: string,
  ) {
    super(`${query.type} ${query.name}: ${message}`);
  }
}

export interface DnsResolver {
  query(name: string, type: DnsRecordType): Promise<DnsAnswer>;
}

export interface DohOptions {
  url: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** The largest DNS message there is (RFC 1035 length field); anything longer is not DNS. */
const maxMessageBytes = 65_535;

export function createDohResolver(options: DohOptions): DnsResolver {
  const timeoutMs = options.timeoutMs ?? 5000;
  const doFetch = options.fetch ?? fetch;
  return {
    async query(name, type) {
      const question = { name: canonicalName(name), type };
      const fail = (kind: DnsFailureKind, message: string) =>
        new DnsQueryError(kind, question, message);
      // RFC 8484 §4.1: the ID should be 0 so that GET responses are cacheable.
      const message = dnsPacket.encode({
        type: "query",
        id: 0,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [question],
      });
      const url = new URL(options.url);
      url.searchParams.set("dns", base64Url(message));

      const signal = AbortSignal.timeout(timeoutMs);
      let body: Uint8Array;
      try {
        const response = await doFetch(url, {
          headers: { accept: "application/dns-message" },
          signal,
        });
        if (response.status !== 200) {
          await response.body?.cancel();
          throw fail("http_status", `the resolver answered HTTP ${response.status}`);
        }
        const contentType = response.headers.get("content-type") ?? "";
        if (!contentType.toLowerCase().startsWith("application/dns-message")) {
          await response.body?.cancel();
          throw fail(
            "malformed",
            `the resolver answered ${contentType || "no content type"}, not application/dns-message`,
          );
        }
        body = await readLimited(response, maxMessageBytes);
      } catch (error) {
        if (error instanceof DnsQueryError) throw error;
        if (error instanceof BodyTooLargeError) {
          throw fail("malformed", `the resolver's answer is longer than ${maxMessageBytes} bytes`);
        }
        if (signal.aborted)
          throw fail("timeout", `no answer from the resolver within ${timeoutMs} ms`);
        throw fail("network", `could not reach the resolver (${(error as Error).message})`);
      }
      return interpret(body, question, fail);
    },
  };
}

function interpret(
  body: Uint8Array,
  question: { name: string; type: DnsRecordType },
  fail: (kind: DnsFailureKind, message: string) => DnsQueryError,
): DnsAnswer {
  let packet: dnsPacket.Packet;
  let consumed: number | undefined;
  try {
    packet = dnsPacket.decode(body);
    // The library reads past the end of a truncated message without complaint; the count of
    // bytes it consumed (set by the synchronous call just made) tells.
    consumed = (dnsPacket.decode as { bytes?: number }).bytes;
  } catch (error) {
    throw fail(
      "malformed",
      `the resolver's answer is not a DNS message (${(error as Error).message})`,
    );
  }
  if (consumed !== body.byteLength) {
    throw fail(
      "malformed",
      "the resolver's answer is truncated or has bytes after the DNS message",
    );
  }
  const echoed = packet.questions?.[0];
  if (packet.type !== "response" || packet.questions?.length !== 1 || !echoed) {
    throw fail("malformed", "the resolver's answer is not a response to one question");
  }
  if (canonicalName(echoed.name) !== question.name || echoed.type !== question.type) {
    throw fail(
      "malformed",
      `the resolver answered a different question (${echoed.type} ${echoed.name})`,
    );
  }
  const rcode = String(packet.rcode);
  switch (rcode) {
    case "NOERROR":
    case "NXDOMAIN":
      return { rcode, answers: (packet.answers ?? []).flatMap(toRecord) };
    case "SERVFAIL":
      throw fail(
        "servfail",
        "the resolver answered SERVFAIL (the domain's DNS servers failed or did not answer)",
      );
    case "REFUSED":
      throw fail("refused", "the resolver refused the query");
    default:
      throw fail("rcode", `the resolver answered ${rcode}`);
  }
}

function toRecord(answer: dnsPacket.Answer): DnsRecord[] {
  if (answer.class !== undefined && answer.class !== "IN") return [];
  const data =
    answer.type === "CNAME" && typeof answer.data === "string"
      ? canonicalName(answer.data)
      : answer.data;
  return [{ name: canonicalName(answer.name), type: answer.type, ttl: answer.ttl ?? 0, data }];
}

/** Lower-case without a trailing dot: how names are compared everywhere in this module. */
export function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
