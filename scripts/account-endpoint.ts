// `npm run account:endpoint -- --account NAME (--v2-endpoint HOST | --clear) [--remote | --persist-to DIR]`
// Gives an account its own V2 endpoint (an operator's decision, for enterprise accounts; no API
// key can change it): its tracking domains are then verified against it, and the API shows it as
// their CNAME target. --clear returns the account to the deployment's endpoints.
import { parseArgs } from "node:util";
import { accountEndpointSql } from "./lib/api-key-sql";
import { executeD1 } from "./lib/wrangler";

const usage =
  "usage: npm run account:endpoint -- --account NAME (--v2-endpoint HOST | --clear) [--remote | --persist-to DIR]";
function main(): void {
  const { values } = parseArgs({
    options: {
      account: { type: "string" },
      "v2-endpoint": { type: "string" },
      clear: { type: "boolean", default: false },
      remote: { type: "boolean", default: false },
      "persist-to": { type: "string" },
      help: { type: "boolean", default: false },
    },
  });
  const endpoint = values["v2-endpoint"]?.trim().toLowerCase().replace(/\.$/, "");
  if (values.help || !values.account || (endpoint === undefined) === !values.clear) {
    console.error(usage);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const rows = executeD1(accountEndpointSql(values.account, endpoint ?? null), {
    remote: values.remote,
    persistTo: values["persist-to"],
  })
    .flat()
    .filter((r) => "name" in r);
  if (rows.length === 0) throw new Error(`There is no account named ${values.account}.`);
  console.log(
    endpoint
      ? `Account "${values.account}": its tracking domains now CNAME to ${endpoint}.`
      : `Account "${values.account}": back to the deployment's endpoints.`,
  );
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
