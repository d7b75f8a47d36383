// The Worker's entry points, routing only: requests for an API host go to the API app; every
// other host is a tracking domain. Tracking handlers arrive with engagement tracking.
import { createApiApp } from "../src/api/app";
import { misconfigured } from "../src/api/errors";
import { ConfigError, loadConfig } from "../src/config";

const api = createApiApp();

export default {
  async fetch(request, env, ctx): Promise<Response> {
    let apiHostnames: ReadonlySet<string>;
    try {
      apiHostnames = loadConfig(env).apiHostnames;
    } catch (error) {
      if (error instanceof ConfigError) return misconfigured(error);
      throw error;
    }
    if (apiHostnames.has(new URL(request.url).hostname)) return api.fetch(request, env, ctx);
    return new Response("Not found\n", { status: 404, headers: { "content-type": "text/plain" } });
  },
} satisfies ExportedHandler<Env>;
