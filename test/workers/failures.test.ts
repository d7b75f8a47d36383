// When the service itself is at fault: a misconfiguration is a 503 that names no secret, and an
// unexpected failure is a 500 with no internals; neither leaks a stack trace.
import { createExecutionContext, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../workers/edge";
import { type ErrorBody, newAccount } from "./helpers";

const request = (path: string, key?: string) =>
  new Request<unknown, IncomingRequestCfProperties>(`http://localhost/api/v1${path}`, {
    headers: key ? { authorization: key } : {},
  });

describe("service faults", () => {
  it("answers 503 on the API when a variable is malformed", async () => {
    const response = await worker.fetch(
      request("/tracking-domains"),
      { ...env, DOH_URL: "not a url" },
      createExecutionContext(),
    );
    expect(response.status).toBe(503);
    const error = (await response.json<ErrorBody>()).errors[0];
    expect(error).toMatchObject({ message: "service unavailable", code: "1900" });
    expect(JSON.stringify(error)).not.toContain("DOH_URL");
  });

  it("answers 503 on every host when the API hosts are not configured", async () => {
    const response = await worker.fetch(
      request("/tracking-domains"),
      { ...env, API_HOSTNAMES: "" },
      createExecutionContext(),
    );
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("60");
    expect((await response.json<ErrorBody>()).errors[0]?.description).toContain(
      "not configured correctly",
    );
  });

  it("answers 500 without internals when storage fails", async () => {
    const account = await newAccount();
    const failingDb = new Proxy(env.DB, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (property !== "prepare") return typeof value === "function" ? value.bind(target) : value;
        // Authentication reads api_keys; the domain query then fails like a broken database.
        return (sql: string) => {
          if (sql.includes("tracking_domains"))
            throw new Error("D1_ERROR: disk I/O error at /var/secret/path");
          return target.prepare(sql);
        };
      },
    });
    const response = await worker.fetch(
      request("/tracking-domains", account.key),
      { ...env, DB: failingDb },
      createExecutionContext(),
    );
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(JSON.parse(text).errors[0]).toMatchObject({ message: "internal error", code: "1902" });
    expect(text).not.toMatch(/D1_ERROR|secret|at .*\.ts/);
  });
  it("answers 503 when a key ring secret is broken, naming none of it", async () => {
    const account = await newAccount();
    const domain = `ring-${crypto.randomUUID().slice(0, 8)}.shop.test`;
    await account.call("POST", "/tracking-domains", {
      body: { domain, https_mode: "self_managed" },
    });
    // Verifying a self-managed domain needs LINK_SIGNING_KEYS (the probe's proof).
    const response = await worker.fetch(
      new Request<unknown, IncomingRequestCfProperties>(
        `http://localhost/api/v1/tracking-domains/${domain}/verify`,
        { method: "POST", headers: { authorization: account.key } },
      ),
      { ...env, LINK_SIGNING_KEYS: '{"current":"k","keys":{}}' },
      createExecutionContext(),
    );
    expect(response.status).toBe(503);
    const text = await response.text();
    expect(JSON.parse(text).errors[0]).toMatchObject({ message: "service unavailable" });
    expect(text).not.toContain("LINK_SIGNING_KEYS");
  });
});
