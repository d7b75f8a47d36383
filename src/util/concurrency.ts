// Bounded fan-out for the Cron tick's chores: many items, a few at a time.

/** Runs `task` over `items`, at most `concurrency` at once; resolves when all have settled. */
export async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) await task(next);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
}
