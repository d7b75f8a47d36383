// What a request held that the API's schemas dropped (they keep only the fields they know), by
// path, for the X-Ignored-Fields header (validation.ts). Pure: no runtime imports.

/** The paths of what `raw` holds that `kept` (its parsed value) does not, in objects and arrays. */
export function ignoredFields(raw: unknown, kept: unknown, path = ""): string[] {
  const at = (key: string | number) =>
    typeof key === "number" ? `${path}[${key}]` : path ? `${path}.${key}` : key;
  if (Array.isArray(raw) && Array.isArray(kept))
    return raw.flatMap((item, i) => ignoredFields(item, kept[i], at(i)));
  if (!isPlainObject(raw) || !isPlainObject(kept)) return [];
  return Object.keys(raw).flatMap((key) =>
    Object.hasOwn(kept, key) ? ignoredFields(raw[key], kept[key], at(key)) : [at(key)],
  );
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Names listed in the header at most; the rest are counted. */
const maxListed = 50;

/**
 * The header's value: the names, each with what a header cannot carry (controls, non-ASCII, a
 * lone surrogate) written as \u{…}, so that no name a client sends can break the answer.
 */
export function ignoredHeaderValue(names: readonly string[]): string {
  const escaped = names
    .slice(0, maxListed)
    .map((name) =>
      name.replace(/[^\x20-\x7e]/gu, (ch) => `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`),
    );
  const more = names.length - escaped.length;
  return more > 0 ? `${escaped.join(", ")}, and ${more} more` : escaped.join(", ");
}
