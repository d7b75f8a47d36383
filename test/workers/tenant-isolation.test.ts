// A domain belongs to one account: another account can neither see nor touch it, nor take it.
import { describe, expect, it } from "vitest";
import { type ErrorBody, newAccount, uniqueDomain } from "./helpers";

describe("tenant isolation", () => {
  it("hides one account's domain from another for every verb, and keeps it intact", async () => {
    const owner = await newAccount();
    const stranger = await newAccount();
    const name = uniqueDomain();
    await owner.call("POST", "/tracking-domains", { body: { domain: name } });

    const listed = await (await stranger.call("GET", "/tracking-domains")).json<{
      results: { domain: string }[];
    }>();
    expect(listed.results.map((d) => d.domain)).not.toContain(name);

    const attempts = [
      stranger.call("GET", `/tracking-domains/${name}`),
      stranger.call("PUT", `/tracking-domains/${name}`, { body: { secure: false } }),
      stranger.call("POST", `/tracking-domains/${name}/verify`),
      stranger.call("DELETE", `/tracking-domains/${name}`),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(404);
      const error = (await response.json<ErrorBody>()).errors[0];
      expect(error?.description).toBe(`Tracking domain ${name} does not exist`);
    }

    const taken = await stranger.call("POST", "/tracking-domains", { body: { domain: name } });
    expect(taken.status).toBe(409);

    const mine = await owner.call("GET", `/tracking-domains/${name}`);
    expect(mine.status).toBe(200);
    expect(
      (await mine.json<{ results: { https_mode: string; subaccount_id: number } }>()).results,
    ).toMatchObject({
      https_mode: "managed",
      subaccount_id: 0,
    });
  });

  it("does not let a key act for another account's subaccount", async () => {
    const owner = await newAccount({ subaccounts: [1] });
    const stranger = await newAccount();
    const name = uniqueDomain();
    await owner.call("POST", "/tracking-domains", {
      body: { domain: name },
      headers: { "x-msys-subaccount": "1" },
    });
    const response = await stranger.call("GET", `/tracking-domains/${name}`, {
      headers: { "x-msys-subaccount": "1" },
    });
    expect(response.status).toBe(403);
    const listed = await stranger.call("GET", "/tracking-domains?subaccounts=1");
    expect((await listed.json<{ results: unknown[] }>()).results).toEqual([]);
  });
});
