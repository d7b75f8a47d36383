// ACME errors. A server's problem document (RFC 8555 §6.7, RFC 7807) becomes an AcmeProblem
// that keeps everything it said; a server that breaks the protocol is an AcmeProtocolError; a
// peer that cannot be reached or answers too slowly is an AcmeNetworkError. Callers branch on
// types and on classifyError, never on message text.

/** Every error type in IANA's "ACME Error Types" registry, by its short name. */
export const acmeErrorTypes = {
  // RFC 8555 §6.7
  accountDoesNotExist: "urn:ietf:params:acme:error:accountDoesNotExist",
  alreadyRevoked: "urn:ietf:params:acme:error:alreadyRevoked",
  badCSR: "urn:ietf:params:acme:error:badCSR",
  badNonce: "urn:ietf:params:acme:error:badNonce",
  badPublicKey: "urn:ietf:params:acme:error:badPublicKey",
  badRevocationReason: "urn:ietf:params:acme:error:badRevocationReason",
  badSignatureAlgorithm: "urn:ietf:params:acme:error:badSignatureAlgorithm",
  caa: "urn:ietf:params:acme:error:caa",
  compound: "urn:ietf:params:acme:error:compound",
  connection: "urn:ietf:params:acme:error:connection",
  dns: "urn:ietf:params:acme:error:dns",
  externalAccountRequired: "urn:ietf:params:acme:error:externalAccountRequired",
  incorrectResponse: "urn:ietf:params:acme:error:incorrectResponse",
  invalidContact: "urn:ietf:params:acme:error:invalidContact",
  malformed: "urn:ietf:params:acme:error:malformed",
  orderNotReady: "urn:ietf:params:acme:error:orderNotReady",
  rateLimited: "urn:ietf:params:acme:error:rateLimited",
  rejectedIdentifier: "urn:ietf:params:acme:error:rejectedIdentifier",
  serverInternal: "urn:ietf:params:acme:error:serverInternal",
  tls: "urn:ietf:params:acme:error:tls",
  unauthorized: "urn:ietf:params:acme:error:unauthorized",
  unsupportedContact: "urn:ietf:params:acme:error:unsupportedContact",
  unsupportedIdentifier: "urn:ietf:params:acme:error:unsupportedIdentifier",
  userActionRequired: "urn:ietf:params:acme:error:userActionRequired",
  // RFC 8739 (STAR)
  autoRenewalCanceled: "urn:ietf:params:acme:error:autoRenewalCanceled",
  autoRenewalExpired: "urn:ietf:params:acme:error:autoRenewalExpired",
  autoRenewalCancellationInvalid: "urn:ietf:params:acme:error:autoRenewalCancellationInvalid",
  autoRenewalRevocationNotSupported: "urn:ietf:params:acme:error:autoRenewalRevocationNotSupported",
  // RFC 9115 (delegation)
  delegationUnsupported: "urn:ietf:params:acme:error:delegationUnsupported",
  unknownDelegation: "urn:ietf:params:acme:error:unknownDelegation",
  // RFC 9773 (ARI): the certificate named in `replaces` was already replaced
  alreadyReplaced: "urn:ietf:params:acme:error:alreadyReplaced",
  // draft-ietf-acme-profiles: the requested profile is not offered
  invalidProfile: "urn:ietf:params:acme:error:invalidProfile",
} as const;

export type AcmeErrorName = keyof typeof acmeErrorTypes;

const namesByType = new Map<string, AcmeErrorName>(
  Object.entries(acmeErrorTypes).map(([name, type]) => [type, name as AcmeErrorName]),
);

export interface Identifier {
  type: string;
  value: string;
}

export interface Subproblem {
  type: string;
  detail: string | undefined;
  identifier: Identifier | undefined;
}

export class AcmeProblem extends Error {
  override readonly name = "AcmeProblem";
  /** The short name of a registered type (e.g. "rateLimited"), or undefined for others. */
  readonly errorName: AcmeErrorName | undefined;

  constructor(
    readonly type: string,
    readonly detail: string,
    readonly status: number,
    readonly subproblems: readonly Subproblem[] = [],
    /** The URL whose request drew the problem. */
    readonly url: string | undefined = undefined,
    /** When the server's Retry-After says to try again. */
    readonly retryAfter: Date | undefined = undefined,
    readonly instance: string | undefined = undefined,
  ) {
    super(`${type}${detail ? `: ${detail}` : ""}`);
    this.errorName = namesByType.get(type);
  }

  is(name: AcmeErrorName): boolean {
    return this.type === acmeErrorTypes[name];
  }
}

/** The server broke the protocol (missing header, unparsable JSON, an unknown status). */
export class AcmeProtocolError extends Error {
  override readonly name = "AcmeProtocolError";
  constructor(
    message: string,
    readonly url?: string,
  ) {
    super(url ? `${message} (${url})` : message);
  }
}

/** The CA could not be reached, or did not answer in time. */
export class AcmeNetworkError extends Error {
  override readonly name = "AcmeNetworkError";
  constructor(
    message: string,
    readonly url: string,
    readonly timedOut: boolean,
  ) {
    super(`${message} (${url})`);
  }
}

/**
 * Reads a problem document. A body that is not one still becomes an AcmeProblem, typed
 * serverInternal for 5xx statuses and malformed otherwise, with what the server sent as detail.
 */
export function parseProblem(
  body: unknown,
  status: number,
  url?: string,
  retryAfter?: Date,
): AcmeProblem {
  const doc = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const type =
    typeof doc.type === "string"
      ? doc.type
      : status >= 500
        ? acmeErrorTypes.serverInternal
        : acmeErrorTypes.malformed;
  const detail =
    typeof doc.detail === "string"
      ? doc.detail
      : typeof body === "string"
        ? body.slice(0, 500)
        : `HTTP ${status}`;
  const subproblems = Array.isArray(doc.subproblems)
    ? doc.subproblems.flatMap(parseSubproblem)
    : [];
  const instance = typeof doc.instance === "string" ? doc.instance : undefined;
  return new AcmeProblem(
    type,
    detail,
    typeof doc.status === "number" ? doc.status : status,
    subproblems,
    url,
    retryAfter,
    instance,
  );
}

function parseSubproblem(value: unknown): Subproblem[] {
  if (typeof value !== "object" || value === null) return [];
  const sub = value as Record<string, unknown>;
  if (typeof sub.type !== "string") return [];
  const id = sub.identifier as Record<string, unknown> | undefined;
  const identifier =
    typeof id === "object" &&
    id !== null &&
    typeof id.type === "string" &&
    typeof id.value === "string"
      ? { type: id.type, value: id.value }
      : undefined;
  return [
    { type: sub.type, detail: typeof sub.detail === "string" ? sub.detail : undefined, identifier },
  ];
}

/**
 * What a failed request means for trying again:
 * - `retryable`: the same request may work soon (server trouble, a lost nonce, the network);
 * - `rate_limited`: not before `retryAt` (when the server said);
 * - `terminal`: this request will not succeed as it is (policy, validation, a bad request).
 */
export type ErrorClass =
  | { kind: "retryable" }
  | { kind: "rate_limited"; retryAt: Date | undefined }
  | { kind: "terminal" };

const retryableTypes = new Set<string>([acmeErrorTypes.serverInternal, acmeErrorTypes.badNonce]);

export function classifyError(error: unknown): ErrorClass {
  if (error instanceof AcmeNetworkError) return { kind: "retryable" };
  if (error instanceof AcmeProtocolError) return { kind: "retryable" };
  if (!(error instanceof AcmeProblem)) return { kind: "terminal" };
  if (error.is("rateLimited")) return { kind: "rate_limited", retryAt: error.retryAfter };
  if (error.is("compound") && error.subproblems.length > 0) {
    const classes = error.subproblems.map((sub) =>
      classifyError(
        new AcmeProblem(sub.type, sub.detail ?? "", error.status, [], error.url, error.retryAfter),
      ),
    );
    return (
      classes.find((c) => c.kind === "rate_limited") ??
      (classes.every((c) => c.kind === "retryable") ? { kind: "retryable" } : { kind: "terminal" })
    );
  }
  if (retryableTypes.has(error.type) || error.status >= 500) return { kind: "retryable" };
  return { kind: "terminal" };
}
