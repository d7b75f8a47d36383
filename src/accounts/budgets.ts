// Budgets each account spends in fixed windows of the clock, counted in D1 (account_budgets):
// new certificate orders an hour. Charging is one statement, so two requests can never both take
// the last unit; reading what is left costs nothing. A window starts on the hour (UTC).

export type BudgetKind = "new_orders";

export interface BudgetWindow {
  /** Units used in the current window (after a successful charge: including it). */
  used: number;
  /** When the current window ends and the budget is whole again. */
  resetsAt: Date;
}

const windowMs = 3600_000;
const windowOf = (now: Date) => new Date(Math.floor(now.getTime() / windowMs) * windowMs);

/** What the account used of `kind` in the window that holds `now`. */
export async function budgetUsed(
  db: D1Database,
  accountId: number,
  kind: BudgetKind,
  now: Date,
): Promise<BudgetWindow> {
  const start = windowOf(now);
  const row = await db
    .prepare(
      "SELECT used FROM account_budgets WHERE account_id = ? AND kind = ? AND window_start = ?",
    )
    .bind(accountId, kind, start.toISOString())
    .first<{ used: number }>();
  return { used: row?.used ?? 0, resetsAt: new Date(start.getTime() + windowMs) };
}

/**
 * Takes one unit of `kind` from the account's window if fewer than `limit` are used; null when
 * none is left (then nothing changed). The row of a past window is reused for the new one.
 */
export async function chargeBudget(
  db: D1Database,
  accountId: number,
  kind: BudgetKind,
  limit: number,
  now: Date,
): Promise<BudgetWindow | null> {
  const start = windowOf(now);
  const row = await db
    .prepare(
      `INSERT INTO account_budgets (account_id, kind, window_start, used) VALUES (?1, ?2, ?3, 1)
       ON CONFLICT (account_id, kind) DO UPDATE SET
         used = CASE WHEN window_start = ?3 THEN used + 1 ELSE 1 END, window_start = ?3
       WHERE window_start <> ?3 OR used < ?4
       RETURNING used`,
    )
    .bind(accountId, kind, start.toISOString(), limit)
    .first<{ used: number }>();
  return row ? { used: row.used, resetsAt: new Date(start.getTime() + windowMs) } : null;
}
