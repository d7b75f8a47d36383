// The persisted state of one domain's certificate lifecycle, and what each step can find out.
// Plain data: the Durable Object stores it as one JSON row; machine.ts moves it along.
import type { ActionBy, ErrorCode, Region, TlsStatus } from "../domains/model";

/** What the lifecycle does next, in order. */
export const phases = [
  /** Nothing to do: managed HTTPS is off, the domain is unavailable, or retries gave up. */
  "idle",
  /** Eligibility: name, policy, CNAME, CAA. Runs before every order. */
  "check",
  "order",
  /** Store the challenge token, then tell the CA to validate. */
  "authorize",
  "await_authorization",
  /** A new key (stored wrapped first), a CSR, finalize. */
  "finalize",
  "await_certificate",
  "download",
  "deploy",
  /** A certificate serves; the next run is its renewal. */
  "installed",
] as const;
export type Phase = (typeof phases)[number];

export interface OrderRef {
  url: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
}

export interface LastError {
  code: ErrorCode;
  detail: string;
  actionBy: ActionBy;
  at: string;
}

/** The CA's renewal information for the serving certificate (RFC 9773). */
export interface RenewalInfoState {
  windowStart: string;
  windowEnd: string;
  /** The random point in the window chosen for this certificate. */
  selected: string;
  explanationUrl: string | null;
  checkedAt: string;
}

export interface ServingCertificate {
  serial: string;
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  renewsAt: string;
  /** Drawn once in [0, 1): how far ahead of the lifetime rule this certificate renews. */
  spread: number;
  /** Its ARI certificate ID (RFC 9773 §4.1), which a renewal order names in `replaces`. */
  ariId: string | null;
  ari: RenewalInfoState | null;
  /** When to ask the CA for renewal information again; null when the CA offers none. */
  nextAriCheckAt: string | null;
}

export interface CertificateState {
  domain: string;
  region: Region;
  enabled: boolean;
  phase: Phase;
  /** The public status (tls_status); `valid` while a renewal runs and the old certificate serves. */
  status: TlsStatus;
  /** When the next step is due (ISO); null when nothing is scheduled. */
  nextRunAt: string | null;
  /** When the lifecycle last moved forward: "stuck" is measured from here. */
  progressAt: string;
  /** Consecutive failed attempts, for the retry schedule. */
  failures: number;
  /** Quick retries of the current step after transient trouble. */
  stepRetries: number;
  /** Polls of the current step (authorization or order still in progress). */
  polls: number;
  order: OrderRef | null;
  error: LastError | null;
  current: ServingCertificate | null;
  /** The certificate downloaded but not yet deployed. */
  candidate: ServingCertificate | null;
}

/** What performing a step found out. The runner produces these; machine.ts decides. */
export type Outcome =
  | { kind: "eligible" }
  | {
      kind: "ordered";
      order: OrderRef;
      status: "pending" | "ready" | "processing" | "valid";
      retryAfter?: string;
      /** The ARI certificate ID of the certificate this order replaces. */
      replaces?: string;
      /** What placing it meant, when it was not an ACME order (the edge's own certificate). */
      reason?: string;
    }
  | { kind: "authorization_pending"; retryAfter?: string }
  | { kind: "authorized" }
  | { kind: "finalized"; status: "processing" | "valid"; certificate?: string; retryAfter?: string }
  | {
      kind: "certificate_pending";
      retryAfter?: string;
      /** What holds the certificate up meanwhile, and who can fix it (shown, still pending). */
      waiting?: Pick<Failure, "code" | "detail" | "actionBy">;
    }
  | { kind: "certificate_ready"; certificate: string }
  | {
      kind: "downloaded";
      certificate: Pick<
        ServingCertificate,
        "serial" | "notBefore" | "notAfter" | "ariId" | "spread"
      >;
    }
  | { kind: "deployed"; edgeStatus?: string }
  | {
      kind: "renewal_info";
      windowStart: string;
      windowEnd: string;
      selected: string;
      explanationUrl: string | null;
      retryAfter?: string;
    }
  /** No window this time: the CA offers none (`permanent`), or not now (ask again at `retryAfter`). */
  | { kind: "renewal_info_unavailable"; permanent: boolean; retryAfter?: string }
  /** The account used up its new orders for now: place the order at `until`. */
  | { kind: "order_deferred"; until: string; detail: string }
  /** The CA no longer knows the order (or our account): start a new order. */
  | { kind: "order_lost"; detail: string }
  | { kind: "failure"; failure: Failure };

/**
 * How bad a failure is:
 * - `transient`: retry the same step soon (network, CA trouble, DNS not answering);
 * - `rate_limited`: not before `retryAt`;
 * - `failed`: this attempt is over; retry on the schedule (the fix is usually the customer's);
 * - `unavailable`: the name cannot have a managed certificate; no automatic retries.
 */
export interface Failure {
  severity: "transient" | "rate_limited" | "failed" | "unavailable";
  code: ErrorCode;
  detail: string;
  actionBy: ActionBy;
  retryAt?: string;
}

export interface TransitionEvent {
  at: string;
  from: Phase;
  to: Phase;
  status: TlsStatus;
  reason: string;
  errorCode: ErrorCode | null;
}

export function initialState(domain: string, region: Region, now: Date): CertificateState {
  return {
    domain,
    region,
    enabled: false,
    phase: "idle",
    status: "unknown",
    nextRunAt: null,
    progressAt: now.toISOString(),
    failures: 0,
    stepRetries: 0,
    polls: 0,
    order: null,
    error: null,
    current: null,
    candidate: null,
  };
}
