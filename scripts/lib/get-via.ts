// GET a tracking link the way a recipient's browser would reach it, but through a chosen address:
// the link's host goes in Host (and in SNI over TLS), the connection goes to `via`. Node's fetch
// cannot do this (it ignores a Host header). Over TLS only `ca` is trusted; the answer carries
// what the handshake showed. Used by the demo and the end-to-end tests.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { PeerCertificate, TLSSocket } from "node:tls";

export interface Via {
  host: string;
  port: number;
  /** TLS, trusting only these roots; plain HTTP without. */
  ca?: string | Buffer;
}

export interface Got {
  status: number;
  location: string | undefined;
  tls?: {
    authorized: boolean;
    authorizationError: string;
    protocol: string;
    cipher: string;
    peer: PeerCertificate;
  };
}

export function getVia(link: string, via: Via): Promise<Got> {
  const url = new URL(link);
  const options = {
    host: via.host,
    port: via.port,
    path: `${url.pathname}${url.search}`,
    headers: { host: url.hostname },
    agent: false as const,
  };
  return new Promise((resolve, reject) => {
    const answer = (res: IncomingMessage) => {
      const socket = res.socket as TLSSocket;
      res.resume();
      resolve({
        status: res.statusCode ?? 0,
        location: res.headers.location,
        ...(via.ca === undefined
          ? {}
          : {
              tls: {
                authorized: socket.authorized,
                authorizationError: String(socket.authorizationError ?? ""),
                protocol: socket.getProtocol() ?? "",
                cipher: socket.getCipher().name,
                peer: socket.getPeerCertificate(),
              },
            }),
      });
    };
    const req =
      via.ca === undefined
        ? httpRequest(options, answer)
        : httpsRequest({ ...options, servername: url.hostname, ca: [via.ca] }, answer);
    req.once("error", reject);
    req.end();
  });
}
