// Names that are ours and can never be a customer's tracking domain: the endpoints customers
// CNAME to (every region's V2 and standard endpoint, and accounts' own V2 endpoints), the API's
// host names, and every name under one of them. Holding one would let an account answer, mint
// links and get certificates on our own names.
import type { Config } from "../config";

/** The name itself and each of its parents: a.b.c → a.b.c, b.c, c. */
export function selfAndParents(domain: string): string[] {
  const labels = domain.split(".");
  return labels.map((_, i) => labels.slice(i).join("."));
}

/** The name of ours that `domain` is, or sits under; undefined when it is none of them. */
export function ourNameCovering(domain: string, ours: Iterable<string>): string | undefined {
  const covering = new Set(selfAndParents(domain));
  for (const name of ours) if (covering.has(name)) return name;
  return undefined;
}

/** The deployment's own name that `domain` is or sits under (endpoints, API hosts). */
export function deploymentNameCovering(domain: string, config: Config): string | undefined {
  const endpoints = Object.values(config.endpoints).flatMap((e) => [e.v2, e.standard]);
  return ourNameCovering(domain, [...endpoints, ...config.apiHostnames]);
}
