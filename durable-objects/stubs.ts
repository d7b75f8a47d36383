// How the Worker and the objects address each other: a domain's certificate object (by name; in
// the configured jurisdiction for EU domains, where the runtime has jurisdictions) and the ACME
// account object of the configured directory.
import { loadConfig } from "../src/config";
import type { Region } from "../src/domains/model";

export function domainCertificateStub(env: Env, domain: string, region: Region) {
  const { euJurisdiction } = loadConfig(env);
  const namespace =
    region === "eu" && euJurisdiction
      ? env.DOMAIN_CERTIFICATE.jurisdiction(euJurisdiction)
      : env.DOMAIN_CERTIFICATE;
  return namespace.getByName(domain);
}

export function acmeAccountStub(env: Env) {
  return env.ACME_ACCOUNT.getByName(loadConfig(env).acme.directoryUrl);
}

/** The additional data that binds a wrapped account key to its CA directory. */
export const accountKeyContext = (directoryUrl: string) => `acme-account|${directoryUrl}`;
