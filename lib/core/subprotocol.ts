// Subprotocols (`Sec-WebSocket-Protocol`, RFC 6455 section 1.9): the `protocols` option of a
// route, compiled once when the factory is called, and the choice made for each request from
// what the client offers. A client that offers protocols the route does not speak is refused
// before the handshake; a client that offers none is accepted without one unless the route
// requires one (`requireProtocol`).

import type { IncomingMessage } from "node:http";

/**
 * Picks the subprotocol for a request from the client's offer (never empty, in the client's
 * order): one of `offered`, or `false` (or null/undefined) when none is acceptable (400).
 */
export type ProtocolChooser = (
  offered: readonly string[],
  req: IncomingMessage,
) => string | false | null | undefined;

/** What the `protocols` option takes: names in order of preference, or a chooser. */
export type Protocols = readonly string[] | ProtocolChooser;

/** The compiled option: how one request's offer becomes a choice. */
export interface ProtocolPolicy {
  /** The route's names, in order of preference; null for a chooser or when not configured. */
  readonly names: readonly string[] | null;
  /** True when a client that offers no subprotocol is refused. */
  readonly required: boolean;
  /** The chosen name, or false when nothing offered is acceptable. `offered` is not empty. */
  choose(offered: readonly string[], req: IncomingMessage): string | false;
}

/** A token (RFC 7230 section 3.2.6): what a subprotocol name must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Without `protocols`: the client's first offer, as ws does (browsers fail a handshake that offered some and got none). */
function firstOffered(offered: readonly string[]): string | false {
  return offered[0] ?? false;
}

/** Compiles `protocols` and `requireProtocol`; throws TypeError/RangeError for bad values. */
export function compileProtocols(protocols: unknown, required: boolean): ProtocolPolicy {
  if (protocols === undefined) return { names: null, required, choose: firstOffered };
  if (typeof protocols === "function") {
    const chooser = protocols as ProtocolChooser;
    return {
      names: null,
      required,
      choose(offered, req) {
        const chosen = chooser(offered, req);
        if (chosen === false || chosen === null || chosen === undefined) return false;
        if (typeof chosen !== "string" || !offered.includes(chosen)) {
          throw new TypeError(
            `options.protocols chose ${JSON.stringify(chosen)}, which the client did not offer: ` +
              "return one of the offered names, or false to refuse the request",
          );
        }
        return chosen;
      },
    };
  }
  if (!Array.isArray(protocols)) {
    throw new TypeError(
      "options.protocols must be an array of subprotocol names (in order of preference) or a " +
        "function (offered, req) => name | false",
    );
  }
  if (protocols.length === 0) {
    throw new RangeError("options.protocols must name at least one subprotocol");
  }
  const names: string[] = [];
  for (const name of protocols as unknown[]) {
    if (typeof name !== "string" || !TOKEN.test(name)) {
      throw new TypeError(
        `options.protocols: ${JSON.stringify(name)} is not a valid subprotocol name (an HTTP token)`,
      );
    }
    if (names.includes(name)) throw new RangeError(`options.protocols lists "${name}" twice`);
    names.push(name);
  }
  Object.freeze(names);
  return {
    names,
    required,
    choose(offered) {
      for (const name of names) if (offered.includes(name)) return name;
      return false;
    },
  };
}

/** Longest offer echoed back in a refusal or a log line. */
const MAX_ECHOED = 200;

/**
 * The client's offer: the names of every `Sec-WebSocket-Protocol` header, in order. Null when
 * the header is malformed (an empty name, a non-token, a duplicate): ws would refuse it too.
 */
export function offeredProtocols(req: IncomingMessage): string[] | null {
  const header = req.headers["sec-websocket-protocol"];
  if (header === undefined) return [];
  const names: string[] = [];
  for (const part of header.split(",")) {
    const name = part.trim();
    if (!TOKEN.test(name) || names.includes(name)) return null;
    names.push(name);
  }
  return names;
}

/** A client's offer for a message: quoted, shortened. */
export function describeOffer(offered: readonly string[]): string {
  const text = offered.map((n) => JSON.stringify(n)).join(", ");
  return text.length > MAX_ECHOED ? text.slice(0, MAX_ECHOED) + "..." : text;
}
