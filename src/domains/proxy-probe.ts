// Probing customers' proxies outside `verify`, where nobody is waiting for the answer.
//
// At renewal: a managed domain can stay behind the customer's own proxy after migrating from
// self-managed HTTPS (the CA validates through the proxy). Its renewal must not depend on a probe
// the customer ran months ago: when eligibility needs one, proxyProber probes through the proxy
// again and records a pass, as verifying would. A failure is left to the eligibility check to
// report; it does not overwrite the last passing probe, so the next attempt probes again.
//
// On the Cron tick: a self-managed domain's CDN certificate expires, its proxy is reconfigured.
// watchSelfManaged probes each verified self-managed domain again, a day after a pass and an hour
// after a failure. A failure turns new links to http:// (a link that works rather than one that
// shows a certificate error) and says why on the domain; the next pass turns them back.
import { connect } from "cloudflare:sockets";
import { type Config, loadConfig } from "../config";
import { createDohResolver, type DnsResolver } from "../dns/doh";
import type { ProxyProbe } from "../issuance/eligibility";
import { signingRing } from "../tracking/handlers";
import { forEachLimited } from "../util/concurrency";
import { logInfo, logProblem, messageOf } from "../util/log";
import { admissionReadIntervalMs, followEdgeAdmission } from "./edge-admission";
import { type ProbeContext, probeHttps } from "./https-probe";
import {
  pendingEdgeAdmissions,
  recordHttpsCheck,
  recordWatchProbe,
  selfManagedDueForProbe,
} from "./repository";

/** How to probe from the Worker: our resolver, sockets, the proof's key ring, the probe port. */
export const probeContextFor = (env: Env, config: Config, resolver: DnsResolver): ProbeContext => ({
  resolver,
  connect,
  ring: signingRing(env.LINK_SIGNING_KEYS),
  port: config.httpsProbePort,
});

export function proxyProber(
  env: Env,
  config: Config,
  resolver: DnsResolver,
  domain: string,
): () => Promise<ProxyProbe> {
  return async () => {
    const probe = await probeHttps(domain, probeContextFor(env, config, resolver));
    if (!probe.ok) return { failed: probe.detail };
    const checkedAt = new Date().toISOString();
    await recordHttpsCheck(env.DB, domain, { checkedAt, errorCode: null, detail: probe.detail });
    return { passedAt: checkedAt };
  };
}

/** When a self-managed domain is probed again: a day after a pass, an hour after a failure. */
export const watchIntervals = { afterPassMs: 24 * 3600_000, afterFailureMs: 3600_000 } as const;

export interface WatchReport {
  probed: number;
  passed: number;
  failed: number;
  /** Names the edge was still validating, read again this tick; and those it admitted since. */
  admissionsRead: number;
  admitted: number;
}

/**
 * One Cron tick's probes: at most HTTPS_PROBES_PER_TICK due domains, `concurrency` at a time
 * (each probe is bounded by its own timeouts), the longest unprobed first; the rest wait for the
 * next tick.
 */
export async function watchSelfManaged(
  env: Env,
  now: Date,
  options: { concurrency?: number } = {},
): Promise<WatchReport> {
  const config = loadConfig(env);
  const report: WatchReport = { probed: 0, passed: 0, failed: 0, admissionsRead: 0, admitted: 0 };
  if (config.httpsProbesPerTick === 0) return report;
  const context = () => probeContextFor(env, config, createDohResolver({ url: config.dohUrl }));
  await followAdmissions(env, now, config.httpsProbesPerTick, context, report, options);
  const due = await selfManagedDueForProbe(
    env.DB,
    {
      passedBefore: new Date(now.getTime() - watchIntervals.afterPassMs).toISOString(),
      failedBefore: new Date(now.getTime() - watchIntervals.afterFailureMs).toISOString(),
    },
    config.httpsProbesPerTick,
  );
  report.probed = due.length;
  if (due.length === 0) return report;
  const probing = context();
  await forEachLimited(due, options.concurrency ?? 5, async (domain) => {
    try {
      const probe = await probeHttps(domain, probing);
      await recordWatchProbe(env.DB, domain, {
        checkedAt: new Date().toISOString(),
        errorCode: probe.errorCode ?? null,
        detail: probe.detail,
      });
      if (probe.ok) {
        report.passed++;
        return;
      }
      report.failed++;
      logProblem("self_managed_probe_failed", {
        domain,
        errorCode: probe.errorCode,
        detail: probe.detail,
      });
    } catch (error) {
      report.failed++;
      logProblem("self_managed_watch_failed", { domain, message: messageOf(error) });
    }
  });
  logInfo("self_managed_watch", { ...report });
  return report;
}

/**
 * Names the edge is still validating (Cloudflare, waiting for its TXT record): each read again
 * every 10 minutes, at most `limit` a tick. One the edge admitted since is probed through the
 * customer's proxy and recorded as a verify would: a pass verifies it.
 */
async function followAdmissions(
  env: Env,
  now: Date,
  limit: number,
  context: () => ProbeContext,
  report: WatchReport,
  options: { concurrency?: number },
): Promise<void> {
  const pending = await pendingEdgeAdmissions(
    env.DB,
    new Date(now.getTime() - admissionReadIntervalMs).toISOString(),
    limit,
  );
  if (pending.length === 0) return;
  const probing = context();
  await forEachLimited(pending, options.concurrency ?? 5, async (domain) => {
    try {
      report.admissionsRead++;
      const admission = await followEdgeAdmission(env, domain);
      if (!admission?.active) return;
      report.admitted++;
      const probe = await probeHttps(domain, probing);
      await recordHttpsCheck(env.DB, domain, {
        checkedAt: new Date().toISOString(),
        errorCode: probe.errorCode ?? null,
        detail: probe.detail,
      });
    } catch (error) {
      logProblem("edge_admission_read_failed", { domain, message: messageOf(error) });
    }
  });
}
