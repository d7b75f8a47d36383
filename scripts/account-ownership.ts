// `npm run account:ownership -- --account NAME (--require | --no-require) [--remote | --persist-to DIR]`
// Makes every new tracking domain of an account need its ownership TXT record before it counts as
// verified, whether or not another account held the name before (an operator's decision, for
// accounts whose customers' names are worth the extra record; no API key can change it). Domains
// the account already has keep what they had.
import { parseArgs } from "node:util";
import { accountOwnershipSql } from "./lib/api-key-sql";
import { executeD1 } from "./lib/wrangler";

const usage =
  "usage: npm run account:ownership -- --account NAME (--require | --no-require) [--remote | --persist-to DIR]";

function main(): void {
  const { values } = parseArgs({
    options: {
      account: { type: "string" },
      require: { type: "boolean", default: false },
      "no-require": { type: "boolean", default: false },
      remote: { type: "boolean", default: false },
      "persist-to": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help || !values.account || values.require === values["no-require"]) {
    console.error(usage);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const rows = executeD1(accountOwnershipSql(values.account, values.require), {
    remote: values.remote,
    persistTo: values["persist-to"],
  })
    .flat()
    .filter((r) => "name" in r);
  if (rows.length === 0) throw new Error(`There is no account named ${values.account}.`);
  console.log(
    values.require
      ? `Account "${values.account}": every new tracking domain needs its ownership TXT record.`
      : `Account "${values.account}": the ownership TXT record is needed only where another account held the name.`,
  );
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
