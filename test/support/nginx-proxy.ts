// A customer's reverse proxy, for self-managed HTTPS tests: nginx from Debian terminating TLS on
// a loopback address of its own (and forwarding plain HTTP too), with certificates from the local stack's throwaway CA (which the worker's runtime
// trusts), one server block per name, each forwarding to an origin with the original Host.
// Certificates can be good, expired, or for another name; a site can accept TLS 1.3 only. Node
// only.
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findBinary } from "../../scripts/lib/local-stack";
import { caCertificatePath } from "../../scripts/lib/stack-config";

export interface ProxiedSite {
  /** The name nginx answers (by SNI and Host). */
  name: string;
  /** Where it forwards: the worker's URL, or any other origin. */
  origin: string;
  certificate: "good" | "expired" | { otherName: string };
  /** Accept TLS 1.3 only (give it a listen address of its own: nginx takes the protocols of an
   * address's first server). */
  tls13Only?: boolean;
}

export interface NginxProxy {
  address: string;
  port: number;
  stop: () => Promise<void>;
}

export interface NginxListen {
  /** A loopback address of its own (127.0.0.2, …), as a customer's proxy has its own IP. */
  address: string;
  /** HTTPS. */
  port: number;
  /** Plain HTTP too (a CDN forwards both), where the CA validates HTTP-01. */
  httpPort?: number;
}

const caKeyPath = caCertificatePath.replace(/ca\.pem$/, "ca.key");

function certificate(dir: string, site: ProxiedSite): { cert: string; key: string } {
  const certName = typeof site.certificate === "object" ? site.certificate.otherName : site.name;
  const base = join(dir, site.name);
  execFileSync("openssl", [
    "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-subj", `/CN=${certName}`, "-keyout", `${base}.key`, "-out", `${base}.csr`,
  ], { stdio: "ignore" }); // biome-ignore format: one option per pair
  writeFileSync(`${base}.ext`, `subjectAltName=DNS:${certName}\n`);
  execFileSync("openssl", [
    "x509", "-req", "-in", `${base}.csr`, "-CA", caCertificatePath, "-CAkey", caKeyPath,
    "-CAcreateserial", "-CAserial", join(dir, "ca.srl"), "-extfile", `${base}.ext`,
    // An expired certificate: valid until a day before it was made.
    "-days", site.certificate === "expired" ? "-1" : "2", "-out", `${base}.pem`,
  ], { stdio: "ignore" }); // biome-ignore format: one option per pair
  return { cert: `${base}.pem`, key: `${base}.key` };
}

export async function startNginxProxy(
  listen: NginxListen,
  sites: ProxiedSite[],
): Promise<NginxProxy> {
  const { address, port } = listen;
  const nginx = findBinary("nginx");
  if (!nginx)
    throw new Error("nginx is not installed: apt-get install nginx (npm test does, as root)");
  const dir = mkdtempSync(join(tmpdir(), "tracking-edge-nginx-"));
  chmodSync(dir, 0o755);
  const servers = sites.map((site) => {
    const { cert, key } = certificate(dir, site);
    return `
    server {
      listen ${address}:${port} ssl;
      ${listen.httpPort ? `listen ${address}:${listen.httpPort};` : ""}
      server_name ${site.name};
      ssl_certificate ${cert};
      ssl_certificate_key ${key};
      ${site.tls13Only ? "ssl_protocols TLSv1.3;" : ""}
      location / {
        proxy_pass ${site.origin};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Proto https;
        proxy_redirect off;
      }
    }`;
  });
  const config = `
    daemon off;
    master_process off;
    pid ${dir}/nginx.pid;
    error_log ${dir}/error.log warn;
    events { worker_connections 256; }
    http {
      access_log off;
      client_body_temp_path ${dir}/body;
      proxy_temp_path ${dir}/proxy;
      fastcgi_temp_path ${dir}/fastcgi;
      uwsgi_temp_path ${dir}/uwsgi;
      scgi_temp_path ${dir}/scgi;
      ${servers.join("\n")}
    }`;
  writeFileSync(join(dir, "nginx.conf"), config);
  const child = spawn(nginx, ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "ignore" });
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`nginx exited at start; see ${dir}/error.log`);
    if (await listening(address, port)) break;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    address,
    port,
    stop: async () => {
      if (!exited) {
        child.kill("SIGTERM");
        await new Promise((resolve) => child.once("exit", resolve));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
