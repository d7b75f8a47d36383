// What serving a certificate at the TLS edge takes, whichever edge it is: deploy a certificate
// for a domain (replacing the one before it), and remove the domain from the edge. Both are
// idempotent, so a retried step does no harm. Failures are DeployErrors with stable codes that
// the lifecycle shows (deploy:*) and retries.

export interface DeployInput {
  domain: string;
  serial: string;
  /** The leaf first, then the intermediates, as the CA sent them. */
  chainPem: string;
  /** The private key as PKCS#8 PEM, opened only if this deployer sends it somewhere. */
  privateKeyPem: () => Promise<string>;
}

/** What the edge said about the domain once the certificate was handed over. */
export interface DeployReceipt {
  /** The edge's own words for the domain's state (e.g. Cloudflare's hostname and SSL status). */
  edgeStatus?: string;
}

export interface Deployer {
  /**
   * Make the edge send the domain's requests to us at all, with or without a certificate (a
   * verified domain on HTTP only needs this too). Idempotent.
   */
  route(domain: string): Promise<void>;
  deploy(input: DeployInput): Promise<DeployReceipt>;
  remove(domain: string): Promise<void>;
  /**
   * For an edge that must be told the customer owns a name before it routes it (Cloudflare for
   * SaaS): the name as it stands there. Absent for edges that route every name (edge-pull).
   */
  admission?: EdgeAdmissions;
}

/**
 * What an edge says of a name that reaches it through the customer's own CDN or proxy
 * (self-managed HTTPS): the name's CNAME does not point at us, so the edge wants another proof
 * that the customer owns it before it routes the name's requests to us.
 */
export interface EdgeAdmission {
  /** The edge's own word for the name (Cloudflare: the custom hostname's status). */
  status: string;
  /** Whether the edge routes the name's requests to us now. */
  active: boolean;
  /** The TXT record the customer adds to prove the name theirs; null when the edge gave none. */
  record: { name: string; value: string } | null;
  /** Why the edge has not admitted the name, in its own words (empty when nothing is wrong). */
  problems: string[];
}

export interface EdgeAdmissions {
  /** The name on the edge (added, or its validation restarted if the edge gave up on it). */
  ensure(domain: string): Promise<EdgeAdmission>;
  /** What the edge says of the name now; null when it is not there (the edge deleted it). */
  read(domain: string): Promise<EdgeAdmission | null>;
}

export type DeployErrorCode =
  /** The edge refused our credentials or their permissions. */
  | "deploy:unauthorized"
  /** The edge refused the request itself (a quota, a certificate it will not take). */
  | "deploy:rejected"
  /**
   * The edge's plan does not include what this deploy mode needs (Cloudflare: custom
   * certificates on custom hostnames are Enterprise-only). Retrying soon cannot help.
   */
  | "deploy:not_entitled"
  /** The edge asked us to slow down. */
  | "deploy:rate_limited"
  /** The edge did not answer, answered 5xx, or answered nonsense. */
  | "deploy:unavailable";

export class DeployError extends Error {
  override readonly name = "DeployError";
  constructor(
    readonly code: DeployErrorCode,
    message: string,
    readonly retryAfter?: Date,
  ) {
    super(message);
  }
}

/** A certificate the edge issued for a domain and serves itself (cloudflare-managed). */
export interface EdgeCertificate {
  serial: string;
  issuer: string | null;
  notBefore: string;
  notAfter: string;
}

/** What the edge says of a domain whose certificate it issues and renews itself. */
export interface EdgeHostname {
  /** The edge's own status words, for the domain's history (e.g. Cloudflare's). */
  hostnameStatus: string;
  certificateStatus: string;
  /** Where the edge is in getting the certificate. */
  stage: "pending" | "active" | "timed_out" | "blocked" | "moved";
  /** Why validation has not succeeded yet, in the edge's words (empty when nothing is wrong). */
  problems: string[];
  /** The certificate it serves, once it has one. */
  certificate: EdgeCertificate | null;
}

/** An edge that gets and renews certificates itself (Cloudflare for SaaS, Cloudflare-issued). */
export interface ManagedEdge {
  /** The domain on the edge with a certificate of the edge's own (validation restarted if it timed out). */
  ensure(domain: string): Promise<EdgeHostname>;
  /** What the edge says of the domain now; null when it is not on the edge. */
  read(domain: string): Promise<EdgeHostname | null>;
}
