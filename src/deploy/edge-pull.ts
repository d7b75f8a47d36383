// The edge-pull deployer: the TLS terminator fetches certificates from this service by SNI, so
// deploying is making the certificate the domain's active one in its Durable Object, which the
// lifecycle does right after this call. Nothing goes over the network here. (The Cloudflare for
// SaaS deployer, which uploads to Cloudflare, is the other implementation of Deployer.)
import type { Deployer } from "../issuance/runner";

export const edgePullDeployer: Deployer = {
  async deploy() {},
};
