// Operators' logs: one JSON object per line, named by its `event`, so that Workers Logs can
// filter and count them. Callers choose the fields: never key material, tokens or raw addresses.

type Fields = Record<string, unknown>;

/** Something went wrong that an operator may need to see (console.error). */
export function logProblem(event: string, fields: Fields = {}): void {
  console.error(JSON.stringify({ event, ...fields }));
}

/** Something that went as it should, worth counting (console.log). */
export function logInfo(event: string, fields: Fields = {}): void {
  console.log(JSON.stringify({ event, ...fields }));
}

/** What a caught value says, whatever was thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
