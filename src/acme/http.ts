// HTTP for ACME: every request has a deadline and a bounded body; GET and HEAD are retried on
// network errors and 5xx (a signed POST never is: client.ts re-signs instead); Retry-After and
// Link headers are parsed. It knows nothing of JWS or of ACME resources.
import LinkHeader from "http-link-header";
import { BodyTooLargeError, readLimited } from "../util/http";
import { AcmeNetworkError, AcmeProtocolError } from "./problem";

export interface TransportOptions {
  fetch?: typeof fetch;
  /** Deadline for each request, body included. */
  timeoutMs?: number;
  maxResponseBytes?: number;
  userAgent?: string;
  /** Further attempts for GET and HEAD after a network error or a 5xx. */
  getRetries?: number;
  /** Waits before each further GET attempt; kept short: a caller's step must stay bounded. */
  getRetryDelaysMs?: readonly number[];
}

export interface Link {
  rel: string;
  url: string;
}

export interface HttpResult {
  status: number;
  url: string;
  headers: Headers;
  body: Uint8Array;
  location: string | undefined;
  links: Link[];
  retryAfter: Date | undefined;
}

export class Transport {
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #userAgent: string;
  readonly #retries: number;
  readonly #delays: readonly number[];

  constructor(options: TransportOptions = {}) {
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#maxBytes = options.maxResponseBytes ?? 1024 * 1024;
    this.#userAgent = options.userAgent ?? "tracking-edge-acme/0.1";
    this.#retries = options.getRetries ?? 2;
    this.#delays = options.getRetryDelaysMs ?? [200, 1000];
  }

  async request(
    method: "GET" | "HEAD" | "POST",
    url: string,
    init: { body?: string; accept?: string; contentType?: string } = {},
  ): Promise<HttpResult> {
    const attempts = method === "POST" ? 1 : 1 + this.#retries;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.#once(method, url, init);
        if (result.status >= 500 && attempt < attempts) {
          await sleep(this.#delays[attempt - 1] ?? 1000);
          continue;
        }
        return result;
      } catch (error) {
        if (!(error instanceof AcmeNetworkError) || attempt >= attempts) throw error;
        await sleep(this.#delays[attempt - 1] ?? 1000);
      }
    }
  }

  async #once(
    method: string,
    url: string,
    init: { body?: string; accept?: string; contentType?: string },
  ): Promise<HttpResult> {
    const headers: Record<string, string> = { "user-agent": this.#userAgent };
    if (init.accept) headers.accept = init.accept;
    if (init.contentType) headers["content-type"] = init.contentType;
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await this.#fetch(url, {
        method,
        headers,
        signal,
        redirect: "manual",
        ...(init.body === undefined ? {} : { body: init.body }),
      });
      const body =
        method === "HEAD" ? new Uint8Array(0) : await readLimited(response, this.#maxBytes);
      return {
        status: response.status,
        url,
        headers: response.headers,
        body,
        location: resolveUrl(response.headers.get("location"), url),
        links: parseLinks(response.headers.get("link"), url),
        retryAfter: parseRetryAfter(response.headers.get("retry-after")),
      };
    } catch (error) {
      if (error instanceof BodyTooLargeError)
        throw new AcmeProtocolError(`the response is larger than ${this.#maxBytes} bytes`, url);
      if (signal.aborted)
        throw new AcmeNetworkError(`no complete answer within ${this.#timeoutMs} ms`, url, true);
      throw new AcmeNetworkError(`request failed: ${(error as Error).message}`, url, false);
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function resolveUrl(value: string | null, base: string): string | undefined {
  if (!value) return undefined;
  try {
    return new URL(value, base).toString();
  } catch {
    return undefined;
  }
}

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns the moment to retry,
 * or undefined when the header is absent or not one of those forms.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: Date = new Date(),
): Date | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return new Date(now.getTime() + Number(text) * 1000);
  // IMF-fixdate, and the obsolete RFC 850 and asctime forms, all of which Date.parse reads.
  if (!/^[A-Za-z]{3},? |^[A-Za-z]+day, /.test(text)) return undefined;
  // asctime carries no zone: it is GMT (RFC 9110 §5.6.7), not the local time Date.parse assumes.
  const at = Date.parse(/\d{4}$/.test(text) ? `${text} GMT` : text);
  return Number.isNaN(at) ? undefined : new Date(at);
}

/** Link header (RFC 8288) entries with their URLs resolved against the request's URL. */
export function parseLinks(value: string | null | undefined, base: string): Link[] {
  if (!value) return [];
  let parsed: LinkHeader;
  try {
    parsed = LinkHeader.parse(value);
  } catch {
    return [];
  }
  return parsed.refs.flatMap((ref) => {
    const url = resolveUrl(ref.uri, base);
    if (!url) return [];
    return ref.rel
      .split(/\s+/)
      .filter(Boolean)
      .map((rel) => ({ rel: rel.toLowerCase(), url }));
  });
}
