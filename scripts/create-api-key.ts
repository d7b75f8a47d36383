// `npm run api-key -- --account NAME [--subaccount ID] [--label TEXT] [--remote]`
// Makes an API key for an account (creating the account, and the subaccount, when new) in the
// local D1 database, or the deployed one with --remote, and prints the key once. Only its hash
// is stored.
import { parseArgs } from "node:util";
import { apiKeyStatements } from "./lib/api-key-sql";
import { d1TargetArgs, executeD1 } from "./lib/wrangler";

const usage =
  "usage: npm run api-key -- --account NAME [--subaccount ID] [--label TEXT] [--remote | --persist-to DIR] [--quiet]";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      account: { type: "string" },
      subaccount: { type: "string" },
      label: { type: "string" },
      remote: { type: "boolean", default: false },
      "persist-to": { type: "string" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || values.account === undefined) {
    console.error(usage);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const { key, shortKey, sql } = await apiKeyStatements({
    account: values.account,
    ...(values.subaccount === undefined ? {} : { subaccount: Number(values.subaccount) }),
    ...(values.label === undefined ? {} : { label: values.label }),
  });
  const target = d1TargetArgs({ remote: values.remote, persistTo: values["persist-to"] });
  try {
    executeD1(sql, { remote: values.remote, persistTo: values["persist-to"] });
  } catch (error) {
    const message = (error as Error).message;
    if (message.includes("no such table")) {
      throw new Error(
        `The database has no tables yet: apply the migrations first with\n  npx wrangler d1 migrations apply DB ${target.join(" ")}`,
      );
    }
    throw error;
  }
  if (values.quiet) {
    console.log(key);
    return;
  }
  const where = values.remote ? "remote D1" : "local D1";
  console.log(
    `API key for account "${values.account}"${values.subaccount ? `, subaccount ${values.subaccount}` : ""} (${where}):`,
  );
  console.log(`\n  ${key}\n`);
  console.log(`Shown once: only its hash is stored. It starts with ${shortKey}.`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
