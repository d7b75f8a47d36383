// Where an API key may be used from (SparkPost's valid_ips): IPv4 and IPv6 ranges in CIDR form,
// checked against the address Cloudflare gives for the caller (CF-Connecting-IP, which a client
// cannot set through Cloudflare). No ranges: any address. Parsing is ipaddr.js's.
import ipaddr from "ipaddr.js";

/** How many ranges one key may list. */
export const maxRanges = 20;

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** IPv4 written only as four decimal parts, IPv6 without a zone: nothing a reader could misread. */
function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes("%") && ipaddr.IPv6.isValid(text)) {
    const address = ipaddr.IPv6.parse(text);
    return address.isIPv4MappedAddress() ? address.toIPv4Address() : address;
  }
  return undefined;
}

function parseRange(text: string): Range | undefined {
  const [address, bits, ...rest] = text.trim().split("/");
  if (address === undefined || rest.length > 0) return undefined;
  const parsed = parseAddress(address);
  if (!parsed) return undefined;
  const max = parsed.kind() === "ipv4" ? 32 : 128;
  if (bits === undefined) return [parsed, max];
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
  return [parsed, Number(bits)];
}

export function isRange(text: string): boolean {
  return parseRange(text) !== undefined;
}

/**
 * A range as stored and shown: its network address and prefix length ("203.0.113.0/24",
 * "2001:db8::/32"); a bare address is a /32 or a /128. Undefined for anything else.
 */
export function canonicalRange(text: string): string | undefined {
  const range = parseRange(text);
  if (!range) return undefined;
  const [address, bits] = range;
  const network =
    address.kind() === "ipv4"
      ? ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${bits}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${bits}`);
  return `${network.toString()}/${bits}`;
}

function ranges(list: readonly string[]): Range[] {
  return list.map(parseRange).filter((r): r is Range => r !== undefined);
}

const contains = ([outer, outerBits]: Range, [inner, innerBits]: Range): boolean =>
  outer.kind() === inner.kind() && innerBits >= outerBits && inner.match(outer, outerBits);

/** Whether a caller at `ip` may use a key limited to `allowed` (empty: anywhere). */
export function allowedFrom(allowed: readonly string[], ip: string | null | undefined): boolean {
  if (allowed.length === 0) return true;
  const address = ip ? parseAddress(ip.trim()) : undefined;
  // No caller has the unspecified address (0.0.0.0, ::): it matches nothing, whatever the list.
  if (!address || address.range() === "unspecified") return false;
  const caller: Range = [address, address.kind() === "ipv4" ? 32 : 128];
  return ranges(allowed).some((range) => contains(range, caller));
}

/** Whether every address `inner` allows, `outer` allows too (an empty list allows all). */
export function rangesWithin(inner: readonly string[], outer: readonly string[]): boolean {
  if (outer.length === 0) return true;
  if (inner.length === 0) return false;
  const outerRanges = ranges(outer);
  return ranges(inner).every((r) => outerRanges.some((o) => contains(o, r)));
}

/** A key's stored ranges (a JSON array); unreadable means none can be trusted: no address. */
export function parseRanges(json: string | null | undefined): string[] {
  try {
    const parsed: unknown = JSON.parse(json ?? "[]");
    if (Array.isArray(parsed) && parsed.every((r) => typeof r === "string" && isRange(r))) {
      return parsed;
    }
  } catch {
    // as below
  }
  return [nowhere];
}

/**
 * What a key whose stored ranges cannot be read allows: the unspecified address, which no caller
 * has. Such a key may be used from nowhere rather than from everywhere.
 */
const nowhere = "0.0.0.0/32";
