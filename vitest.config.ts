// Two layers of tests: `workers` runs inside workerd (D1 migrated, the worker's own bindings);
// `e2e` runs in Node against the real local stack and a worker on a loopback port.
// `npm test` (scripts/test.ts) brings the stack up around both.
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import {
  dynamicZone,
  generatedKeyRing,
  generatedToken,
  lifecyclePebble,
  localWorkerVars,
  publicLookingZone,
  testPebble,
  urls,
} from "./scripts/lib/stack-config.ts";

/** The workers tests' API rate limit per minute (see ratelimits below). */
const testRateLimits = { lookups: 20 };

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  const euMigrations = await readD1Migrations("./migrations-eu");
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              main: "./workers/edge.ts",
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                // Lower than wrangler.toml's, so that a test reaches it quickly; high enough that
                // no other test's checks in one account come near it.
                ratelimits: {
                  LOOKUP_RATE_LIMIT: { simple: { limit: testRateLimits.lookups, period: 60 } },
                },
                bindings: {
                  ...localWorkerVars,
                  // The certificate objects' CA: one that takes every challenge as valid, since
                  // nothing inside workerd can answer HTTP-01 for them.
                  ACME_DIRECTORY_URL: lifecyclePebble.directory,
                  KEY_ENCRYPTION_KEYS: generatedKeyRing(),
                  LINK_SIGNING_KEYS: generatedKeyRing(),
                  EDGE_PULL_TOKEN: generatedToken(),
                  TEST_MIGRATIONS: migrations,
                  TEST_MIGRATIONS_EU: euMigrations,
                  TEST_RATE_LIMITS: testRateLimits,
                  LIFECYCLE_SOAK_SECONDS: process.env.LIFECYCLE_SOAK_SECONDS ?? "0",
                  LIFECYCLE_REPLAY: process.env.LIFECYCLE_REPLAY ?? "",
                  LIFECYCLE_TRACE: process.env.LIFECYCLE_TRACE ?? "",
                  // Where tests inside workerd find the test CA and the DNS/HTTP-01 test API.
                  TEST_PEBBLE_DIRECTORY: testPebble.directory,
                  TEST_PEBBLE_MANAGEMENT: testPebble.management,
                  TEST_PEBBLE_BLOCKED_NAME: testPebble.blockedName,
                  TEST_CHALLTESTSRV: urls.challtestsrv,
                  TEST_DYNAMIC_ZONE: dynamicZone,
                  TEST_PUBLIC_ZONE: publicLookingZone,
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/workers/**/*.test.ts", "test/unit/**/*.test.ts"],
            setupFiles: ["./test/workers/apply-migrations.ts"],
          },
        },
        {
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            environment: "node",
            globalSetup: ["./test/e2e/global-setup.ts"],
            // Some files restart the shared Pebble: run the files one after another.
            fileParallelism: false,
            testTimeout: 30_000,
            hookTimeout: 60_000,
          },
        },
      ],
    },
  };
});
