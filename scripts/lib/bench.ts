// What the `npm run bench:*` scripts share: the median, and writing a result into its README block.
import { readFileSync, writeFileSync } from "node:fs";
import { projectRoot } from "./stack-config";

export const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in README.md. */
export function updateReadmeBlock(name: string, table: string, machineNote = ""): void {
  const path = `${projectRoot}/README.md`;
  const readme = readFileSync(path, "utf8");
  const marker = new RegExp(`(<!-- bench:${name} -->\\n)[\\s\\S]*?(<!-- /bench:${name} -->)`);
  if (!marker.test(readme)) throw new Error(`README.md has no <!-- bench:${name} --> block`);
  const date = new Date().toISOString().slice(0, 10);
  const measured = `Measured ${date} on this project's CI machine kind (2 cores${machineNote}).`;
  writeFileSync(
    path,
    readme.replace(marker, (_, open, close) => `${open}${table}\n\n${measured}\n${close}`),
  );
  console.error("README.md updated.");
}
