// The parts of a request's URL that routing needs, cut from the runtime's URL string. On the click
// path every call into the runtime shows in the throughput (see the README's redirect figures),
// and `new URL()` plus each of its getters is such a call; the string the runtime hands us is
// already normalized (absolute, lower-case scheme and host, A-label, percent-encoded path), so
// slicing it gives what URL would. A property test holds the two to the same answers.

export interface RequestTarget {
  /** The whole URL, as the runtime gave it. */
  href: string;
  /** https: */
  secure: boolean;
  /** Lower-case host name, without the port (an IPv6 literal keeps its brackets, as URL does). */
  host: string;
  /** The path, without query or fragment; "/" at least. */
  path: string;
}

export function requestTarget(href: string): RequestTarget {
  const schemeEnd = href.indexOf("://");
  const authorityStart = schemeEnd < 0 ? 0 : schemeEnd + 3;
  let authorityEnd = href.length;
  for (const stop of ["/", "?", "#"]) {
    const at = href.indexOf(stop, authorityStart);
    if (at >= 0 && at < authorityEnd) authorityEnd = at;
  }
  let authority = href.slice(authorityStart, authorityEnd);
  const credentials = authority.lastIndexOf("@");
  if (credentials >= 0) authority = authority.slice(credentials + 1);
  let host: string;
  if (authority.startsWith("[")) {
    host = authority.slice(0, authority.indexOf("]") + 1);
  } else {
    const colon = authority.lastIndexOf(":");
    host = colon >= 0 ? authority.slice(0, colon) : authority;
  }
  let pathEnd = href.length;
  const query = href.indexOf("?", authorityEnd);
  if (query >= 0) pathEnd = query;
  const fragment = href.indexOf("#", authorityEnd);
  if (fragment >= 0 && fragment < pathEnd) pathEnd = fragment;
  const path = href.charAt(authorityEnd) === "/" ? href.slice(authorityEnd, pathEnd) : "/";
  return { href, secure: href.startsWith("https:"), host: host.toLowerCase(), path };
}
