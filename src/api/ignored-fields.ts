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
