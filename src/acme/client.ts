// The ACME request layer (RFC 8555 §6): the directory (fetched once), a pool of nonces filled
// from every Replay-Nonce (newNonce only when it is empty), and signed POSTs that are re-signed
// with a fresh nonce on badNonce, a bounded number of times, and never replayed as they were.
// It holds no account or order state; the resource modules build on it.
import type { ZodType } from "zod";
import { fromUtf8 } from "../util/encoding";
import { type HttpResult, type Link, Transport, type TransportOptions } from "./http";
import { type AccountKey, type KeyReference, signJws } from "./jws";
import { AcmeProblem, AcmeProtocolError, parseProblem } from "./problem";
import { type Directory, DirectorySchema } from "./types";

export interface AcmeClientOptions extends TransportOptions {
  directoryUrl: string;
  /** How many times a POST is re-signed after badNonce before the problem is returned. */
  maxBadNonceRetries?: number;
  /** Most nonces kept for later requests. */
  noncePoolSize?: number;
}

/** Who signs: the account key, named by its account URL once there is one. */
export interface Signer {
  key: AccountKey;
  /** The account URL; absent only for newAccount, which sends the public key instead. */
  accountUrl?: string;
}

export interface AcmeResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
  location: string | undefined;
  links: Link[];
  retryAfter: Date | undefined;
}

export class AcmeClient {
  readonly directoryUrl: string;
  readonly transport: Transport;
  readonly #maxBadNonceRetries: number;
  readonly #poolSize: number;
  readonly #nonces: string[] = [];
  #directory: Promise<Directory> | undefined;

  constructor(options: AcmeClientOptions) {
    this.directoryUrl = options.directoryUrl;
    this.transport = new Transport(options);
    this.#maxBadNonceRetries = options.maxBadNonceRetries ?? 16;
    this.#poolSize = options.noncePoolSize ?? 16;
  }

  /** The directory, fetched on first use and kept; a failed fetch is retried on the next call. */
  directory(): Promise<Directory> {
    this.#directory ??= (async () => {
      const response = await this.#checked(
        await this.transport.request("GET", this.directoryUrl, { accept: "application/json" }),
      );
      return parseJson(response, DirectorySchema, "directory");
    })();
    this.#directory.catch(() => {
      this.#directory = undefined;
    });
    return this.#directory;
  }

  /** Nonces waiting in the pool (for tests and metrics). */
  get pooledNonces(): number {
    return this.#nonces.length;
  }

  /** An unauthenticated GET, as RFC 9773 renewalInfo uses. */
  async get(url: string, accept = "application/json"): Promise<AcmeResponse> {
    return this.#checked(await this.transport.request("GET", url, { accept }));
  }

  /**
   * A signed POST of `payload` (or of nothing: postAsGet) to `url`. On badNonce it signs again
   * with the nonce that came with the refusal; other problems are thrown as AcmeProblem.
   */
  async post(
    url: string,
    signer: Signer,
    payload: unknown,
    accept?: string,
  ): Promise<AcmeResponse> {
    const keyReference: KeyReference = signer.accountUrl
      ? { kid: signer.accountUrl }
      : { jwk: signer.key.publicJwk };
    for (let attempt = 0; ; attempt++) {
      const nonce = await this.#takeNonce();
      const jws = await signJws(signer.key, { nonce, url, ...keyReference }, payload);
      const result = await this.transport.request("POST", url, {
        body: JSON.stringify(jws),
        contentType: "application/jose+json",
        ...(accept ? { accept } : {}),
      });
      try {
        return await this.#checked(result);
      } catch (error) {
        if (
          error instanceof AcmeProblem &&
          error.is("badNonce") &&
          attempt < this.#maxBadNonceRetries
        )
          continue;
        throw error;
      }
    }
  }

  async #takeNonce(): Promise<string> {
    const pooled = this.#nonces.pop();
    if (pooled) return pooled;
    const { newNonce } = await this.directory();
    const response = await this.transport.request("HEAD", newNonce);
    const nonce = response.headers.get("replay-nonce");
    if (response.status >= 400 || !nonce) {
      throw new AcmeProtocolError(
        `newNonce answered HTTP ${response.status}${nonce ? "" : " without a Replay-Nonce"}`,
        newNonce,
      );
    }
    return nonce;
  }

  /** Keeps the response's nonce, and turns an error status into an AcmeProblem. */
  async #checked(result: HttpResult): Promise<AcmeResponse> {
    const nonce = result.headers.get("replay-nonce");
    // RFC 8555 §6.5.1: the value is base64url; anything else is not worth keeping.
    if (nonce && /^[A-Za-z0-9_-]+$/.test(nonce)) {
      this.#nonces.push(nonce);
      if (this.#nonces.length > this.#poolSize) this.#nonces.shift();
    }
    if (result.status >= 400) {
      let body: unknown = fromUtf8(result.body);
      try {
        body = JSON.parse(body as string);
      } catch {
        // not JSON: parseProblem keeps the text as the detail
      }
      throw parseProblem(body, result.status, result.url, result.retryAfter);
    }
    return result;
  }
}

/** The response body as JSON checked against `schema`; an AcmeProtocolError otherwise. */
export function parseJson<T>(
  response: { body: Uint8Array; status: number },
  schema: ZodType<T>,
  what: string,
  url?: string,
): T {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(response.body));
  } catch {
    throw new AcmeProtocolError(`the ${what} is not JSON (HTTP ${response.status})`, url);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AcmeProtocolError(
      `the ${what} is not as RFC 8555 defines it: ${issue?.path.join(".") || "(root)"} ${issue?.message}`,
      url,
    );
  }
  return parsed.data;
}
