// Self-managed names on an edge that routes a name only once it believes the customer owns it
// (Cloudflare for SaaS: a custom hostname whose CNAME does not point at our zone stays pending
// until its `_cf-custom-hostname` TXT record is found, Cloudflare's pre-validation).
//
// Verifying a self-managed domain puts the name on the edge and records what the edge says,
// with the TXT record it asks for: the API and the UI show it as the customer's action. Until
// the edge admits the name, a probe through the customer's proxy cannot reach us, so none is
// made: the HTTPS check fails with https:edge and names the record. The Cron watch reads the
// names still pending every 10 minutes and probes each one the edge has admitted since, which
// verifies it without the customer asking again.
import { deployerFor } from "../deploy";
import { DeployError, type EdgeAdmission } from "../deploy/deployer";
import { messageOf } from "../util/log";
import type { HttpsProbeResult } from "./https-probe";
import type { EdgeAdmissionRecord } from "./model";
import { recordEdgeAdmission } from "./repository";

/** How often the watch reads a name the edge is still validating. */
export const admissionReadIntervalMs = 10 * 60_000;

/**
 * Puts the name on the edge (or restarts its validation) and records what the edge says. Null
 * when the deploy mode's edge routes every name (edge-pull); a record with status `unreachable`
 * (not stored) when the edge could not be asked.
 */
export async function admitToEdge(env: Env, domain: string): Promise<EdgeAdmissionRecord | null> {
  const admissions = deployerFor(env).admission;
  if (!admissions) return null;
  const checkedAt = new Date().toISOString();
  try {
    const record = recordOf(await admissions.ensure(domain), checkedAt);
    await recordEdgeAdmission(env.DB, domain, record);
    return record;
  } catch (error) {
    if (!(error instanceof DeployError)) throw error;
    return {
      checkedAt,
      status: "unreachable",
      active: false,
      record: null,
      detail: `Could not ask the edge about ${domain}: ${messageOf(error)}. Verify again in a few minutes.`,
    };
  }
}

/**
 * Reads what the edge says of a name it was validating, and records it; the record, or null
 * when the deploy mode has no admissions. A name the edge no longer lists is `deleted`.
 */
export async function followEdgeAdmission(
  env: Env,
  domain: string,
): Promise<EdgeAdmissionRecord | null> {
  const admissions = deployerFor(env).admission;
  if (!admissions) return null;
  const checkedAt = new Date().toISOString();
  const found = await admissions.read(domain);
  const record: EdgeAdmissionRecord = found
    ? recordOf(found, checkedAt)
    : {
        checkedAt,
        status: "deleted",
        active: false,
        record: null,
        detail: `The edge no longer lists ${domain} (Cloudflare deletes a name it could not validate for 7 days). Verify the domain to add it again.`,
      };
  await recordEdgeAdmission(env.DB, domain, record);
  return record;
}

function recordOf(admission: EdgeAdmission, checkedAt: string): EdgeAdmissionRecord {
  const said = admission.problems.length > 0 ? ` (${admission.problems.join("; ")})` : "";
  const detail = admission.active
    ? "The edge routes the name to us."
    : admission.record
      ? `The edge has not admitted the name yet${said}: add the TXT record ${admission.record.name} with the value ${admission.record.value} at the domain's DNS provider. It is looked for again every 10 minutes; the record may be removed once the status is active.`
      : `The edge has not admitted the name (status ${admission.status})${said}.`;
  return {
    checkedAt,
    status: admission.status,
    active: admission.active,
    record: admission.record,
    detail,
  };
}

/** The HTTPS check of a name the edge does not route to us yet: no probe can pass before. */
export function notAdmitted(domain: string, admission: EdgeAdmissionRecord): HttpsProbeResult {
  return {
    ok: false,
    stage: "edge",
    errorCode: "https:edge",
    detail: `Requests for ${domain} cannot reach us through your proxy yet: ${admission.detail}`,
  };
}
