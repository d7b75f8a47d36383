// Turns what a user typed into the one stored form of a tracking domain, or says exactly why it
// cannot be one. Stored form: lower-case A-labels (IDN as punycode), no trailing dot. A tracking
// domain must be a proper subdomain of a registrable domain under a public suffix.
// It does not look anything up in DNS.
import { parse } from "tldts";

export type DomainNameProblemCode =
  | "empty"
  | "too_long"
  | "label_too_long"
  | "empty_label"
  | "invalid_characters"
  | "invalid_label"
  | "invalid_idn"
  | "ip_address"
  | "wildcard"
  | "single_label"
  | "unknown_suffix"
  | "public_suffix"
  | "apex";

export interface DomainNameProblem {
  code: DomainNameProblemCode;
  message: string;
}

export type NormalizedDomain =
  | { ok: true; domain: string; registrableDomain: string; publicSuffix: string }
  | { ok: false; problem: DomainNameProblem };

export interface DomainNameOptions {
  /** Suffixes accepted as public although the Public Suffix List lacks them (e.g. "test"). */
  extraPublicSuffixes?: readonly string[];
  /** Accept a registrable domain itself (sending domains may be apexes; tracking domains not). */
  allowApex?: boolean;
}

const maxNameLength = 253;
const maxLabelLength = 63;
/** Letters, digits and hyphens, not starting or ending with a hyphen (RFC 1123). */
const ldhLabel = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const ipv4Like = /^[0-9.]+$/;

const fail = (code: DomainNameProblemCode, message: string): NormalizedDomain => ({
  ok: false,
  problem: { code, message },
});

export function normalizeDomainName(
  input: string,
  options: DomainNameOptions = {},
): NormalizedDomain {
  const trimmed = input.trim();
  if (trimmed === "") return fail("empty", "is empty; give a host name such as track.example.com");
  // Anything this long is not a name; stop before doing IDN work on it.
  if (trimmed.length > 4 * maxNameLength) {
    return fail("too_long", `is longer than ${maxNameLength} characters`);
  }
  if (trimmed.includes("*")) {
    return fail("wildcard", "is a wildcard; give one host name such as track.example.com");
  }
  if (trimmed.includes("/")) {
    return fail(
      "invalid_characters",
      "looks like a URL or path; give only the host name (no scheme, path or port), such as track.example.com",
    );
  }
  if (trimmed.includes(":") || trimmed.startsWith("[")) {
    return fail(
      "ip_address",
      "is an IP address or has a port; give a host name such as track.example.com",
    );
  }
  // ASCII beyond letters, digits, hyphen and dot is URL syntax, an underscore or a space: none
  // belongs in a host name a CA will certify. Other characters go to the IDN conversion.
  if (/[^-.0-9A-Za-z\u0080-\uffff]/.test(trimmed)) {
    return fail(
      "invalid_characters",
      "may contain only letters, digits, hyphens and dots (no scheme, path, port, underscore or space)",
    );
  }
  const withoutDot = trimmed.endsWith(".") ? trimmed.slice(0, -1) : trimmed;
  if (ipv4Like.test(withoutDot)) {
    return fail("ip_address", "is an IP address; give a host name such as track.example.com");
  }
  // The WHATWG URL parser, like many clients, reads a name whose last label is a number
  // (decimal, or hex written 0x…) as an IPv4 address: "ends in a number".
  if (/(^|\.)(0x[0-9a-f]*|[0-9]+)$/i.test(withoutDot)) {
    return fail("ip_address", "ends in a numeric label, like an IP address");
  }

  const ascii = toAscii(withoutDot);
  if (ascii === undefined)
    return fail("invalid_idn", "is not a valid internationalized domain name");
  if (ascii.length > maxNameLength)
    return fail("too_long", `is longer than ${maxNameLength} characters`);

  const labels = ascii.split(".");
  for (const label of labels) {
    if (label === "")
      return fail("empty_label", "has an empty label (two dots in a row, or a leading dot)");
    if (label.length > maxLabelLength) {
      return fail(
        "label_too_long",
        `has a label longer than ${maxLabelLength} characters: ${label}`,
      );
    }
    if (!ldhLabel.test(label)) {
      return fail(
        "invalid_label",
        `has a label that is not letters, digits and inner hyphens: ${label}`,
      );
    }
    // RFC 5891 §4.2.3.1: hyphens in the 3rd and 4th positions are reserved for A-labels (xn--).
    if (label.slice(2, 4) === "--" && !label.startsWith("xn--")) {
      return fail("invalid_label", `has a label with "--" in the 3rd and 4th positions: ${label}`);
    }
  }
  if (labels.length < 2)
    return fail(
      "single_label",
      "is a single label; give a full host name such as track.example.com",
    );

  const suffix = publicSuffixOf(ascii, options.extraPublicSuffixes ?? []);
  if (suffix === undefined) {
    const tld = labels[labels.length - 1];
    return fail("unknown_suffix", `ends in .${tld}, which is not a public top-level domain`);
  }
  if (ascii === suffix) {
    return fail(
      "public_suffix",
      `is a public suffix, which nobody can own; use a subdomain of your own domain, such as track.example.${suffix}`,
    );
  }
  const registrable = ascii
    .split(".")
    .slice(-(suffix.split(".").length + 1))
    .join(".");
  if (ascii === registrable && !options.allowApex) {
    return fail(
      "apex",
      `is a registrable domain (an apex); tracking domains must be a subdomain of it, such as track.${registrable}`,
    );
  }
  return { ok: true, domain: ascii, registrableDomain: registrable, publicSuffix: suffix };
}

/**
 * IDNA (UTS #46) mapping to A-labels, as browsers do it. The WHATWG URL parser is the maintained
 * implementation present in both workerd and Node; the characters that it would treat as URL
 * syntax were refused before this point.
 */
function toAscii(name: string): string | undefined {
  try {
    const hostname = new URL(`http://${name}`).hostname;
    return hostname === "" ? undefined : hostname;
  } catch {
    return undefined;
  }
}

/**
 * The public suffix of a name: the longest of the Public Suffix List's ICANN and private rules,
 * or a configured extra suffix; undefined when only the list's implicit "*" rule matched (an
 * unknown TLD, where no CA can issue).
 */
function publicSuffixOf(name: string, extra: readonly string[]): string | undefined {
  const configured = extra
    .filter((suffix) => name === suffix || name.endsWith(`.${suffix}`))
    .sort((a, b) => b.length - a.length)[0];
  if (configured !== undefined) return configured;
  const parsed = parse(name, { allowPrivateDomains: true, extractHostname: false });
  if (!parsed.isIcann && !parsed.isPrivate) return undefined;
  return parsed.publicSuffix ?? undefined;
}
