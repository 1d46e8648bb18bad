// The shape of an upgrade request and its response, fixed before Express sees them.
//
// Express swaps the prototypes of `req` and `res` (to `app.request`/`app.response`) before it
// routes. V8 then gives every property added to those objects afterwards a new hidden class per
// request instead of a shared transition: about 3.7 µs per added property (measured on Node 20)
// and maps that live as long as the objects. The properties Express's router adds, and the
// response methods that turn inert after a handshake, are therefore declared here on the fresh
// objects, where every request shares one chain of hidden classes. Nothing is declared that the
// app's prototypes define (Express 5's `req.query` is a getter there): no getter is shadowed.

import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname } from "node:path";

/** What owns an upgrade request: found through `req[kOwner]`, told of late answers. */
export interface ResponseOwner {
  /** True once the response was handed over to a WebSocket handshake: answers go nowhere. */
  readonly inert: boolean;
  /** Something wrote an HTTP answer after the handshake. */
  lateAnswer(): void;
}

export const kOwner: unique symbol = Symbol("express-sockets.upgrade");

/** What Express's router (and Express's app.handle) add to a request while routing it. */
const REQUEST_PROPERTIES = ["next", "baseUrl", "originalUrl", "_parsedUrl", "params", "route"];
/** What Express adds to a response: `res.locals`. */
const RESPONSE_PROPERTIES = ["locals"];
/** What the response inherits and Express sets on it (`res.status()`): given an own copy. */
const RESPONSE_INHERITED = ["statusCode"];

let routerKeys: readonly symbol[] | null = null;

/**
 * The symbols Express's router (router 2.3+: `lib/symbols.js`) sets on each request it routes,
 * from the copy of the router the installed Express uses. None when there is no such file:
 * this only saves time, and a symbol of another copy would merely stay undefined.
 */
function routerSymbols(): readonly symbol[] {
  if (routerKeys !== null) return routerKeys;
  routerKeys = [];
  try {
    const load = createRequire(__filename);
    const express = load.resolve("express");
    const file = load.resolve("router/lib/symbols.js", { paths: [dirname(express)] });
    const exported = load(file) as Record<string, unknown>;
    routerKeys = Object.values(exported).filter((v): v is symbol => typeof v === "symbol");
  } catch {
    // Express 4, another router, or no Express resolvable from here.
  }
  return routerKeys;
}

type Method = (this: ServerResponse, ...args: unknown[]) => unknown;

function ownerOf(res: ServerResponse): ResponseOwner | undefined {
  return (res.req as { [kOwner]?: ResponseOwner } | undefined)?.[kOwner];
}

/**
 * A response method that is inert once the owner handed the socket over, and otherwise calls
 * the method the response would have inherited (looked up on its prototype at the call, so
 * Express's prototype swaps, in and out of mounted apps, are followed).
 */
function guarded(name: "writeHead" | "write" | "end" | "flushHeaders", inert: unknown): Method {
  return {
    [name](this: ServerResponse, ...args: unknown[]): unknown {
      const owner = ownerOf(this);
      if (owner?.inert === true) {
        owner.lateAnswer();
        return inert === SELF ? this : inert;
      }
      const inherited = (Object.getPrototypeOf(this) as Record<string, Method>)[name] as Method;
      return Reflect.apply(inherited, this, args);
    },
  }[name] as Method;
}

const SELF = Symbol("this");

const RESPONSE_METHODS: readonly [string, Method][] = [
  ["writeHead", guarded("writeHead", SELF)],
  ["write", guarded("write", false)],
  ["end", guarded("end", SELF)],
  ["flushHeaders", guarded("flushHeaders", undefined)],
];

/** `headersSent` as Node computes it, and true once the handshake took the socket. */
const HEADERS_SENT: PropertyDescriptor = Object.freeze({
  configurable: true,
  enumerable: false,
  get: function headersSent(this: ServerResponse): boolean {
    return Boolean((this as { _header?: unknown })._header) || ownerOf(this)?.inert === true;
  },
});

function prototypeOf(app: unknown, key: "request" | "response"): object | null {
  const proto = (app as Record<string, unknown> | null)?.[key];
  return typeof proto === "object" && proto !== null ? proto : null;
}

/**
 * Declares the properties on a fresh request and response, before `app(req, res)`. `app` is
 * the attached app: its `request`/`response` prototypes, when it has them (Express), are
 * checked so that nothing they define is shadowed.
 */
export function declareShape(
  req: IncomingMessage,
  res: ServerResponse,
  app: unknown,
  owner: ResponseOwner,
): void {
  (req as { [kOwner]?: ResponseOwner })[kOwner] = owner;
  const appRequest = prototypeOf(app, "request");
  const appResponse = prototypeOf(app, "response");
  const request = req as unknown as Record<string, unknown>;
  for (const key of REQUEST_PROPERTIES) {
    if (!(key in req) && (appRequest === null || !(key in appRequest))) request[key] = undefined;
  }
  const symbols = request as Record<symbol, unknown>;
  for (const key of routerSymbols()) if (!(key in req)) symbols[key] = undefined;
  const response = res as unknown as Record<string, unknown>;
  for (const key of RESPONSE_PROPERTIES) {
    if (!(key in res) && (appResponse === null || !(key in appResponse))) {
      response[key] = undefined;
    }
  }
  for (const key of RESPONSE_INHERITED) {
    if (!Object.hasOwn(res, key)) response[key] = Reflect.get(res, key);
  }
  for (const [key, method] of RESPONSE_METHODS) response[key] = method;
  Object.defineProperty(res, "headersSent", HEADERS_SENT);
}
