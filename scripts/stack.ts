// `npm run stack:start | stack:stop | stack:status | stack:install`: the local ACME and DNS
// stack (see scripts/lib/local-stack.ts) as a command.

import {
  installPackages,
  missingPackages,
  stackServices,
  startStack,
  stopStack,
  testServices,
} from "./lib/local-stack";
import { logPath, runningPid } from "./lib/processes";
import { caCertificatePath, ports, urls } from "./lib/stack-config";

async function main(command: string | undefined): Promise<void> {
  switch (command) {
    case "install":
      installPackages();
      console.log("Debian packages for the local stack are installed.");
      return;
    case "start": {
      const missing = missingPackages();
      if (missing.length > 0 && process.getuid?.() === 0) installPackages();
      await startStack();
      console.log("Local stack is up (127.0.0.1 only):");
      console.log(`  ACME directory   ${urls.acmeDirectory}  (trust ${caCertificatePath})`);
      console.log(`  DoH resolver     ${urls.doh}`);
      console.log(`  DNS (dnsmasq)    127.0.0.1:${ports.dnsmasq}`);
      console.log(`  DNS test API     ${urls.challtestsrv}  (records under dyn.test)`);
      return;
    }
    case "stop": {
      const stopped = await stopStack();
      console.log(stopped.length ? `Stopped: ${stopped.join(", ")}` : "Nothing was running.");
      return;
    }
    case "status":
      for (const name of [...stackServices, ...testServices]) {
        const pid = runningPid(name);
        console.log(
          `${name.padEnd(17)} ${pid ? `running, pid ${pid}` : "stopped"}  log: ${logPath(name)}`,
        );
      }
      return;
    default:
      console.error("usage: tsx scripts/stack.ts start|stop|status|install");
      process.exitCode = 2;
  }
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
