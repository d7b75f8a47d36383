// The deployer the configuration names (CERTIFICATE_DEPLOYER), with its secrets from the
// environment. A missing secret is the operator's to fix: ConfigError names it.
import { ConfigError, loadConfig } from "../config";
import { cloudflareSaasDeployer } from "./cloudflare-saas";
import type { Deployer } from "./deployer";
import { edgePullDeployer } from "./edge-pull";

export function deployerFor(env: Env): Deployer {
  const { deployer } = loadConfig(env);
  if (deployer.kind === "edge-pull") return edgePullDeployer(env.DB);
  const apiToken = env.CLOUDFLARE_API_TOKEN?.trim();
  const zoneId = env.CLOUDFLARE_ZONE_ID?.trim();
  const missing = [!apiToken && "CLOUDFLARE_API_TOKEN", !zoneId && "CLOUDFLARE_ZONE_ID"].filter(
    Boolean,
  );
  if (!apiToken || !zoneId) {
    throw new ConfigError(
      `invalid configuration: CERTIFICATE_DEPLOYER=cloudflare-for-saas needs the secrets ${missing.join(" and ")}`,
    );
  }
  return cloudflareSaasDeployer({
    apiToken,
    zoneId,
    ...(deployer.cloudflareApiBaseUrl ? { baseUrl: deployer.cloudflareApiBaseUrl } : {}),
  });
}
