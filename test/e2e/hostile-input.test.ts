// Every operation the OpenAPI document lists, called on the worker under wrangler dev with hostile
// input: JSON of any shape, the operation's own field names holding values of any type (strings
// with control characters, lone surrogates and any code point), text that is not JSON, query
// strings, path segments, keys and subaccounts no client should send; and every link minted from
// hostile targets is clicked. Whatever
// comes in, the answer is an error in the API's shape (never a 500, never a stack trace), with a
// status the document lists and in the shape its schema gives, and a refused call leaves what it
// named as it was. The operations come from the document, so a route
// added later is covered without a change here. (Thousands of calls belong here, on the real
// runtime: in the workers pool each SELF.fetch is slower than the last, workers-sdk#15446.)
import Ajv2020 from "ajv/dist/2020";
import fc from "fast-check";
import { describe, expect, inject, it } from "vitest";
import { getVia } from "../../scripts/lib/get-via";
import { d1Execute } from "./helpers";

interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  example?: unknown;
  items?: Schema;
  properties?: Record<string, Schema>;
}

interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
  parameters?: { name: string; in: string }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

interface Call {
  method: string;
  /** The document's path, e.g. /webhooks/{id}. */
  template: string;
  operation: Operation;
}

type Body = { json: unknown } | { raw: string } | undefined;

/** A call with the hostile account's key, as a client would make it (or with `extra` headers). */
function call(
  method: string,
  path: string,
  body?: Body,
  extra: Record<string, string> = {},
): Promise<Response> {
  const headers: Record<string, string> = { authorization: inject("apiKeys").hostile, ...extra };
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(`${inject("workerUrl")}/api/v1${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: "json" in body ? JSON.stringify(body.json) : body.raw }),
  });
}

async function operations(): Promise<{
  calls: Call[];
  schemas: Document["components"]["schemas"];
}> {
  const document = (await (await call("GET", "/openapi.json")).json()) as Document;
  const calls = Object.entries(document.paths).flatMap(([template, byMethod]) =>
    Object.entries(byMethod).map(([method, operation]) => ({
      method: method.toUpperCase(),
      template,
      operation,
    })),
  );
  return { calls, schemas: document.components.schemas };
}

async function results<T>(response: Response): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return (JSON.parse(text) as { results: T }).results;
}

/**
 * Resources made before the calls, so that a call can name them and reach the handler's own
 * checks: path template → the GET that reads what the template's parameter names.
 */
async function seed(): Promise<Record<string, string>> {
  const suffix = crypto.randomUUID().slice(0, 8);
  const tracking = `track-${suffix}.hostile.example.com`;
  const sending = `mail-${suffix}.hostile.example.com`;
  await results(await call("POST", "/tracking-domains", { json: { domain: tracking } }));
  // A target that refuses at once, so that validate and deliveries do not wait on the network.
  const webhook = await results<{ id: string }>(
    await call("POST", "/webhooks", {
      json: { name: "hostile", target: "http://127.0.0.1:9/hook" },
    }),
  );
  const key = await results<{ id: string }>(
    await call("POST", "/api-keys", {
      json: { label: "hostile", grants: ["tracking_domains/view"] },
    }),
  );
  const subaccount = await results<{ subaccount_id: number }>(
    await call("POST", "/subaccounts", { json: { name: "hostile" } }),
  );
  return {
    "/tracking-domains/{domain}": `/tracking-domains/${tracking}`,
    "/sending-domains/{domain}": `/sending-domains/${sending}`,
    "/webhooks/{id}": `/webhooks/${webhook.id}`,
    "/api-keys/{id}": `/api-keys/${key.id}`,
    "/subaccounts/{id}": `/subaccounts/${subaccount.subaccount_id}`,
  };
}

/** Path segments no client should send: encoded controls, traversal, overlong, odd Unicode. */
const hostileSegment = fc.oneof(
  fc.constantFrom(
    "%00",
    "..%2F..%2Fetc%2Fpasswd",
    "%",
    "%E2%80%AE",
    "%F0%9F%92%A9.example.com",
    "a".repeat(300),
    "-1",
    "1e309",
    "0x10",
    "9007199254740993",
    "null",
    "%20",
  ),
  fc
    .string({ minLength: 1, maxLength: 40 })
    .map(encodeURIComponent)
    // "." and ".." never reach the server as segments: the client's URL parser resolves them, so
    // the request names another path, whose answers belong to that path's operation.
    .filter((segment) => segment !== "." && segment !== ".."),
);

/** The properties of an operation's JSON body, following a $ref into the components. */
function bodyFields(
  operation: Operation,
  schemas: Document["components"]["schemas"],
): Record<string, Schema> {
  let schema = operation.requestBody?.content?.["application/json"]?.schema;
  if (schema?.$ref) schema = schemas[schema.$ref.split("/").pop() ?? ""];
  return schema?.properties ?? {};
}

/**
 * Text no client should send, in any string field and any link target: C0 controls (CR/LF for
 * header splitting, NUL), lone UTF-16 surrogates (JSON can spell them), any code point beyond
 * ASCII, bidirectional overrides; and URLs carrying them.
 */
const hostileText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ maxLength: 80 }), weight: 3 },
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom("\u0000", "\r", "\n", "\t", "\u001b", "\u007f", "a", "é"),
    maxLength: 20,
  }),
  fc.constantFrom("\ud800", "x\udc00y", "\ufeff", "\u202e", "例え", "🙂", "a\r\nb"),
  fc.constantFrom("https://例え.jp/パス?q=ü", "https://shop.example/\r\nLocation: /evil"),
);

/** Link targets: URLs with controls, lone surrogates or any code point somewhere in them. */
const hostileTarget: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      fc.oneof(
        fc.constantFrom(
          "\r\nSet-Cookie: a=b",
          "\u0000",
          "\ud800",
          "パス",
          "ü",
          " ",
          "\t",
          "\u007f",
        ),
        fc.string({ unit: "binary", maxLength: 12 }),
      ),
    )
    .map(([url, extra]) => `${url}${extra}`),
  fc.webUrl({ withQueryParameters: true }),
  fc.constantFrom(
    "https://例え.jp/パス?q=ü",
    "https://shop.example/\r\nLocation: https://evil.example/",
    "https://shop.example/a\u0000b",
    "https://shop.example/\ud83d",
    "https://xn--r8jz45g.jp/%E3%83%91",
    "http://[::1]:80/",
    "HTTPS://SHOP.EXAMPLE/Upper",
  ),
);

/**
 * A value for a field: often one of the type the document gives (its example, one of its enum,
 * or any value of its type), so that some fields pass and a later one fails; else anything.
 */
function fieldValue(schema: Schema): fc.Arbitrary<unknown> {
  const types = [schema.type ?? []].flat();
  const typed: fc.Arbitrary<unknown>[] = [];
  if (schema.example !== undefined) typed.push(fc.constant(schema.example));
  if (schema.enum?.length) typed.push(fc.constantFrom(...schema.enum));
  if (types.includes("string")) typed.push(hostileText);
  if (types.includes("boolean")) typed.push(fc.boolean());
  if (types.includes("integer") || types.includes("number")) typed.push(fc.integer());
  if (types.includes("array"))
    typed.push(
      fc.array(schema.items ? fieldValue(schema.items) : fc.jsonValue(), { maxLength: 3 }),
    );
  if (schema.properties) typed.push(fieldsOf(schema.properties));
  const anything = fc.jsonValue({ maxDepth: 2 });
  return typed.length === 0
    ? anything
    : fc.oneof({ arbitrary: fc.oneof(...typed), weight: 8 }, { arbitrary: anything, weight: 1 });
}

/** An object of some of `fields`, each holding a fieldValue. */
function fieldsOf(fields: Record<string, Schema>): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    Object.fromEntries(Object.entries(fields).map(([name, schema]) => [name, fieldValue(schema)])),
    { requiredKeys: [] },
  );
}

function hostileBody(fields: Record<string, Schema>): fc.Arbitrary<Body> {
  const names = Object.keys(fields);
  return fc.oneof(
    // The operation's own fields: mostly well typed, so that the handler's own checks are reached.
    {
      arbitrary:
        names.length === 0 ? fc.constant(undefined) : fieldsOf(fields).map((json) => ({ json })),
      weight: 4,
    },
    fc.jsonValue({ maxDepth: 3 }).map((json) => ({ json })),
    fc
      .oneof(fc.string(), fc.constantFrom("{", '{"a":', "[", "\u0000", "{}}", '"\\ud800"'))
      .map((raw) => ({ raw })),
    fc.constant(undefined),
  );
}

function hostileQuery(operation: Operation): fc.Arbitrary<string> {
  const names = (operation.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name);
  if (names.length === 0) return fc.constant("");
  return fc
    .dictionary(
      fc.constantFrom(...names),
      fc.oneof(fc.string(), fc.constantFrom("-1", "0", "1e309", "NaN", "9".repeat(40), "%")),
    )
    .map((query) => {
      const pairs = Object.entries(query).map(([name, v]) => `${name}=${encodeURIComponent(v)}`);
      return pairs.length === 0 ? "" : `?${pairs.join("&")}`;
    });
}

/** Printable ASCII: what a client can put in a header at all. */
const headerText = fc.string({ unit: "grapheme-ascii", maxLength: 60 });

/** Now and then, a key or a subaccount that is not what the API takes; mostly, none. */
const hostileHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { arbitrary: fc.constant({}), weight: 8 },
  {
    arbitrary: fc
      .oneof(headerText, fc.constantFrom("-1", "0", "1.5", "7e2", "99999999999999999999", " 7"))
      .map((value) => ({ "x-msys-subaccount": value })),
    weight: 1,
  },
  {
    arbitrary: fc
      .oneof(
        headerText,
        headerText.map((value) => `Bearer ${value}`),
        fc.constant("Bearer"),
      )
      .map((value) => ({ authorization: value })),
    weight: 1,
  },
);

/**
 * Checks answers against the schemas the document gives for them (JSON Schema 2020-12, as
 * OpenAPI 3.1 uses), so that a client generated from the document can read what it gets.
 */
function answerChecker(schemas: Document["components"]["schemas"]) {
  // Formats and OpenAPI's own keywords (example) are not what this checks.
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
  const check = (operation: Operation, key: string, status: number, text: string) => {
    const schema = operation.responses?.[String(status)]?.content?.["application/json"]?.schema;
    if (!schema) return null;
    check.count++;
    const id = `${key} ${status}`;
    let validate = compiled.get(id);
    if (!validate) {
      validate = ajv.compile({ ...schema, components: { schemas } });
      compiled.set(id, validate);
    }
    return validate(JSON.parse(text)) ? null : `${id}: ${ajv.errorsText(validate.errors)}`;
  };
  /** How many answers had a schema to be checked against. */
  check.count = 0;
  return check;
}

/** What a client reading an answer must be able to rely on. */
function expectErrorShape(response: Response, text: string, what: string): void {
  // 503 is how the API says a dependency is not answering; any other 5xx is a fault.
  expect(
    response.status < 500 || response.status === 503,
    `${what} → ${response.status} ${text}`,
  ).toBe(true);
  if (response.status < 400) return;
  expect(text, what).not.toMatch(/\n\s+at |TypeError|ReferenceError|SyntaxError: /);
  const body = JSON.parse(text) as { errors?: { message?: unknown }[] };
  const message = body.errors?.[0]?.message;
  expect(typeof message === "string" && message.length > 0, `${what}: ${text}`).toBe(true);
}

describe("hostile input to every API operation", () => {
  it("is answered in the error shape, never with a 500, and a refused change loses nothing", async () => {
    const { calls, schemas } = await operations();
    // A document that listed nothing would let this test pass by doing nothing.
    expect(calls.length).toBeGreaterThan(30);
    const resources = await seed();
    let refusedOnResource = 0;
    const checkAnswer = answerChecker(schemas);
    const documented = new Map<string, Set<number>>();
    for (const { method, template } of calls) documented.set(`${method} ${template}`, new Set());
    for (const { method, template, operation } of calls) {
      const prefix = Object.keys(resources).find((p) => template.startsWith(p));
      const resource = prefix === undefined ? undefined : resources[prefix];
      const named = template.includes("{");
      // A DELETE of a real resource would only delete it: DELETE gets hostile names alone.
      const segment =
        resource && method !== "DELETE"
          ? fc.oneof(
              { arbitrary: fc.constant(null), weight: 3 },
              { arbitrary: hostileSegment, weight: 1 },
            )
          : hostileSegment;
      await fc.assert(
        fc.asyncProperty(
          segment,
          hostileQuery(operation),
          method === "GET" ? fc.constant(undefined) : hostileBody(bodyFields(operation, schemas)),
          hostileHeaders,
          async (hostile, query, body, headers) => {
            const path = !named
              ? template
              : hostile === null && resource
                ? `${resource}${template.slice(template.indexOf("}") + 1)}`
                : template.replace(/\{[^}]+\}/, hostile ?? "");
            const before = resource ? await (await call("GET", resource)).text() : "";
            const response = await call(method, `${path}${query}`, body, headers);
            const what = `${method} ${path}${query} ${JSON.stringify(headers)} ${JSON.stringify(body)}`;
            const text = await response.text();
            expectErrorShape(response, text, what);
            const mismatch = checkAnswer(operation, `${method} ${template}`, response.status, text);
            expect(mismatch, `${what} → ${text.slice(0, 500)}`).toBeNull();
            // The document lists every status a client may get, for clients generated from it.
            documented.get(`${method} ${template}`)?.add(response.status);
            if (response.status >= 400 && resource && method !== "GET") {
              if (hostile === null) refusedOnResource++;
              const after = await (await call("GET", resource)).text();
              expect(after, `${what} changed ${resource}`).toBe(before);
            }
          },
        ),
        // Changes to a real resource get the most runs: a partial write before a refusal is rare.
        { numRuns: resource && method !== "GET" && method !== "DELETE" ? 150 : 25 },
      );
    }
    const undocumented = calls.flatMap(({ method, template, operation }) =>
      [...(documented.get(`${method} ${template}`) ?? [])]
        .filter((status) => !(String(status) in (operation.responses ?? {})))
        .map((status) => `${method} ${template} → ${status}`),
    );
    expect(undocumented).toEqual([]);
    // Answers of every kind were held to their schemas, successes and errors alike.
    expect(checkAnswer.count).toBeGreaterThan(1000);
    // The calls reached the handlers' own refusals of real resources, not only the router's 404.
    expect(refusedOnResource).toBeGreaterThan(30);
  }, 300_000);

  it("mints links from hostile targets only as ASCII URLs, and every click is a 302", async () => {
    // A verified default domain (marked so as an operator would, without HTTPS, so that nothing
    // runs in the background), for the links to be minted on.
    const domain = `links-${crypto.randomUUID().slice(0, 8)}.hostile.example.com`;
    await results(await call("POST", "/tracking-domains", { json: { domain, secure: false } }));
    d1Execute(
      `UPDATE tracking_domains SET verified = 1, cname_status = 'valid' WHERE domain = '${domain}'`,
    );
    await results(await call("PUT", `/tracking-domains/${domain}`, { json: { default: true } }));
    const workerUrl = new URL(inject("workerUrl"));
    const worker = { host: workerUrl.hostname, port: Number(workerUrl.port) };
    let minted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(hostileTarget, { minLength: 1, maxLength: 4 }), async (urls) => {
        const response = await call("POST", "/tracking-links", {
          json: { links: urls.map((url) => ({ url })) },
        });
        const text = await response.text();
        const what = `${JSON.stringify(urls)} → ${response.status} ${text.slice(0, 300)}`;
        expectErrorShape(response, text, what);
        if (response.status === 422) {
          refused++;
          // Each refused link is named by its index.
          for (const error of (JSON.parse(text) as { errors: { param?: string }[] }).errors)
            expect(error.param, what).toMatch(/^links\.\d+\.url$/);
          return;
        }
        expect(response.status, what).toBe(200);
        minted++;
        const links = (JSON.parse(text) as { results: { links: { tracked_url: string }[] } })
          .results.links;
        for (const link of links) {
          const clicked = await getVia(link.tracked_url, worker);
          expect(clicked.status, `${what}: ${link.tracked_url}`).toBe(302);
          expect(clicked.location, what).toMatch(/^https?:\/\/[\x21-\x7e]+$/);
        }
      }),
      { numRuns: 150 },
    );
    // Both kinds happened: links minted (and clicked), and links refused.
    expect(minted).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
  }, 120_000);
});
