// Turns what went wrong into a Failure the user can act on: a stable error code, who must act,
// a sentence saying what happened, and how hard to retry. Pure.
import { AcmeNetworkError, AcmeProblem, AcmeProtocolError, acmeErrorTypes } from "../acme/problem";
import { ConfigError } from "../config";
import { DeployError } from "../deploy/deployer";
import { KeyRingError } from "../pki/key-wrap";
import { checkEligibility, type EligibilityCheck, type EligibilityContext } from "./eligibility";
import type { Failure, Outcome } from "./state";

/** A failed eligibility check as a failure of the lifecycle. */
/** The check step, in every mode: eligible, or the first check that blocks, as a failure. */
export async function eligibilityOutcome(
  domain: string,
  context: EligibilityContext,
): Promise<Outcome> {
  const report = await checkEligibility(domain, context);
  if (report.blocking) return { kind: "failure", failure: ineligible(report.blocking) };
  return { kind: "eligible" };
}

export function ineligible(check: EligibilityCheck): Failure {
  const detail = check.fix ? `${check.detail} ${check.fix}` : check.detail;
  if (check.status === "error") {
    return {
      severity: "transient",
      code: check.errorCode ?? "dns:resolution_failed",
      detail,
      actionBy: check.actionBy ?? "provider",
    };
  }
  const unavailable = check.name === "name" || check.name === "policy";
  return {
    severity: unavailable ? "unavailable" : "failed",
    code: check.errorCode ?? "service:internal",
    detail,
    actionBy: check.actionBy ?? "customer",
  };
}

const problemCodes: Partial<Record<string, Pick<Failure, "code" | "actionBy" | "severity">>> = {
  [acmeErrorTypes.rejectedIdentifier]: {
    code: "acme:rejected_identifier",
    actionBy: "customer",
    severity: "unavailable",
  },
  [acmeErrorTypes.unsupportedIdentifier]: {
    code: "acme:rejected_identifier",
    actionBy: "customer",
    severity: "unavailable",
  },
  [acmeErrorTypes.caa]: { code: "caa:forbidden", actionBy: "customer", severity: "failed" },
  [acmeErrorTypes.dns]: { code: "acme:dns", actionBy: "customer", severity: "failed" },
  [acmeErrorTypes.connection]: {
    code: "acme:connection",
    actionBy: "provider",
    severity: "failed",
  },
  [acmeErrorTypes.tls]: { code: "acme:connection", actionBy: "provider", severity: "failed" },
  [acmeErrorTypes.unauthorized]: {
    code: "acme:unauthorized",
    actionBy: "provider",
    severity: "failed",
  },
  [acmeErrorTypes.incorrectResponse]: {
    code: "acme:unauthorized",
    actionBy: "provider",
    severity: "failed",
  },
  [acmeErrorTypes.rateLimited]: {
    code: "acme:rate_limited",
    actionBy: "provider",
    severity: "rate_limited",
  },
  [acmeErrorTypes.serverInternal]: {
    code: "acme:temporary",
    actionBy: "provider",
    severity: "transient",
  },
  [acmeErrorTypes.badNonce]: {
    code: "acme:temporary",
    actionBy: "provider",
    severity: "transient",
  },
};

const sentences: Partial<Record<string, string>> = {
  "acme:rejected_identifier": "The CA will not issue certificates for this name under its policy.",
  "caa:forbidden": "The CA found CAA records that do not allow it to issue.",
  "acme:dns": "The CA could not resolve the name.",
  "acme:connection": "The CA could not connect to the tracking domain to validate it.",
  "acme:unauthorized":
    "The CA did not receive the expected validation response from the tracking domain.",
  "acme:rate_limited": "The CA's rate limit was reached.",
  "acme:temporary": "The CA had a temporary problem.",
};

/** A failure for anything thrown while performing a step. */
/** How long a deploy refused for the plan waits before it is tried again. */
export const notEntitledRetryMs = 24 * 3600_000;

export function failureFrom(error: unknown): Failure {
  if (error instanceof AcmeProblem) {
    // A compound problem speaks through its first subproblem (one name per order here).
    const primary = error.is("compound") && error.subproblems[0] ? error.subproblems[0] : error;
    const mapped = problemCodes[primary.type] ?? {
      code: "service:internal" as const,
      actionBy: "provider" as const,
      severity: error.status >= 500 ? ("transient" as const) : ("failed" as const),
    };
    const said = primary.detail ? ` The CA said: ${primary.detail}` : "";
    return {
      ...mapped,
      detail: `${sentences[mapped.code] ?? "The CA refused the request."}${said}`,
      ...(error.retryAfter ? { retryAt: error.retryAfter.toISOString() } : {}),
    };
  }
  if (error instanceof AcmeNetworkError) {
    return {
      severity: "transient",
      code: "acme:temporary",
      actionBy: "provider",
      detail: error.timedOut
        ? "The CA did not answer in time."
        : `The CA could not be reached (${error.message}).`,
    };
  }
  if (error instanceof AcmeProtocolError) {
    return {
      severity: "transient",
      code: "acme:temporary",
      actionBy: "provider",
      detail: `The CA answered something unexpected: ${error.message}`,
    };
  }
  if (error instanceof DeployError && error.code === "deploy:not_entitled") {
    // The plan will not change by itself: asked again daily, not on the quick schedule.
    return {
      severity: "failed",
      code: error.code,
      actionBy: "provider",
      detail:
        `The certificate was issued but the TLS edge's plan does not take it: ${error.message}. ` +
        "Fix: have the SaaS zone entitled to custom certificates (Cloudflare Enterprise), or set " +
        "CERTIFICATE_DEPLOYER to a mode this plan supports (docs/deploy.md).",
      retryAt: new Date(Date.now() + notEntitledRetryMs).toISOString(),
    };
  }
  if (error instanceof DeployError) {
    return {
      severity:
        error.code === "deploy:unavailable"
          ? "transient"
          : error.code === "deploy:rate_limited"
            ? "rate_limited"
            : "failed",
      code: error.code,
      actionBy: "provider",
      detail: `The certificate was issued but the TLS edge did not take it: ${error.message}`,
      ...(error.retryAfter ? { retryAt: error.retryAfter.toISOString() } : {}),
    };
  }
  if (error instanceof ConfigError) {
    return {
      severity: "failed",
      code: "service:internal",
      actionBy: "provider",
      detail: `The service is not configured correctly: ${error.message}`,
    };
  }
  if (error instanceof KeyRingError) {
    return {
      severity: "failed",
      code: "service:internal",
      actionBy: "provider",
      detail: "Certificate keys cannot be stored: the key ring is not configured correctly.",
    };
  }
  return {
    severity: "transient",
    code: "service:internal",
    actionBy: "provider",
    detail: "An internal error interrupted issuance; it will be retried.",
  };
}

/** Whether an error means the CA has forgotten our order or account (a restarted test CA, an expired order). */
export function isLostResource(error: unknown): boolean {
  if (!(error instanceof AcmeProblem)) return false;
  if (error.is("accountDoesNotExist")) return true;
  return (
    error.status === 404 ||
    (error.is("malformed") && /not found|no such|does not exist|unable to find/i.test(error.detail))
  );
}
