// The types that the API's middleware and routes share through Hono's context.
import type { Grant } from "../accounts/grants";
import type { OwnerScope } from "../domains/repository";

export interface AuthContext extends OwnerScope {
  keyId: number;
  /** Set when the key itself belongs to a subaccount (it can act for no other). */
  keySubaccountId: number | null;
  /** What the key may do (src/accounts/grants.ts). */
  grants: readonly Grant[];
  /** Where the key may be used from (CIDR ranges; empty: anywhere). */
  validIps: readonly string[];
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    auth: AuthContext;
    /** What the request held that the API does not know and ignored (see validation.ts). */
    ignoredFields?: string[];
  };
}
