// The tracking-domain model: its stored shape and the vocabularies of its statuses.
// Storage lives in repository.ts and the public API shape in api-shape.ts.

export const regions = ["us", "eu"] as const;
export type Region = (typeof regions)[number];

/** How HTTPS reaches the domain: our certificate, the customer's CDN or proxy, or not at all. */
export const httpsModes = ["managed", "self_managed", "none"] as const;
export type HttpsMode = (typeof httpsModes)[number];

/** `pending`: never checked; `valid`: reaches one of our endpoints; `invalid`: does not. */
export const cnameStatuses = ["pending", "valid", "invalid"] as const;
export type CnameStatus = (typeof cnameStatuses)[number];

export const complianceStatuses = ["pending", "valid", "blocked"] as const;
export type ComplianceStatus = (typeof complianceStatuses)[number];

export const tlsStatuses = [
  "unknown",
  "pending",
  "valid",
  "expired",
  "failed",
  "unavailable",
] as const;
export type TlsStatus = (typeof tlsStatuses)[number];

/**
 * The ownership proof of a domain (ownership.ts): not needed (nobody else held the name), needed
 * and not found yet, found with this account's value, or only other values found.
 */
export const ownershipStatuses = ["not_required", "pending", "valid", "invalid"] as const;
export type OwnershipStatus = (typeof ownershipStatuses)[number];

export const actionParties = ["customer", "provider"] as const;
export type ActionBy = (typeof actionParties)[number];

/** Stable, namespaced reasons a domain cannot (yet) get or keep a certificate. */
export const errorCodes = [
  "dns:cname_missing",
  "dns:standard_endpoint",
  "dns:cname_mismatch",
  "dns:resolution_failed",
  "caa:forbidden",
  "acme:rejected_identifier",
  "acme:unauthorized",
  "acme:rate_limited",
  "acme:dns",
  "acme:connection",
  "acme:temporary",
  "policy:public_suffix",
  "policy:blocked",
  "deploy:unauthorized",
  "deploy:rejected",
  "deploy:not_entitled",
  "deploy:rate_limited",
  "deploy:unavailable",
  "edge:validation",
  "edge:blocked",
  "limit:new_orders",
  "service:internal",
] as const;
export type ErrorCode = (typeof errorCodes)[number];

/** What the last DNS verification found, kept so the API can show it between checks. */
export interface DnsCheckRecord {
  checkedAt: string;
  /** The queried name followed by each CNAME target, in order. */
  chain: string[];
  errorCode: ErrorCode | null;
  detail: string;
}

export interface EdgeAdmissionRecord {
  checkedAt: string;
  /** Cloudflare's word for the name: pending, active, moved, blocked, deleted… */
  status: string;
  /** Whether Cloudflare routes the name's requests to us. */
  active: boolean;
  record: { name: string; value: string } | null;
  detail: string;
}

export interface TlsState {
  status: TlsStatus;
  issuedAt: string | null;
  expiresAt: string | null;
  renewsAt: string | null;
  errorCode: ErrorCode | null;
  errorDetail: string | null;
  actionBy: ActionBy | null;
  /** The lifecycle's current step (e.g. "await_authorization"), while it has one. */
  step: string | null;
  /** When the lifecycle last moved forward. */
  progressAt: string | null;
  /** When the certificate object next acts (a step, a renewal, an expiry). */
  nextRunAt: string | null;
}

export interface TrackingDomain {
  domain: string;
  accountId: number;
  /** 0 for the primary account. */
  subaccountId: number;
  region: Region;
  httpsMode: HttpsMode;
  isDefault: boolean;
  verified: boolean;
  cnameStatus: CnameStatus;
  complianceStatus: ComplianceStatus;
  lastDnsCheck: DnsCheckRecord | null;
  /** The last HTTPS probe (self-managed domains): when, and what failed (null: passed). */
  lastHttpsCheck: { checkedAt: string; errorCode: string | null; detail: string } | null;
  tls: TlsState;
  /**
   * Self-managed HTTPS on a Cloudflare deploy mode: what Cloudflare last said of the name (it
   * routes a name behind the customer's CDN only once a TXT record proves it theirs); null
   * elsewhere.
   */
  edgeAdmission: EdgeAdmissionRecord | null;
  /** The ownership proof (src/domains/ownership.ts): needed or not, and the last look at it. */
  ownership: { status: OwnershipStatus; checkedAt: string | null; found: string[] };
  /** The account's own V2 endpoint, set by an operator; null: the deployment's. */
  accountEndpoint: string | null;
  /** When the owning account was made: part of what its ownership value is derived from. */
  accountCreatedAt: string;
  createdAt: string;
  updatedAt: string;
}

/** The CNAME targets for a domain: its account's own V2 endpoint, if it has one. */
export function endpointsOf(
  d: Pick<TrackingDomain, "region" | "accountEndpoint">,
  deployment: Readonly<Record<Region, { v2: string; standard: string }>>,
): { v2: string; standard: string } {
  const base = deployment[d.region];
  return d.accountEndpoint ? { ...base, v2: d.accountEndpoint } : base;
}

/** TLS state of a domain that has managed HTTPS turned on but no certificate yet. */
export const awaitingCertificate: TlsState = {
  status: "pending",
  issuedAt: null,
  expiresAt: null,
  renewsAt: null,
  errorCode: null,
  errorDetail: null,
  actionBy: null,
  step: null,
  progressAt: null,
  nextRunAt: null,
};

export const noCertificate: TlsState = { ...awaitingCertificate, status: "unknown" };

/** Whether links on this domain may use https:// right now. */
export function servesHttps(
  domain: Pick<TrackingDomain, "httpsMode" | "tls" | "lastHttpsCheck">,
): boolean {
  switch (domain.httpsMode) {
    case "managed":
      return domain.tls.status === "valid";
    case "self_managed":
      // Only once a probe through the customer's proxy has passed (and while the last one did).
      return domain.lastHttpsCheck !== null && domain.lastHttpsCheck.errorCode === null;
    case "none":
      return false;
    default: {
      const unreachable: never = domain.httpsMode;
      throw new Error(`unknown https mode ${String(unreachable)}`);
    }
  }
}
