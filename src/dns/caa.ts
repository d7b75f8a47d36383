// CAA (RFC 8659) with RFC 8657's accounturi and validationmethods: find the relevant record set
// by climbing from the name (the resolver follows CNAMEs), then decide whether it lets our CA
// issue for that name with HTTP-01. Says what it found and the record that would allow it.
import { canonicalName, type DnsResolver } from "./doh";

export interface CaaRecord {
  flags: number;
  tag: string;
  value: string;
}

export interface CaaRecordSet {
  /** The name whose query returned the set (it may be held by a CNAME target of that name). */
  owner: string;
  records: CaaRecord[];
}

/**
 * RFC 8659 §3: "the relevant RRset ... is found by climbing the DNS name tree from the specified
 * label up to but not including the DNS root '.' until a CAA RRset is found." null: none anywhere.
 */
export async function findRelevantCaa(
  resolver: DnsResolver,
  name: string,
): Promise<CaaRecordSet | null> {
  const labels = canonicalName(name).split(".");
  for (let i = 0; i < labels.length; i++) {
    const owner = labels.slice(i).join(".");
    const answer = await resolver.query(owner, "CAA");
    const records = answer.answers.filter((r) => r.type === "CAA").map((r) => toCaaRecord(r.data));
    if (records.length > 0) return { owner, records };
  }
  return null;
}

function toCaaRecord(data: unknown): CaaRecord {
  const d = (data ?? {}) as { flags?: unknown; tag?: unknown; value?: unknown };
  return { flags: Number(d.flags ?? 0), tag: String(d.tag ?? ""), value: String(d.value ?? "") };
}

export interface CaaPolicy {
  /** Issuer domain names that stand for our CA (CAA_IDENTITIES), e.g. ["letsencrypt.org"]. */
  identities: readonly string[];
  /** Our ACME account URL, for RFC 8657 accounturi; unknown yet: records that name one do not match. */
  accountUri?: string;
  method?: string;
}

export interface CaaVerdict {
  allowed: boolean;
  /** What was found, in zone-file form, e.g. `example.com. CAA 0 issue ";"`. */
  found: string[];
  detail: string;
  fix: string | null;
}

/** Property tags this code understands (RFC 8659 §4 and later registrations). */
const knownTags = new Set([
  "issue",
  "issuewild",
  "iodef",
  "contactemail",
  "contactphone",
  "issuemail",
  "issuevmc",
]);
const criticalFlag = 128;

interface IssueValue {
  issuer: string;
  parameters: Map<string, string>;
}

/** RFC 8659 §4.2: issuer-domain-name, then ";"-separated tag=value parameters; undefined if malformed. */
export function parseIssueValue(value: string): IssueValue | undefined {
  const [domainPart = "", ...rest] = value.split(";");
  const issuer = domainPart.trim().toLowerCase();
  if (
    issuer !== "" &&
    !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(issuer)
  )
    return undefined;
  const parameters = new Map<string, string>();
  for (const part of rest.map((p) => p.trim()).filter(Boolean)) {
    const match = /^([A-Za-z0-9]+)\s*=\s*(\S*)$/.exec(part);
    if (!match?.[1]) return undefined;
    parameters.set(match[1].toLowerCase(), match[2] ?? "");
  }
  return { issuer, parameters };
}

export function evaluateCaa(set: CaaRecordSet | null, policy: CaaPolicy): CaaVerdict {
  const ours = policy.identities[0] ?? "letsencrypt.org";
  if (!set)
    return { allowed: true, found: [], detail: "No CAA records: any CA may issue.", fix: null };
  const found = set.records.map(
    (r) => `${set.owner}. CAA ${r.flags} ${r.tag} ${JSON.stringify(r.value)}`,
  );
  const addRecord = `Add this record: ${set.owner}. CAA 0 issue ${JSON.stringify(ours)}`;
  const forbid = (detail: string, fix: string): CaaVerdict => ({
    allowed: false,
    found,
    detail,
    fix,
  });

  const unknownCritical = set.records.find(
    (r) => r.flags & criticalFlag && !knownTags.has(r.tag.toLowerCase()),
  );
  if (unknownCritical) {
    return forbid(
      `The CAA record set at ${set.owner} has a critical property (${unknownCritical.tag}) that CAs do not understand, so none may issue.`,
      `Remove the critical flag or the ${unknownCritical.tag} record at ${set.owner}, and keep or add: ${set.owner}. CAA 0 issue ${JSON.stringify(ours)}`,
    );
  }
  const issue = set.records.filter((r) => r.tag.toLowerCase() === "issue");
  if (issue.length === 0) {
    return {
      allowed: true,
      found,
      detail: `The CAA records at ${set.owner} do not restrict issuance for this name.`,
      fix: null,
    };
  }
  const method = policy.method ?? "http-01";
  const identities = new Set(policy.identities.map((i) => i.toLowerCase()));
  const naming = issue
    .map((r) => parseIssueValue(r.value))
    .filter((v): v is IssueValue => v !== undefined && identities.has(v.issuer));
  const authorizing = naming.filter((v) => {
    const account = v.parameters.get("accounturi");
    const methods = v.parameters.get("validationmethods");
    return (
      (account === undefined || account === policy.accountUri) &&
      (methods === undefined || methods.split(",").includes(method))
    );
  });
  if (authorizing.length > 0) {
    return {
      allowed: true,
      found,
      detail: `The CAA records at ${set.owner} allow ${ours}.`,
      fix: null,
    };
  }
  const methodsOnly = naming.find((v) => v.parameters.has("validationmethods"));
  if (methodsOnly) {
    return forbid(
      `The CAA records at ${set.owner} allow ${ours} only with validationmethods=${methodsOnly.parameters.get("validationmethods")}, and managed HTTPS validates with ${method}.`,
      `Add ${method} to validationmethods, or add this record: ${set.owner}. CAA 0 issue ${JSON.stringify(`${ours}; validationmethods=${method}`)}`,
    );
  }
  if (naming.length > 0) {
    return forbid(
      `The CAA records at ${set.owner} allow ${ours} only for another ACME account (accounturi).`,
      policy.accountUri
        ? `Add this record: ${set.owner}. CAA 0 issue ${JSON.stringify(`${ours}; accounturi=${policy.accountUri}`)}`
        : addRecord,
    );
  }
  return forbid(`The CAA records at ${set.owner} do not allow ${ours} to issue.`, addRecord);
}
