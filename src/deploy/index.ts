// The deployer the configuration names (CERTIFICATE_DEPLOYER), with its secrets from the
// environment. A missing secret is the operator's to fix: ConfigError names it.
import { ConfigError, loadConfig } from "../config";
import { cloudflareManagedEdge } from "./cloudflare-managed";
import { type CloudflareSaasOptions, cloudflareSaasDeployer } from "./cloudflare-saas";
import type { Deployer, ManagedEdge } from "./deployer";
import { edgePullDeployer } from "./edge-pull";

export function deployerFor(env: Env): Deployer {
  const { deployer } = loadConfig(env);
  if (deployer.kind === "edge-pull") return edgePullDeployer(env.DB);
  if (deployer.kind === "cloudflare-managed") return cloudflareManagedEdge(cloudflareOptions(env));
  return cloudflareSaasDeployer(cloudflareOptions(env));
}

/** The edge that issues certificates itself, in cloudflare-managed mode; null in the others. */
export function managedEdgeFor(env: Env): ManagedEdge | null {
  const { deployer } = loadConfig(env);
  return deployer.kind === "cloudflare-managed"
    ? cloudflareManagedEdge(cloudflareOptions(env))
    : null;
}

function cloudflareOptions(env: Env): CloudflareSaasOptions {
  const { deployer } = loadConfig(env);
  const apiToken = env.CLOUDFLARE_API_TOKEN?.trim();
  const zoneId = env.CLOUDFLARE_ZONE_ID?.trim();
  const missing = [!apiToken && "CLOUDFLARE_API_TOKEN", !zoneId && "CLOUDFLARE_ZONE_ID"].filter(
    Boolean,
  );
  if (!apiToken || !zoneId) {
    throw new ConfigError(
      `invalid configuration: CERTIFICATE_DEPLOYER=${deployer.kind} needs the secrets ${missing.join(" and ")}`,
    );
  }
  return {
    apiToken,
    zoneId,
    ...(deployer.cloudflareApiBaseUrl ? { baseUrl: deployer.cloudflareApiBaseUrl } : {}),
  };
}
