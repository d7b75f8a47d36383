// Bindings that only the workerd test project has (see vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    TEST_MIGRATIONS_EU: import("cloudflare:test").D1Migration[];
    TEST_PEBBLE_DIRECTORY: string;
    TEST_PEBBLE_MANAGEMENT: string;
    TEST_PEBBLE_BLOCKED_NAME: string;
    TEST_CHALLTESTSRV: string;
    TEST_DYNAMIC_ZONE: string;
    /** A zone with a public suffix whose records tests set through TEST_CHALLTESTSRV. */
    TEST_PUBLIC_ZONE: string;
    /** The API rate limit per minute this project configures, lower than wrangler.toml's. */
    TEST_RATE_LIMITS: { lookups: number };
    /** npm run test:soak: how long the lifecycle model test runs sequences (0: a fixed few). */
    LIFECYCLE_SOAK_SECONDS: string;
    /** "<seed>:<path>" of a failure the model test printed: replays that sequence alone. */
    LIFECYCLE_REPLAY: string;
    /** "1": the lifecycle model test prints each command as it starts. */
    LIFECYCLE_TRACE: string;
  }
}
