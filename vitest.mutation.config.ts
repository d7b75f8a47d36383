// The unit tests under Node, for mutation testing (`npm run test:mutation`, stryker.config.json):
// Stryker's vitest runner needs a Node project; these tests need nothing of workerd's.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts"],
    environment: "node",
    // A file that cannot load counts as a failed test (test/support/load-failures-as-tests.ts).
    reporters: ["default", "./test/support/load-failures-as-tests.ts"],
  },
});
