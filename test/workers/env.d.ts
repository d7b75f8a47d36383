// Bindings that only the workerd test project has (see vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    TEST_PEBBLE_DIRECTORY: string;
    TEST_PEBBLE_MANAGEMENT: string;
    TEST_PEBBLE_BLOCKED_NAME: string;
    TEST_CHALLTESTSRV: string;
    TEST_DYNAMIC_ZONE: string;
    /** The API rate limit per minute this project configures, lower than wrangler.toml's. */
    TEST_RATE_LIMITS: { lookups: number };
  }
}
