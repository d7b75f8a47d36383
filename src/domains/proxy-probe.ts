// A managed domain can stay behind the customer's own proxy after migrating from self-managed
// HTTPS (the CA validates through the proxy). Its renewal must not depend on a probe the customer
// ran months ago: when eligibility needs one, this probes through the proxy again and records a
// pass, as verifying would. A failure is left to the eligibility check to report; it does not
// overwrite the last passing probe, so the next attempt probes again.
import { connect } from "cloudflare:sockets";
import type { Config } from "../config";
import type { DnsResolver } from "../dns/doh";
import type { ProxyProbe } from "../issuance/eligibility";
import { signingRing } from "../tracking/handlers";
import { probeHttps } from "./https-probe";
import { recordHttpsCheck } from "./repository";

export function proxyProber(
  env: Env,
  config: Config,
  resolver: DnsResolver,
  domain: string,
): () => Promise<ProxyProbe> {
  return async () => {
    const probe = await probeHttps(domain, {
      resolver,
      connect,
      ring: signingRing(env.LINK_SIGNING_KEYS),
      port: config.httpsProbePort,
    });
    if (!probe.ok) return { failed: probe.detail };
    const checkedAt = new Date().toISOString();
    await recordHttpsCheck(env.DB, domain, { checkedAt, errorCode: null, detail: probe.detail });
    return { passedAt: checkedAt };
  };
}
