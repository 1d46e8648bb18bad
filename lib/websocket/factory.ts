// The WebSocket middleware factories, Martini's shape: `sockets.json(schema?)`,
// `sockets.messages()` and `sockets.bytes()`. Each call resolves its options and builds one
// `ws` server once; each request then goes through the checks (upgrade? 405, 403, 400), the
// handshake, `bind()`, and `next()` with the connection on `res.locals.socket`.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Response } from "express";
import { WebSocketServer, type WebSocket } from "ws";
import { bytesCodec, jsonCodec, textCodec, type Codec, type JsonInput } from "../core/codec";
import { bind, type Connection } from "./connection";
import {
  checkHandshake,
  notAnUpgrade,
  originForLog,
  wantsWebSocket,
  type Refusal,
} from "./handshake";
import { resolveOptions, type ResolvedOptions, type SocketOptions } from "../core/options";
import type { Schema } from "../core/schema";
import type { SocketLocals } from "../core/socket";
import { attachedServer, remoteOf, upgradeOf, type Upgrade } from "./upgrade";

/**
 * What `sockets.json()` can send: any JSON-serialisable value. Object types declared with
 * `type` (and zod's inferred types) fit; for an `interface`, pass it as the second type
 * argument: `sockets.json<typeof Schema, MyInterface>(Schema)`.
 */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined }
  | { toJSON(key?: string): unknown };

/**
 * What the sender of `sockets.json(schema)` takes: any JSON-serialisable value when there is a
 * schema; `unknown` without one, where nothing is typed (so a received `unknown` can be echoed).
 * Either way a value JSON cannot encode rejects the send at run time.
 */
export type JsonOutput<S> = [S] extends [undefined] ? unknown : JsonValue;

/**
 * The handler a factory returns: an Express `RequestHandler` whose Locals type carries the
 * socket, so the next handler of the same route sees `res.locals.socket` typed, without casts.
 * Its request is typed as a plain `IncomingMessage` on purpose: that gives Express's overloads
 * nothing to infer the route parameters from, so `req.params` keeps the route's own types
 * (`/rooms/:room` gives `req.params.room: string`). It fits `RequestHandler<P, unknown, any,
 * any, SocketLocals<In, Out>>` for every `P`, and works with `app.get`, routers and `app.use`.
 */
export interface SocketHandler<In, Out = In> {
  (req: IncomingMessage, res: Response<unknown, SocketLocals<In, Out>>, next: NextFunction): void;
}

/** Headers of the 101 that middleware must not override. */
const OWN_HEADERS = new Set([
  "connection",
  "upgrade",
  "content-length",
  "content-type",
  "transfer-encoding",
  "keep-alive",
  "sec-websocket-accept",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  "sec-websocket-version",
]);

/** Adds headers set on `res` before the factory (a session's Set-Cookie...) to the 101. */
function forwardHeaders(headers: string[], req: IncomingMessage): void {
  const res = upgradeOf(req)?.res;
  if (res === undefined) return;
  for (const name of res.getHeaderNames()) {
    if (OWN_HEADERS.has(name)) continue;
    const value = res.getHeader(name);
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.push(`${name}: ${String(v)}`);
  }
}

/** Makes the connection of an accepted socket: `bind`, or a Connection subclass's own. */
export type Binder<In, Out> = (
  ws: WebSocket,
  codec: Codec<In, Out>,
  options: ResolvedOptions,
  remote: string,
) => Connection<In, Out>;

/** @internal Everything a factory derives once from its arguments. */
export interface Factory<In, Out> {
  readonly name: string;
  readonly codec: Codec<In, Out>;
  readonly options: ResolvedOptions;
  readonly wss: WebSocketServer;
  readonly bind: Binder<In, Out>;
}

/**
 * @internal Resolves the options and builds the factory's ws server, once. `binder` makes each
 * connection (sockets.events binds its own Connection subclass); `bind` by default.
 */
export function createFactory<In, Out>(
  name: string,
  codec: Codec<In, Out>,
  options: SocketOptions | undefined,
  binder: Binder<In, Out> = bind,
): Factory<In, Out> {
  const resolved = resolveOptions(options);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: resolved.maxMessageSize,
    perMessageDeflate: false,
    clientTracking: false,
  });
  wss.on("headers", forwardHeaders);
  return { name, codec, options: resolved, wss, bind: binder };
}

/** Writes a refusal as a plain HTTP answer on a request that did not come through attach(). */
function refuseDirect(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) return;
  const body = Buffer.from(refusal.message + "\n");
  res.statusCode = refusal.status;
  if (refusal.headers !== undefined) {
    for (const [k, v] of Object.entries(refusal.headers)) res.setHeader(k, v);
  }
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("Content-Length", body.length);
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.end(body);
}

function refuse(f: Factory<unknown, unknown>, upgrade: Upgrade, refusal: Refusal): void {
  const log = f.options.log;
  if (refusal.status === 403) {
    log.warning(upgrade.remote, `Origin not allowed: ${originForLog(upgrade.req)}`);
  } else {
    log.info(upgrade.remote, `Handshake refused with ${refusal.status}: ${refusal.message}`);
  }
  upgrade.answer(refusal.status, refusal.message, refusal.headers);
}

/** @internal One request through a factory: the checks, the handshake, bind, then the next handler. */
export function handle<In, Out>(
  f: Factory<In, Out>,
  req: IncomingMessage,
  res: ServerResponse & { locals?: Record<string, unknown> },
  next: (err?: unknown) => void,
): void {
  const upgrade = upgradeOf(req);
  if (upgrade === undefined || !wantsWebSocket(req)) {
    const refusal = notAnUpgrade(req, attachedServer(req));
    if (f.options.log.enabled("info")) {
      f.options.log.info(
        remoteOf(req),
        `Refused a request that is not a WebSocket upgrade: ${refusal.message}`,
      );
    }
    if (upgrade !== undefined) upgrade.answer(refusal.status, refusal.message, refusal.headers);
    else refuseDirect(res, refusal);
    return;
  }
  if (!upgrade.open) {
    if (upgrade.upgraded) {
      // A second factory on the request's path (app.use(sockets.x()) and a route's own): the
      // first one owns the socket, and the handlers after this one never run. A setup mistake.
      f.options.log.warning(
        upgrade.remote,
        `${f.name}: this connection was already bound by an earlier sockets factory on the ` +
          "same request; only the first one takes effect and the handlers after this one do not run",
      );
      return;
    }
    // Timed out, answered, or the client left while earlier middleware ran.
    f.options.log.debug(upgrade.remote, `${f.name}: the upgrade request is no longer open`);
    return;
  }
  if (upgrade.closing) {
    upgrade.answer(503, "Server is shutting down", { "Retry-After": "1" });
    return;
  }
  const refusal = checkHandshake(req, upgrade.method, f.options.checkOrigin);
  if (refusal !== null) {
    refuse(f as Factory<unknown, unknown>, upgrade, refusal);
    return;
  }
  if (!upgrade.claim()) return;
  let ws: WebSocket | undefined;
  try {
    f.wss.handleUpgrade(req, upgrade.socket, upgrade.head, (client) => {
      ws = client;
    });
  } catch (err) {
    // ws throws when a socket is upgraded twice (another upgrade listener on the server).
    upgrade.abandon();
    throw err;
  }
  if (ws === undefined) {
    // ws answered (or destroyed the socket) itself: the client left, or a header it refuses.
    f.options.log.info(upgrade.remote, "Handshake failed");
    upgrade.abandon();
    return;
  }
  // The address only names the client in log lines: a route that logs nothing keeps none.
  const remote = f.options.log.enabled("error") ? upgrade.remote : "";
  const connection = f.bind(ws, f.codec, f.options, remote);
  upgrade.adopt(connection, f.options.log);
  (res.locals ??= {}).socket = connection; // Express creates locals; a bare router may not
  f.options.log.info(remote, "Connection established");
  next();
}

/**
 * JSON messages: the receiver yields parsed values, validated by `schema` (a Standard Schema
 * such as zod, or a type guard) and typed from it; the sender takes any JSON-serialisable value
 * (`JsonValue`; `unknown` when there is no schema; or name it: `json<typeof S, Out>(S)`).
 * Throws TypeError/RangeError here, at the call, for a bad schema or option.
 */
export function json<S extends Schema | undefined = undefined, Out = JsonOutput<S>>(
  schema?: S,
  options?: SocketOptions,
): SocketHandler<JsonInput<S>, Out> {
  if (
    typeof schema === "object" &&
    schema !== null &&
    !("~standard" in schema) &&
    options === undefined
  ) {
    throw new TypeError(
      "sockets.json(schema?, options?): the first argument must be a schema (Standard Schema or " +
        "type guard); to pass only options, write sockets.json(undefined, options)",
    );
  }
  const f = createFactory("sockets.json", jsonCodec(schema) as Codec<JsonInput<S>, Out>, options);
  return function socketsJson(req, res, next) {
    handle(f, req, res, next);
  };
}

/** Text messages: `string` in, `string` out, as text frames. */
export function messages(options?: SocketOptions): SocketHandler<string, string> {
  const f = createFactory("sockets.messages", textCodec(), options);
  return function socketsMessages(req, res, next) {
    handle(f, req, res, next);
  };
}

/** Binary messages: a `Buffer` in, any `Uint8Array` out, as binary frames. */
export function bytes(options?: SocketOptions): SocketHandler<Buffer, Uint8Array> {
  const f = createFactory("sockets.bytes", bytesCodec(), options);
  return function socketsBytes(req, res, next) {
    handle(f, req, res, next);
  };
}
