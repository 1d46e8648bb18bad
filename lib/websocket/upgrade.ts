// attach(server, app): routes every WebSocket upgrade request through the Express app *before*
// any handshake, so middleware can answer with real HTTP (401, 404, 429...). The life of one
// upgrade request, in order:
//
//   'upgrade' event ──► ServerResponse on the raw socket, method set to GET ──► app(req, res)
//      │                                                                            │
//      │  attachment closed: 503                 a sockets factory claims it ◄──────┤
//      │                                            (checks, handshake, bind, next) │
//      │  nobody answers in handshakeTimeout: 503                                   │
//      ▼                                         the app answers (404, 401...) ◄────┘
//   socket closed after the answer is written; never accepted-then-closed.
//
// After the handshake the request belongs to the connection: an error reaching the end of the
// app, or any attempt to write an HTTP answer on `res` (an error middleware), closes it with 1011.

import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type https from "node:https";
import type { Express, Router } from "express";
import type { Socket as NetSocket } from "node:net";
import type { Duplex } from "node:stream";
import { createLog, type Log, type LoggerLike, type LogLevel } from "../core/logger";
import { ChannelClosedError } from "../core/errors";
import type { Socket } from "../core/socket";
import { wantsWebSocket } from "./handshake";
import { checkKeys, checkTime, keysOf } from "../core/options";
import { declareShape, kOwner, type ResponseOwner } from "./shape";
import { registryFor, type ConnectionRegistry, type TrackedConnection } from "../core/registry";

/** Options of `attach()`. */
export interface AttachOptions {
  /** Where the attachment's own lines go (unknown paths, timeouts, handler errors). Defaults to stdout. */
  logger?: LoggerLike;
  /** The most verbose level written. Defaults to `"info"`. */
  logLevel?: LogLevel;
  /** No logging at all. Defaults to `false`. */
  skipLogging?: boolean;
  /**
   * How long the app may take to answer an upgrade request or hand it to a sockets factory,
   * in ms. After that the client gets **503** and the socket is closed (a middleware that
   * neither answers nor calls `next` cannot hold a socket forever). `0` = no limit.
   * Defaults to `10000`.
   */
  handshakeTimeout?: number;
}

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * How long to wait for connections to flush and close, in ms; the rest are then terminated.
   * `0` terminates them at once, without waiting for queued messages. Defaults to `10000`.
   */
  timeout?: number;
}

/** What `attach()` returns. */
export interface Attachment {
  /**
   * Closes every open connection of the server after flushing what is queued, and resolves when
   * all are closed (terminating those still open after `timeout`): WebSockets with 1001, Server-
   * Sent Events streams with a final `: server shutting down` comment and the end of the
   * response. Upgrade requests still in middleware get 503 at once (so `server.close()` is not
   * held up by them), and so do new upgrades and SSE requests from then on. Idempotent: later
   * calls return the same promise.
   */
  close(options?: CloseOptions): Promise<void>;
  /** Open connections: WebSockets and Server-Sent Events streams. */
  readonly size: number;
  /**
   * The open connections of every route, WebSocket and Server-Sent Events alike, in the order
   * they opened, as `res.locals.socket` gave them: a registry like ws's `wss.clients`, kept at no
   * extra cost (the attachment tracks them for `close()` anyway). A connection leaves it
   * synchronously once it has closed, right after its `done` channel has the close (one still
   * closing is listed, with its sender closed). Iterating while connections close is safe:
   * `broadcast(upgrades, msg)`. SSE streams of requests that arrived before `attach()` was
   * called are not listed.
   */
  [Symbol.iterator](): IterableIterator<Socket<unknown, unknown>>;
}

/** A connect-style handler: what `attach()` calls with each upgrade request. */
export type UpgradeHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => unknown;

/** What `attach()` routes through: an Express app, an Express Router, or any connect-style handler. */
export type UpgradeApp = Express | Router | UpgradeHandler;

/** What the attachment needs of a bound connection (part of `Connection`). */
export type LiveConnection = TrackedConnection;

const ATTACH_OPTION_KEYS = keysOf<AttachOptions>()([
  "logger",
  "logLevel",
  "skipLogging",
  "handshakeTimeout",
]);

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
const DEFAULT_CLOSE_TIMEOUT = 10_000;
/** Longest request path echoed back in a 404 body. */
const MAX_ECHOED_PATH = 200;

const kAttached = Symbol("express-sockets.attached");

/** Where one upgrade request stands. States only move forward, from ROUTING. */
const ROUTING = 0; // running through the app; the socket is ours to answer on
const UPGRADED = 1; // a factory completed the handshake; the socket belongs to the connection
const ANSWERED = 2; // an HTTP answer was written (by the app, a factory, or a timeout)
const GONE = 3; // the socket closed or errored before anything else happened

/** Status codes the final handler will answer with for an error's `status`. */
function errorStatus(err: unknown): number {
  const e = err as { status?: unknown; statusCode?: unknown } | null;
  const status = typeof e?.status === "number" ? e.status : e?.statusCode;
  return typeof status === "number" && Number.isInteger(status) && status >= 400 && status < 600
    ? status
    : 500;
}

/** The parts of `res.locals.socket` a handler reaches for first. */
const SOCKET_PARTS = /'(receiver|sender|done|disconnect|error|id|transport)'|res\.locals\.socket/;

/**
 * True for the TypeError a handler throws when it reads `res.locals.socket` on a route without a
 * sockets factory ("Cannot destructure property 'receiver' of 'res.locals.socket' as it is
 * undefined", "Cannot read properties of undefined (reading 'sender')").
 */
function usedMissingSocket(err: unknown, res: ServerResponse): boolean {
  if (!(err instanceof TypeError)) return false;
  const locals = (res as { locals?: Record<string, unknown> }).locals;
  if (locals?.socket !== undefined) return false;
  return (
    /Cannot (destructure|read properties of undefined)/.test(err.message) &&
    SOCKET_PARTS.test(err.message)
  );
}

function isChannelClosed(err: unknown): boolean {
  return err instanceof ChannelClosedError;
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * "address:port" of the client, as one flat string: it lives as long as the connection, and a
 * concatenation would keep three strings (the parts and the rope) instead of one.
 */
export function remoteOf(req: IncomingMessage): string {
  const s = req.socket;
  const remote =
    s.remotePort === undefined ? String(s.remoteAddress) : `${s.remoteAddress}:${s.remotePort}`;
  return Buffer.from(remote, "latin1").toString("latin1");
}

/**
 * One upgrade request on its way through the app. Factories find it on the request through
 * `upgradeOf(req)` and claim it; the attachment answers it when nobody does.
 */
export class Upgrade implements ResponseOwner {
  /** The client's original method (the app sees GET). */
  readonly method: string;
  /**
   * "address:port" for log lines. Read from the socket (which makes Node cache the peer address
   * on it) at once when the attachment logs, since a line may come after the socket has closed;
   * otherwise only when a factory's log asks for it, while the socket is alive. A server that
   * logs nothing keeps neither string per connection.
   */
  private remote_: string | undefined;
  private state = ROUTING;
  private timer: NodeJS.Timeout | null = null;
  private connection: LiveConnection | null = null;
  private lateReported = false;
  /** Set once the socket is handed to the handshake: `res` no longer answers anything. */
  private handedOver = false;
  private internalClosed = false;
  /** The factory's log, for lines about the connection once it is bound. */
  private connectionLog: Log | null = null;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly socket: Duplex,
    /** What the client sent after the request head: for the handshake, then let go. */
    public head: Buffer,
    private readonly attachment: AttachmentImpl,
  ) {
    this.method = req.method ?? "GET";
    if (attachment.log.enabled("error")) this.remote_ = remoteOf(req);
    socket.on("error", this.onSocketError);
    socket.on("close", this.onSocketClose);
    res.on("finish", this.onFinish);
    res.on("error", this.onResponseError);
    attachment.pending.add(this);
    const ms = attachment.handshakeTimeout;
    if (ms > 0) {
      this.timer = setTimeout(upgradeTimedOut, ms, this);
      this.timer.unref();
    }
  }

  /** Where the request came from, for log lines. */
  get remote(): string {
    return (this.remote_ ??= remoteOf(this.req));
  }

  /** The attachment's log (for lines that are not about one factory). */
  get log(): Log {
    return this.attachment.log;
  }

  /** True once the attachment was closed: new handshakes get 503. */
  get closing(): boolean {
    return this.attachment.closed;
  }

  /**
   * True while nobody answered or upgraded and the socket is alive: a factory may claim it.
   * An answer the app has started (`res.status(401).send()` then `next()` by mistake) counts
   * as answered at once, before its 'finish': the socket is no longer ours to upgrade.
   */
  get open(): boolean {
    return this.state === ROUTING && !this.res.headersSent && !this.res.writableEnded;
  }

  /** Internal: true once the response was handed over to the handshake (see shape.ts). */
  get inert(): boolean {
    return this.handedOver;
  }

  /** True once a factory completed the handshake: the socket belongs to a connection. */
  get upgraded(): boolean {
    return this.state === UPGRADED;
  }

  /**
   * Hands the socket over for the handshake: stops the timer, detaches the response and our
   * listeners (ws installs its own). Returns false if the request is no longer open.
   */
  claim(): boolean {
    if (!this.open) return false;
    this.state = UPGRADED;
    this.stop();
    const res = this.res;
    res.detachSocket(this.socket as NetSocket);
    res.off("finish", this.onFinish);
    this.socket.off("close", this.onSocketClose);
    this.socket.off("error", this.onSocketError);
    // Let the three closures go: a handler that holds the request keeps this object alive.
    this.onFinish = this.onSocketClose = this.onSocketError = RELEASED;
    // The 101 is about to go out: make `res` say so (headersSent is true from now on), and
    // turn any later answer (an error middleware's 500) into a 1011 close instead of bytes
    // written into the WebSocket stream: the response methods declared by shape.ts see this.
    res.statusCode = 101;
    this.handedOver = true;
    return true;
  }

  /** The handshake completed: the connection is tracked until it closes. */
  adopt(connection: LiveConnection, log: Log): void {
    this.head = NO_HEAD; // ws has it now; a handler holding the request must not keep it
    this.connection = connection;
    this.connectionLog = log;
    this.attachment.track(connection);
    // Nothing here may subscribe to the connection: whatever the connection references lives as
    // long as it does, and this object holds the request, the response and the handshake's
    // closures. `ended` asks the connection instead (it is only needed when a handler fails).
  }

  /** True once the connection is closing or closed, or we closed it ourselves. */
  private get ended(): boolean {
    return this.internalClosed || this.connection?.sender.closed === true;
  }

  /** The handshake did not complete after `claim()` (ws refused it): nothing is tracked. */
  abandon(): void {
    this.state = GONE;
    if (!this.socket.destroyed) this.socket.destroy();
  }

  /** The final handler of `app(req, res, done)`: whatever reaches the end of the app. */
  readonly done = (err?: unknown): void => {
    if (this.state === UPGRADED) {
      if (err !== undefined && err !== null) this.fail(err);
      return;
    }
    if (this.state !== ROUTING) return;
    const res = this.res;
    if (err !== undefined && err !== null) {
      const status = errorStatus(err);
      if (usedMissingSocket(err, res)) {
        const path = (this.req as { originalUrl?: string }).originalUrl ?? this.req.url ?? "/";
        this.log.error(
          this.remote,
          `Upgrade request ${path.slice(0, MAX_ECHOED_PATH)} failed: a handler used ` +
            "res.locals.socket, but no sockets factory ran before it on this route: put " +
            "sockets.json(), sockets.messages(), sockets.bytes() or sockets.sse() before the " +
            `handler, as in app.get(path, sockets.messages(), handler). (${(err as Error).message})`,
        );
      } else if (status >= 500)
        this.log.error(this.remote, `Upgrade request failed: ${describeError(err)}`);
      else this.log.info(this.remote, `Upgrade request refused with ${status}`);
      if (res.headersSent) return this.destroy();
      this.answer(status, http.STATUS_CODES[status] ?? "Error");
      return;
    }
    if (res.headersSent) return this.destroy();
    const path = (this.req as { originalUrl?: string }).originalUrl ?? this.req.url ?? "/";
    this.log.debug(this.remote, `No route took the upgrade request ${this.method} ${path}`);
    this.answer(404, `Cannot ${this.method} ${path.slice(0, MAX_ECHOED_PATH)}`);
  };

  /** Writes a short plain-text answer and closes the socket after it. */
  answer(status: number, message: string, headers?: Record<string, string>): void {
    if (this.state !== ROUTING) return;
    const res = this.res;
    if (res.headersSent) return this.destroy();
    const body = Buffer.from(message + "\n");
    res.statusCode = status;
    if (headers !== undefined) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.setHeader("Content-Length", body.length);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.end(body);
  }

  /** A handler after the handshake threw or rejected: close with 1011, log, keep serving. */
  private fail(err: unknown): void {
    const log = this.connectionLog ?? this.log;
    if (isChannelClosed(err) && this.ended) {
      // A send that lost the race with the end of the connection (the client left, the
      // server is shutting down): how handlers normally end, not a failure to report.
      log.debug(this.remote, "Handler ended: it sent after the connection closed");
      return;
    }
    log.error(this.remote, `Handler failed, closing with 1011: ${describeError(err)}`);
    this.closeInternal();
  }

  /**
   * Internal: something wrote an HTTP answer on `res` after the handshake (the response methods
   * declared in shape.ts call this once `inert`). An error status (an error middleware's 500)
   * means a handler failed: close with 1011. Anything else (a handler's habitual `res.end()`)
   * cannot reach the client and is ignored, as it is once the connection has closed.
   */
  lateAnswer(): void {
    if (this.lateReported) return;
    this.lateReported = true;
    const status = this.res.statusCode;
    const log = this.connectionLog ?? this.log;
    if (status < 400 || this.ended) {
      log.debug(this.remote, `Ignored an HTTP answer (${status}) written after the handshake`);
      return;
    }
    log.error(
      this.remote,
      `The app answered HTTP ${status} after the WebSocket handshake (a handler failed?); ` +
        "closing with 1011",
    );
    this.closeInternal();
  }

  private closeInternal(): void {
    const connection = this.connection;
    if (connection === null || this.ended) return;
    this.internalClosed = true;
    connection.close(1011, "Internal error").catch(() => connection.terminate());
  }

  private onFinish = (): void => {
    if (this.state !== ROUTING) return;
    this.state = ANSWERED;
    this.stop();
    const s = this.socket as NetSocket;
    // Close after the answer is flushed (we sent `Connection: close`).
    if (typeof s.destroySoon === "function") s.destroySoon();
    else s.end();
  };

  /** @internal The handshake timeout (a shared function calls it: no closure per request). */
  timedOut(): void {
    this.timer = null;
    if (this.state !== ROUTING) return;
    const ms = this.attachment.handshakeTimeout;
    this.log.warning(
      this.remote,
      `Upgrade request ${this.method} ${this.req.url ?? "/"} got no answer within ${ms} ms; answering 503`,
    );
    this.answer(503, `Handshake timed out: the server did not answer within ${ms} ms`);
  }

  private onSocketError = (err: Error): void => {
    this.log.debug(this.remote, `Socket error during the upgrade request: ${err.message}`);
    this.destroy();
  };

  private onSocketClose = (): void => {
    if (this.state === ROUTING) this.state = GONE;
    this.stop();
  };

  private readonly onResponseError = (err: Error): void => {
    this.log.debug(this.remote, `Response error during the upgrade request: ${err.message}`);
  };

  private destroy(): void {
    if (this.state === ROUTING) this.state = GONE;
    this.stop();
    if (!this.socket.destroyed) this.socket.destroy();
  }

  private stop(): void {
    this.attachment.pending.delete(this);
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

/** What the routing-time listeners of an Upgrade become once they are removed. */
function RELEASED(): void {}

function upgradeTimedOut(upgrade: Upgrade): void {
  upgrade.timedOut();
}

/** `Upgrade.head` once the handshake has used it. */
const NO_HEAD = Buffer.alloc(0);

/** True when the request arrived on a server that `attach()` was called for. */
export function attachedServer(req: IncomingMessage): boolean {
  const server = (req.socket as { server?: { [kAttached]?: true } } | null)?.server;
  return server?.[kAttached] === true;
}

/** The upgrade a request belongs to, if it came through `attach()`. */
export function upgradeOf(req: IncomingMessage): Upgrade | undefined {
  const owner = (req as { [kOwner]?: ResponseOwner })[kOwner];
  return owner instanceof Upgrade ? owner : undefined;
}

class AttachmentImpl implements Attachment {
  readonly log: Log;
  readonly handshakeTimeout: number;
  /** Upgrade requests still in the app (not answered, upgraded or gone). */
  readonly pending = new Set<Upgrade>();
  private closing: Promise<void> | null = null;

  constructor(
    private readonly app: UpgradeHandler,
    options: AttachOptions,
    /** The server's open connections: this attachment's WebSockets and the server's SSE streams. */
    private readonly connections: ConnectionRegistry,
  ) {
    this.log = createLog(options);
    this.handshakeTimeout = checkTime(
      "handshakeTimeout",
      options.handshakeTimeout,
      DEFAULT_HANDSHAKE_TIMEOUT,
    );
  }

  /** True once close() was called: new upgrades (and SSE requests) get 503. */
  get closed(): boolean {
    return this.connections.closed;
  }

  get size(): number {
    return this.connections.size;
  }

  [Symbol.iterator](): IterableIterator<Socket<unknown, unknown>> {
    return this.connections.values();
  }

  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const previous = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
    if (previous !== undefined && previous !== null) {
      this.afterPrevious(previous, req, socket, head);
      return;
    }
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false; // `Connection: close`: one answer, then the socket closes
    res.assignSocket(socket as NetSocket);
    const upgrade = new Upgrade(req, res, socket, head, this);
    if (this.closed) {
      upgrade.answer(503, "Server is shutting down", { "Retry-After": "1" });
      return;
    }
    declareShape(req, res, this.app, upgrade);
    // A WebSocket upgrade runs as a GET so `app.get` routes match (the factory answers 405 to
    // the original method). Other protocols (h2c...) keep their method: the app answers them
    // as the plain HTTP requests they also are.
    if (wantsWebSocket(req)) req.method = "GET";
    try {
      this.app(req, res, upgrade.done);
    } catch (err) {
      upgrade.done(err);
    }
  };

  /**
   * An upgrade request pipelined behind a plain request whose answer is still being written on
   * the same keep-alive connection: HTTP/1.1 answers in order, so it waits for that answer to
   * finish, then goes through the app like any other (or is dropped with the connection, if
   * that answer ended it). Node emits 'upgrade' without waiting, and a second response on the
   * socket would throw ERR_HTTP_SOCKET_ASSIGNED out of the listener and crash the process.
   */
  private afterPrevious(
    previous: ServerResponse,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ): void {
    const remote = remoteOf(req);
    this.log.debug(remote, "Upgrade request pipelined behind an unfinished answer: waiting for it");
    let timer: NodeJS.Timeout | null = null;
    const cleanup = (): void => {
      previous.off("finish", onFinish);
      socket.off("close", cleanup);
      socket.off("error", onError);
      if (timer !== null) clearTimeout(timer);
    };
    const onError = (err: Error): void => {
      this.log.debug(remote, `Socket error during the upgrade request: ${err.message}`);
      cleanup();
      socket.destroy();
    };
    // Node's own 'finish' listener runs first and frees the socket (or ends the connection).
    const onFinish = (): void => {
      cleanup();
      const taken = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
      if (socket.destroyed || !socket.writable || (taken !== undefined && taken !== null)) {
        socket.destroy();
        return;
      }
      this.onUpgrade(req, socket, head);
    };
    previous.on("finish", onFinish);
    socket.on("close", cleanup);
    socket.on("error", onError);
    if (this.handshakeTimeout > 0) {
      timer = setTimeout(() => {
        this.log.warning(remote, "The answer ahead of a pipelined upgrade request never finished");
        cleanup();
        socket.destroy();
      }, this.handshakeTimeout);
      timer.unref();
    }
  }

  track(connection: LiveConnection): void {
    this.connections.track(connection);
  }

  close(options?: CloseOptions): Promise<void> {
    if (this.closing !== null) return this.closing;
    const timeout = checkTime("timeout", options?.timeout, DEFAULT_CLOSE_TIMEOUT);
    this.connections.closed = true;
    // Requests still in middleware would hold their sockets (and server.close()) until their
    // handshake timeout, or forever without one: answer them now, as new ones are answered.
    // (An answer the app has already started is left to finish.)
    for (const upgrade of [...this.pending]) {
      if (upgrade.open) upgrade.answer(503, "Server is shutting down", { "Retry-After": "1" });
    }
    const all = [...this.connections.values()].map((c) =>
      c.close(1001, "Server shutting down", timeout).catch(() => c.terminate()),
    );
    this.closing = Promise.all(all).then(() => undefined);
    this.log.debug("server", `Closing ${all.length} connection(s) with 1001`);
    return this.closing;
  }
}

/**
 * Routes every upgrade request on `server` through `app` (as a GET, before any handshake).
 * Call it once per server. Throws TypeError for bad arguments or a second attach.
 */
export function attach(
  server: http.Server | https.Server,
  app: UpgradeApp,
  options: AttachOptions = {},
): Attachment {
  if (
    typeof server !== "object" ||
    server === null ||
    typeof (server as { on?: unknown }).on !== "function"
  ) {
    throw new TypeError("attach(server, app): server must be an http or https server");
  }
  if (typeof app !== "function") {
    throw new TypeError("attach(server, app): app must be an Express app or router");
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError("attach(server, app, options): options must be an object");
  }
  const marked = server as { [kAttached]?: true };
  if (marked[kAttached] === true) {
    throw new TypeError("attach() was already called for this server: call it once per server");
  }
  checkKeys("attach() options", options, ATTACH_OPTION_KEYS);
  const attachment = new AttachmentImpl(app as UpgradeHandler, options, registryFor(server));
  marked[kAttached] = true;
  server.on("upgrade", attachment.onUpgrade);
  boundHeaderTime(server, attachment.handshakeTimeout);
  return attachment;
}

/** Node's default `server.headersTimeout`: a server still at it has not chosen its own. */
const NODE_HEADERS_TIMEOUT = 60_000;

/**
 * The 'upgrade' event fires only once the request's headers are complete, so a client that
 * trickles them (slowloris) is bounded by the server's `headersTimeout` alone: Node's 60 s,
 * checked every `connectionsCheckingInterval` (30 s). Unless the app chose its own
 * `headersTimeout`, bring it down to `handshakeTimeout` and check often enough to enforce it
 * (every quarter of it, 250 ms to 1 s). Node answers 408 and closes the connection. This
 * applies to plain HTTP requests on the server too.
 */
function boundHeaderTime(server: http.Server | https.Server, ms: number): void {
  if (ms <= 0 || ms >= NODE_HEADERS_TIMEOUT || server.headersTimeout !== NODE_HEADERS_TIMEOUT) {
    return;
  }
  server.headersTimeout = ms;
  const every = Math.min(1000, Math.max(250, Math.floor(ms / 4)));
  // Public since Node 18.10, though @types/node 20 does not declare it.
  const checked = server as unknown as { connectionsCheckingInterval?: number };
  if (!(typeof checked.connectionsCheckingInterval === "number")) return;
  if (checked.connectionsCheckingInterval <= every) return;
  // Read by Node when the server starts listening...
  checked.connectionsCheckingInterval = every;
  // ...so a server that listens already gets its check restarted at the new period. Node keeps
  // that interval under a private symbol: found by its description, left alone if absent.
  const key = Object.getOwnPropertySymbols(server).find(
    (sym) => sym.description === "http.server.connectionsCheckingInterval",
  );
  if (key === undefined) return;
  const slots = server as unknown as Record<symbol, unknown>;
  const check = slots[key] as { _onTimeout?: unknown } | undefined;
  const run = check?._onTimeout;
  if (typeof run !== "function") return;
  clearInterval(check as NodeJS.Timeout);
  slots[key] = setInterval(run as () => void, every).unref();
}
