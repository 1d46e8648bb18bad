// The Origin check of the handshake (Martini's AllowedOrigin, made safe): `<<host>>` and
// `{{host}}` in a string pattern become the request's Host, regex-escaped, and string patterns
// are anchored at the start, so `https?://<<host>>$` cannot be satisfied by a look-alike host.
// An origin is case-insensitive (its scheme and host; the port is digits): the header is
// lower-cased before it is matched, and string patterns ignore case.

import type { IncomingMessage } from "node:http";

/** What `allowedOrigin` accepts: a regex source, a RegExp, or a predicate. */
export type AllowedOrigin = string | RegExp | ((origin: string, req: IncomingMessage) => boolean);

/** Martini's default: same host as the request, over http or https. */
export const DEFAULT_ALLOWED_ORIGIN = "https?://<<host>>$";

/** Compiled patterns kept per Host value. Host is client-controlled, so the cache is bounded. */
const HOST_CACHE_LIMIT = 64;

const PLACEHOLDER = /<<host>>|\{\{host\}\}/g;
const HAS_PLACEHOLDER = /<<host>>|\{\{host\}\}/;

/** Escapes every character that has a meaning in a regular expression. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** The Origin a client sent: `Origin`, or `Sec-WebSocket-Origin` for protocol version 8. */
export function requestOrigin(req: IncomingMessage): string | undefined {
  const origin =
    req.headers["sec-websocket-version"] === "8"
      ? (req.headers["sec-websocket-origin"] ?? req.headers.origin)
      : req.headers.origin;
  return Array.isArray(origin) ? origin[0] : origin;
}

function compileSource(source: string): RegExp {
  try {
    return new RegExp(`^(?:${source})`, "i");
  } catch (error) {
    throw new TypeError(
      `options.allowedOrigin is not a valid regular expression: ${JSON.stringify(source)} ` +
        `(${(error as Error).message})`,
      { cause: error },
    );
  }
}

/** A matcher for a string pattern: compiled once, or once per Host when it has a placeholder. */
function stringMatcher(pattern: string): (origin: string, req: IncomingMessage) => boolean {
  if (!HAS_PLACEHOLDER.test(pattern)) {
    const re = compileSource(pattern);
    return (origin) => re.test(origin);
  }
  // Validate the pattern now (with a harmless host) so a bad regex throws at the factory call.
  compileSource(pattern.replace(PLACEHOLDER, "host"));
  const cache = new Map<string, RegExp>();
  return (origin, req) => {
    const host = req.headers.host;
    if (host === undefined || host === "") return false; // nothing to be the same origin as
    const key = host.toLowerCase();
    let re = cache.get(key);
    if (re === undefined) {
      const escaped = escapeRegExp(key);
      re = new RegExp(`^(?:${pattern.replace(PLACEHOLDER, () => escaped)})`, "i");
      if (cache.size >= HOST_CACHE_LIMIT) cache.clear();
      cache.set(key, re);
    }
    return re.test(origin);
  };
}

/**
 * Compiles `allowedOrigin` once (a factory call) into a request check. A request without an
 * Origin header (not a browser) passes unless `requireOrigin` is true. The origin is matched
 * lower-cased (a RegExp or a predicate sees it so; string patterns also ignore case). Throws
 * TypeError on a bad pattern. A predicate that throws makes the check throw: the factory turns
 * that into a 500.
 */
export function compileOriginCheck(
  allowedOrigin: AllowedOrigin = DEFAULT_ALLOWED_ORIGIN,
  requireOrigin = false,
): (req: IncomingMessage) => boolean {
  let match: (origin: string, req: IncomingMessage) => boolean;
  if (typeof allowedOrigin === "string") {
    match = stringMatcher(allowedOrigin);
  } else if (allowedOrigin instanceof RegExp) {
    // Drop `g` and `y`: they make test() stateful, so the same origin would pass every other time.
    const re = new RegExp(allowedOrigin.source, allowedOrigin.flags.replace(/[gy]/g, ""));
    match = (origin) => re.test(origin);
  } else if (typeof allowedOrigin === "function") {
    match = allowedOrigin;
  } else {
    throw new TypeError(
      "options.allowedOrigin must be a string (regex source), a RegExp or a function (origin, req) => boolean",
    );
  }
  if (typeof requireOrigin !== "boolean") {
    throw new TypeError("options.requireOrigin must be a boolean");
  }
  return function checkOrigin(req: IncomingMessage): boolean {
    const origin = requestOrigin(req);
    if (origin === undefined) return !requireOrigin;
    return match(origin.toLowerCase(), req) === true;
  };
}
