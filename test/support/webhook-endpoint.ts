// A customer's webhook endpoint for the e2e tests: a Node HTTP server on a loopback port that
// keeps every request and answers with the statuses a test lines up (200 once they run out).
import { createServer, type IncomingMessage, type Server } from "node:http";

export interface Received {
  headers: IncomingMessage["headers"];
  body: string;
}

export interface TlsEvent {
  type: string;
  event_id: string;
  domain: string;
  tls_status: string;
  previous_tls_status: string;
  tls_certificate: { expires_at: string | null; error_code: string | null };
  https_check?: { passed: boolean; error_code: string | null; detail: string | null };
}

/** The customer's endpoint: keeps every request; answers with whatever `answers` says next. */
export class WebhookEndpoint {
  readonly received: Received[] = [];
  /** Statuses for the next requests, in order; 200 once they run out. */
  answers: number[] = [];
  #server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.#server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (c: Buffer) => chunks.push(c));
      request.on("end", () => {
        this.received.push({ headers: request.headers, body: Buffer.concat(chunks).toString() });
        const status = this.answers.shift() ?? 200;
        response.writeHead(status, { "content-type": "text/plain" });
        response.end(status === 200 ? "thanks" : "busy, try later");
      });
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address();
    if (!address || typeof address === "string") throw new Error("no port");
    this.url = `http://127.0.0.1:${address.port}/hooks/tls`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) =>
      this.#server ? this.#server.close(() => resolve()) : resolve(),
    );
  }

  /** The events received for `domain`, each with the request that carried it. */
  eventsFor(domain: string): { event: TlsEvent; request: Received }[] {
    return this.received.flatMap((request) =>
      (JSON.parse(request.body) as { msys: { tracking_domain_event: TlsEvent } }[])
        .map((p) => ({ event: p.msys.tracking_domain_event, request }))
        .filter((e) => e.event.domain === domain),
    );
  }
}
