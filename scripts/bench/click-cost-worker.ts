// bench:redirect's in-isolate figure: what a click's own code costs, timed away from HTTP and
// wrk. POST /links takes the bench's click paths once; GET /run?worker=click&count=N then runs
// the product's own fetch handler (workers/edge.ts: routing, verifying the link, finding the
// domain's holder in the isolate's cache, making the 302, recording the click, and then the
// outbox's sends to the Queue) over them N times in one loop,
// and worker=bare makes the bare worker's 302 N times. workerd's clock stands still while
// JavaScript runs, so the caller times each run from outside and subtracts a run of 0.
import edge from "../../workers/edge";

/** The product's fetch handler, called as the runtime would call it. */
const product = edge.fetch as (
  request: Request,
  env: Env,
  ctx: ExecutionContext,
) => Response | Promise<Response>;

let requests: Request[] = [];

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/links") {
      const { host, paths } = await request.json<{ host: string; paths: string[] }>();
      requests = paths.map((path) => new Request(`http://${host}${path}`));
      // The first click reads the domain's holder from D1; every click after finds it cached.
      const first = await product(requests[0] as Request, env, ctx);
      return new Response(null, { status: first.status === 302 ? 204 : 500 });
    }
    const count = Number(url.searchParams.get("count"));
    let redirects = 0;
    if (url.searchParams.get("worker") === "bare") {
      for (let i = 0; i < count; i++) {
        const response = new Response(null, {
          status: 302,
          headers: {
            location: "https://shop.example.com/",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store, private",
          },
        });
        if (response.status === 302) redirects++;
      }
    } else {
      // The work each click leaves for after its answer (the outbox's Queue sends) is timed too.
      const later: Promise<unknown>[] = [];
      const collecting = { ...ctx, waitUntil: (work: Promise<unknown>) => later.push(work) };
      for (let i = 0; i < count; i++) {
        const click = requests[i % requests.length] as Request;
        let response = product(click, env, collecting as ExecutionContext);
        // Only when the isolate's answer about the holder aged out mid-run (not per click).
        if (response instanceof Promise) response = await response;
        if (response.status === 302) redirects++;
      }
      await Promise.all(later);
    }
    // The caller checks this, so a loop that verified nothing cannot pass for a fast one.
    return new Response(String(redirects));
  },
};
