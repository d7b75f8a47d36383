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
}

export type DeployErrorCode =
  /** The edge refused our credentials or their permissions. */
  | "deploy:unauthorized"
  /** The edge refused the request itself (a quota, a certificate it will not take). */
  | "deploy:rejected"
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
