// The lifecycle's steps in cloudflare-managed mode: the edge (Cloudflare for SaaS) issues and
// renews the certificate itself, so there is no ACME here. The same machine drives it:
// check (eligibility, CAA naming Cloudflare's CAs) → order (the custom hostname, with a
// certificate of Cloudflare's) → await_certificate (Cloudflare's statuses, with its validation
// errors shown and who acts) → download (serial, issuer and dates from the API) → deploy
// (nothing to upload) → installed; a renewal waits for Cloudflare's next certificate.
import { nextPollAt, type PollPolicy } from "../acme/poll";
import type { EdgeHostname, ManagedEdge } from "../deploy/deployer";
import type { EligibilityContext } from "./eligibility";
import { eligibilityOutcome, failureFrom } from "./failures";
import type { CertificateState, Failure, Outcome } from "./state";

export interface ManagedStepContext {
  eligibility: () => Promise<EligibilityContext>;
  edge: ManagedEdge;
  now?: () => Date;
}

/** Cloudflare validates in minutes, not seconds: looks grow from 2 s to 10 min. */
export const managedPolling: PollPolicy = { firstDelayMs: 2000, maxDelayMs: 10 * 60_000 };

/** While a renewal waits for Cloudflare's next certificate (it renews on its own schedule). */
export const renewalLookMs = 6 * 3600_000;

export async function performManagedStep(
  state: CertificateState,
  context: ManagedStepContext,
): Promise<Outcome> {
  try {
    return await perform(state, context);
  } catch (error) {
    return { kind: "failure", failure: failureFrom(error) };
  }
}

/** Cloudflare's custom hostname stands where an ACME order would. */
const orderOf = (domain: string) => ({
  url: `cloudflare-managed:${domain}`,
  authorizations: [],
  finalize: "",
});

async function perform(state: CertificateState, context: ManagedStepContext): Promise<Outcome> {
  const { domain } = state;
  const now = context.now?.() ?? new Date();
  switch (state.phase) {
    case "check":
      return eligibilityOutcome(domain, await context.eligibility());
    case "order": {
      const view = await context.edge.ensure(domain);
      const stopped = stoppedBy(view, domain);
      if (stopped) return { kind: "failure", failure: stopped };
      return {
        kind: "ordered",
        status: "processing",
        order: orderOf(domain),
        reason: `the name is a custom hostname on Cloudflare (hostname ${view.hostnameStatus}, SSL ${view.certificateStatus}); Cloudflare issues its certificate`,
      };
    }
    // No authorizations or finalizing of ours in this mode: whatever the phase, wait for it.
    case "authorize":
    case "await_authorization":
    case "finalize":
    case "await_certificate": {
      const view = await context.edge.read(domain);
      if (!view) return { kind: "order_lost", detail: "Cloudflare no longer lists the hostname" };
      const stopped = stoppedBy(view, domain);
      if (stopped) return { kind: "failure", failure: stopped };
      const look = (ms?: number) =>
        (ms
          ? new Date(now.getTime() + ms)
          : nextPollAt(now, state.polls, undefined, managedPolling)
        ).toISOString();
      if (view.stage === "active" && view.certificate) {
        // A renewal: ready once Cloudflare serves a certificate other than the one we show.
        if (view.certificate.serial !== state.current?.serial)
          return {
            kind: "certificate_ready",
            certificate: `${orderOf(domain).url}#${view.certificate.serial}`,
          };
        return { kind: "certificate_pending", retryAfter: look(renewalLookMs) };
      }
      return {
        kind: "certificate_pending",
        retryAfter: look(),
        ...(view.problems.length
          ? {
              waiting: {
                code: "edge:validation",
                actionBy: "customer",
                detail: `Cloudflare cannot validate ${domain} yet (hostname ${view.hostnameStatus}, SSL ${view.certificateStatus}): ${view.problems.join("; ")}. Fix: keep the CNAME pointing at the tracking endpoint, with nothing (a CDN, a redirect) answering HTTP for the name in between.`,
              },
            }
          : {}),
      };
    }
    case "download": {
      const view = await context.edge.read(domain);
      const certificate = view?.stage === "active" ? view.certificate : null;
      if (!certificate)
        return { kind: "order_lost", detail: "Cloudflare no longer shows the certificate" };
      return {
        kind: "downloaded",
        certificate: {
          serial: certificate.serial,
          notBefore: certificate.notBefore,
          notAfter: certificate.notAfter,
          ariId: null,
          spread: Math.random(),
        },
      };
    }
    case "deploy": {
      const view = await context.edge.read(domain);
      return {
        kind: "deployed",
        edgeStatus: view
          ? `Cloudflare hostname ${view.hostnameStatus}, SSL ${view.certificateStatus}, issued by ${view.certificate?.issuer ?? "Cloudflare's CA"}`
          : "Cloudflare no longer lists the hostname",
      };
    }
    case "installed":
      // Nothing to ask a CA: Cloudflare renews, and the renewal step reads what it serves.
      return { kind: "renewal_info_unavailable", permanent: true };
    case "idle":
      throw new Error("nothing to perform in phase idle");
  }
}

/** A state of Cloudflare's that no amount of waiting ends, as a failure with who acts. */
function stoppedBy(view: EdgeHostname, domain: string): Failure | null {
  const said = `hostname ${view.hostnameStatus}, SSL ${view.certificateStatus}${
    view.problems.length ? `: ${view.problems.join("; ")}` : ""
  }`;
  switch (view.stage) {
    case "blocked":
      return {
        severity: "unavailable",
        code: "edge:blocked",
        actionBy: "provider",
        detail: `Cloudflare will not serve ${domain} (${said}). Fix: the provider asks Cloudflare to review the name (its abuse team, or the account team on Enterprise).`,
      };
    case "moved":
      return {
        severity: "failed",
        code: "edge:validation",
        actionBy: "customer",
        detail: `Cloudflare sees ${domain} pointing elsewhere (${said}). Fix: point the CNAME back at the tracking endpoint.`,
      };
    case "timed_out":
      return {
        severity: "failed",
        code: "edge:validation",
        actionBy: view.problems.length ? "customer" : "provider",
        detail: `Cloudflare stopped trying to validate ${domain} (${said}); it is asked to start again at the next attempt.`,
      };
    default:
      return null;
  }
}
