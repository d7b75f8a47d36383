// The API's side of the new-order budget: a call that starts a first certificate (enable, an
// HTTPS mode change to managed) is refused with a 429 while the account's budget for this hour
// is used up, naming the limit and when it is whole again. The domain's certificate object
// charges the budget when it places the order (src/issuance/runner.ts); this only refuses early.
import { budgetUsed } from "../accounts/budgets";
import { loadConfig } from "../config";
import { overBudget } from "./errors";

export async function requireOrderBudget(env: Env, accountId: number): Promise<void> {
  const limit = loadConfig(env).limits.newOrdersPerHour;
  const now = new Date();
  const window = await budgetUsed(env.DB, accountId, "new_orders", now);
  if (window.used < limit) return;
  throw overBudget(
    `This account has started ${window.used} new certificate orders this hour, its limit (NEW_ORDERS_PER_ACCOUNT_PER_HOUR, ${limit}); more can start at ${window.resetsAt.toISOString()} (Retry-After). Renewals are not counted.`,
    window.resetsAt,
    now,
  );
}
