// pebble-challtestsrv's management API as an HTTP-01 responder for ACME client tests. Plain
// fetch, so it works from Node and from inside workerd.
import type { Http01Responder } from "./acme-driver";

export function challtestsrvResponder(baseUrl: string): Http01Responder {
  const call = async (path: string, body: Record<string, string>) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`challtestsrv ${path}: HTTP ${response.status}`);
  };
  return {
    present: (token, keyAuthorization) => call("/add-http01", { token, content: keyAuthorization }),
    remove: (token) => call("/del-http01", { token }),
  };
}
