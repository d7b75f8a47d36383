// Follows a name's CNAME chain through a resolver, a bounded number of hops, and says how the
// chain ended. It judges nothing about where the chain should lead (see domains/verification.ts).
import { canonicalName, type DnsResolver } from "./doh";

export type CnameChainEnd =
  /** Reached one of the names the caller asked to stop at. */
  | "target_reached"
  /** The last name has no CNAME (it may have other records). */
  | "no_cname"
  /** The last name does not exist. */
  | "nxdomain"
  | "loop"
  | "too_long";

export interface CnameChain {
  /** The queried name followed by each CNAME target, in order. */
  chain: string[];
  end: CnameChainEnd;
}

export const maxCnameHops = 8;

export async function followCnameChain(
  resolver: DnsResolver,
  name: string,
  stopAt: ReadonlySet<string> = new Set(),
): Promise<CnameChain> {
  const chain = [canonicalName(name)];
  for (;;) {
    const current = chain[chain.length - 1] as string;
    const response = await resolver.query(current, "CNAME");
    const cnames = new Map(
      response.answers
        .filter((record) => record.type === "CNAME" && typeof record.data === "string")
        .map((record) => [record.name, record.data as string]),
    );
    // A recursive resolver may hand back several hops at once; walk them before asking again.
    let next = cnames.get(current);
    if (next === undefined) {
      return { chain, end: response.rcode === "NXDOMAIN" ? "nxdomain" : "no_cname" };
    }
    while (next !== undefined) {
      if (chain.includes(next)) return { chain: [...chain, next], end: "loop" };
      chain.push(next);
      if (stopAt.has(next)) return { chain, end: "target_reached" };
      if (chain.length > maxCnameHops) return { chain, end: "too_long" };
      next = cnames.get(next);
    }
  }
}
