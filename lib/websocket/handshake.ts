// The checks a sockets factory makes before completing a WebSocket handshake, in Martini's
// order: the method (405), the Origin (403), then the handshake headers (400), and last the
// subprotocol (400 when the client offers none the route speaks). Each refusal is a status, a
// message that says what to fix, and any headers the RFC asks for.

import type { IncomingMessage } from "node:http";
import { requestOrigin } from "../core/origin";
import { describeOffer, offeredProtocols, type ProtocolPolicy } from "../core/subprotocol";

/** Why a handshake was refused: written to the client as a real HTTP response. */
export interface Refusal {
  readonly status: number;
  readonly message: string;
  readonly headers?: Record<string, string>;
}

/** A Sec-WebSocket-Key is 16 random bytes in base64 (RFC 6455 4.1). */
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/** Protocol versions `ws` speaks; RFC 6455 asks to list them when refusing a version. */
const VERSIONS = "13, 8";

/** True when the request asks to upgrade to WebSocket (`Upgrade: websocket`). */
export function wantsWebSocket(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return typeof upgrade === "string" && upgrade.trim().toLowerCase() === "websocket";
}

/**
 * The refusal for a request that is not a WebSocket upgrade (or did not come through attach).
 * `attached`: the server has an attachment, so an `Upgrade: websocket` request that still
 * arrived as a plain request lacks `Connection: Upgrade` (Node only emits 'upgrade' with both).
 */
export function notAnUpgrade(req: IncomingMessage, attached = false): Refusal {
  if (wantsWebSocket(req) && attached) {
    return {
      status: 400,
      message:
        "A WebSocket upgrade needs both the Upgrade: websocket and Connection: Upgrade headers",
      headers: { "Sec-WebSocket-Version": VERSIONS },
    };
  }
  if (wantsWebSocket(req)) {
    return {
      status: 400,
      message:
        "This WebSocket upgrade did not come through attach(): call attach(server, app) once " +
        "after creating the HTTP server so upgrade requests are routed through the app",
    };
  }
  return {
    status: 400,
    message: "This route speaks WebSocket: connect with a WebSocket client (Upgrade: websocket)",
    headers: { "Sec-WebSocket-Version": VERSIONS },
  };
}

/**
 * The first check the request fails, or null when the handshake may proceed.
 * `method` is the client's original method (the app saw GET).
 */
export function checkHandshake(
  req: IncomingMessage,
  method: string,
  checkOrigin: (req: IncomingMessage) => boolean,
): Refusal | null {
  if (method !== "GET") {
    return { status: 405, message: "Method not allowed", headers: { Allow: "GET" } };
  }
  if (!checkOrigin(req)) {
    return { status: 403, message: "Origin not allowed" };
  }
  const key = req.headers["sec-websocket-key"];
  if (typeof key !== "string" || !KEY.test(key)) {
    return {
      status: 400,
      message: "Missing or invalid Sec-WebSocket-Key header (must be 16 bytes in base64)",
    };
  }
  const version = req.headers["sec-websocket-version"];
  if (version !== "13" && version !== "8") {
    return {
      status: 400,
      message: `Missing or unsupported Sec-WebSocket-Version header (supported: ${VERSIONS})`,
      headers: { "Sec-WebSocket-Version": VERSIONS },
    };
  }
  return null;
}

/**
 * The subprotocol for this request ("" for none), or the refusal when the offer is malformed,
 * has nothing the route speaks, or is missing on a route that requires one. A chooser that
 * throws (or picks a name not offered) throws here: the app's error handling answers it.
 */
export function chooseProtocol(req: IncomingMessage, policy: ProtocolPolicy): string | Refusal {
  const offered = offeredProtocols(req);
  if (offered === null) {
    return {
      status: 400,
      message:
        "Invalid Sec-WebSocket-Protocol header (comma-separated subprotocol names, each once)",
    };
  }
  const speaks = policy.names === null ? "" : `; this route speaks ${describeOffer(policy.names)}`;
  if (offered.length === 0) {
    if (!policy.required) return "";
    return {
      status: 400,
      message: `This route requires a subprotocol (Sec-WebSocket-Protocol)${speaks}`,
    };
  }
  const chosen = policy.choose(offered, req);
  if (chosen !== false) return chosen;
  return {
    status: 400,
    message: `No acceptable subprotocol in the offer ${describeOffer(offered)}${speaks}`,
  };
}

/** The Origin for a log line, shortened: it comes from the client. */
export function originForLog(req: IncomingMessage): string {
  const origin = requestOrigin(req);
  if (origin === undefined) return "(none)";
  return JSON.stringify(origin.length > 200 ? origin.slice(0, 200) + "..." : origin);
}
