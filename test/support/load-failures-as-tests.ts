// A vitest reporter for mutation runs only (vitest.mutation.config.ts). Stryker's vitest runner
// builds a mutant's verdict from the tests vitest collected, and a test file whose import throws
// collects none: a mutant that stops a module from loading (a broken table, a fixture built at
// the top of a test file) was scored "survived" although every test of that file fails
// (stryker-js#6150, open in 9.5 and 10.0). This gives each such file one failed test carrying
// its load error, so the mutant counts as killed. Files that loaded are left as they are.
import type { File, Test } from "@vitest/runner";
import type { Reporter, Vitest } from "vitest/node";

export default class LoadFailuresAsTests implements Reporter {
  #vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.#vitest = vitest;
  }

  onTestRunEnd(): void {
    for (const file of this.#vitest?.state.getFiles() ?? []) {
      if (file.result?.state !== "fail" || file.tasks.length > 0) continue;
      file.tasks.push(loadFailure(file));
    }
  }
}

/** The test vitest would have reported had loading the file been one. */
function loadFailure(file: File): Test {
  // Only what Stryker reads of a finished test: its name, its file, its suite and its result.
  return {
    type: "test",
    id: `${file.id}_load`,
    name: "loads",
    fullName: `${file.name} loads`,
    mode: "run",
    file,
    suite: file,
    meta: {},
    annotations: [],
    artifacts: [],
    timeout: 0,
    result: { state: "fail", errors: file.result?.errors ?? [] },
  } as unknown as Test;
}
