// sockets.sse(): the `res.locals.socket` shape over Server-Sent Events, so handlers written for
// WebSocket routes (sockets.tail, a broadcast loop) run unchanged on an EventSource.
//
// The life of one SSE response, in order:
//
//   GET ──► bind the channels, next() ──► open: 200 + headers (+ `retry:`) ──► pump sender → res
//               │                          (deferred while a handler holds it; see holdOpen)
//               ▼                                                │
//   the client goes away (res 'close') ─────────────► done {1001}, sender closed, timers cleared
//   disconnect.send(code) ─► queued events flushed, response ended ─► done {code}
//   attach().close() ─► queued events flushed, `: server shutting down`, ended ─► done {1001}
//                       (destroyed if that takes longer than its timeout)
//   a write not flushed within writeWait ─► response destroyed ─► done {1006}
//
// Backpressure: the pump takes one value from `sender` at a time and, when `res.write()` returns
// false, waits for 'drain' before taking the next; `sender` (capacity `sendChannelBuffer`) then
// fills up and `send()` waits. A keep-alive comment goes out after `keepAlive` ms of silence.
// To a client that reads fast `res.write()` never returns false and the pump and the handler
// would hand values to each other in microtasks forever: after SEND_BURST_BYTES the pump waits
// for the next turn of the event loop (a `setImmediate`), so one stream cannot starve the rest.

import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Channel } from "../channels/channel";
import { SocketsError } from "../core/errors";
import { createLog, type Log, type LoggerLike, type LogLevel } from "../core/logger";
import { checkCount, checkKeys, checkTime, keysOf } from "../core/options";
import {
  UNWATCH_CLOSE,
  WATCH_CLOSE,
  type CloseInfo,
  type CloseWatcher,
  type DisconnectRequest,
  type Socket,
  type WatchableSocket,
} from "../core/socket";
import { registryOf, type ConnectionTracker, type TrackedConnection } from "../core/registry";

/** Bytes (plus 256 per event) one stream writes before the pump yields to the event loop. */
const SEND_BURST_BYTES = 256 * 1024;

/** Options of `sockets.sse()`. Every field is optional. */
export interface SseOptions {
  /** Send a keep-alive comment after this many ms without output. `0` = never. Defaults to `15000`. */
  keepAlive?: number;
  /** The reconnection delay (ms) sent to the client as `retry:`; `null` = not sent. Defaults to `3000`. */
  retry?: number | null;
  /** Capacity of `sender`; `0` = unbuffered. Defaults to `10`. */
  sendChannelBuffer?: number;
  /** A write not flushed to the client within this many ms ends the response. `0` = no limit. Defaults to `60000`. */
  writeWait?: number;
  /** Where log lines go. Defaults to stdout, prefixed `[sockets] `. */
  logger?: LoggerLike;
  /** The most verbose level written. Defaults to `"info"`. */
  logLevel?: LogLevel;
  /** No logging at all. Defaults to `false`. */
  skipLogging?: boolean;
}

/** A connection bound by sockets.sse(): nothing is received; `lastEventId` is the client's. */
export interface SseSocket extends Socket<never, unknown>, WatchableSocket {
  /** The `Last-Event-ID` header the client reconnected with, if any. */
  readonly lastEventId: string | undefined;
}

/** The `res.locals` sockets.sse() provides to the handlers after it. */
export interface SseLocals extends Record<string, unknown> {
  socket: SseSocket;
}

/** A sender value is not an event the stream can carry (e.g. it cannot be serialised as JSON). */
export class SseEncodeError extends SocketsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_SSE_ENCODE", message, options);
  }
}

/** A response that could not be flushed within `writeWait`. */
export class SseWriteTimeoutError extends SocketsError {
  constructor(ms: number) {
    super("ERR_SSE_WRITE_TIMEOUT", `SSE write not flushed within ${ms} ms`, { closeCode: 1006 });
  }
}

// ------------------------------------------------------------------------------------ events

/** Fields of an event besides its data. */
export interface SseEventFields {
  /** The event id (the client's `lastEventId`, sent back as `Last-Event-ID` on reconnect). */
  id?: string;
  /** The event type; the client's `onmessage` sees only the default, `message`. */
  event?: string;
}

function checkField(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new TypeError(`SSE ${name} must be a string`);
  if (/[\r\n\0]/.test(value)) {
    throw new TypeError(`SSE ${name} must not contain CR, LF or NUL: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * An event with an id and/or a type, for `sender.send()` on an SSE route. Any other value sent
 * is an unnamed event without id. A string is sent as its own text (split into `data:` lines;
 * CR and CRLF arrive as LF); anything else as JSON. Throws TypeError when `id` or `event`
 * contains CR, LF or NUL.
 */
export class SseEvent {
  readonly id: string | undefined;
  readonly event: string | undefined;
  private wire: string | undefined;

  constructor(
    readonly data: unknown,
    fields: SseEventFields = {},
  ) {
    this.id = checkField("id", fields.id);
    this.event = checkField("event", fields.event);
  }

  /** The event as written on the stream (computed once, so one event can go to many clients). */
  encode(): string {
    return (this.wire ??= encodeEvent(this.data, this.id, this.event));
  }
}

function encodeEvent(data: unknown, id: string | undefined, event: string | undefined): string {
  let text: string | undefined;
  if (typeof data === "string") {
    text = data;
  } else {
    try {
      text = JSON.stringify(data);
    } catch (err) {
      throw new SseEncodeError(`cannot send as JSON: ${(err as Error).message}`, { cause: err });
    }
    if (text === undefined) throw new SseEncodeError(`cannot send ${typeof data} as JSON`);
  }
  let out = event === undefined ? "" : `event: ${event}\n`;
  out += "data: " + text.replace(/\r\n|\r|\n/g, "\ndata: ") + "\n";
  if (id !== undefined) out += `id: ${id}\n`;
  return out + "\n";
}

// ------------------------------------------------------------------------------------ options

interface ResolvedSseOptions {
  keepAlive: number;
  retry: number | null;
  sendChannelBuffer: number;
  writeWait: number;
  log: Log;
}

const SSE_OPTION_KEYS = keysOf<SseOptions>()([
  "keepAlive",
  "retry",
  "sendChannelBuffer",
  "writeWait",
  "logger",
  "logLevel",
  "skipLogging",
]);

function resolveSseOptions(options: SseOptions | undefined): ResolvedSseOptions {
  const o = options ?? {};
  if (typeof o !== "object" || Array.isArray(o)) throw new TypeError("options must be an object");
  checkKeys("sockets.sse options", o, SSE_OPTION_KEYS);
  return {
    keepAlive: checkTime("keepAlive", o.keepAlive, 15_000),
    retry: o.retry === null ? null : checkCount("retry", o.retry, 3_000),
    sendChannelBuffer: checkCount("sendChannelBuffer", o.sendChannelBuffer, 10),
    writeWait: checkTime("writeWait", o.writeWait, 60_000),
    log: createLog(o),
  };
}

// -------------------------------------------------------------------------------- connection

const CLIENT_GONE: CloseInfo = Object.freeze({ code: 1001, reason: "client went away" });
const KEEP_ALIVE = ": keep-alive\n\n";

const connections = new WeakMap<Socket<unknown, unknown>, SseConnection>();

/**
 * `res.locals.socket` of an SSE route: the channels, and what the server's registry needs to
 * close it (so `attach()`'s `close()`, `size` and iteration include SSE streams).
 */
class SseBoundSocket implements SseSocket, TrackedConnection, WatchableSocket {
  readonly transport = "sse" as const;
  readonly #conn: SseConnection;

  constructor(
    readonly receiver: Channel<never>,
    readonly sender: Channel<unknown>,
    readonly done: Channel<CloseInfo>,
    readonly disconnect: Channel<DisconnectRequest>,
    readonly error: Channel<Error>,
    readonly id: string,
    readonly lastEventId: string | undefined,
    conn: SseConnection,
  ) {
    this.#conn = conn;
  }

  /** @internal Flush, a final comment, end; destroyed after `timeoutMs`. */
  close(code: number, reason = "", timeoutMs = 10_000): Promise<void> {
    return this.#conn.shutdown(code, reason, timeoutMs);
  }

  /** @internal Ends the response at once. */
  terminate(): void {
    this.#conn.terminate();
  }

  /** @internal See `TrackedConnection.trackBy`. */
  trackBy(tracker: ConnectionTracker): boolean {
    return this.#conn.trackBy(tracker);
  }

  /** The app's own values for this stream (see `Socket.data`). */
  readonly data: Record<string, unknown> = {};

  /** @internal See WATCH_CLOSE. */
  [WATCH_CLOSE](watcher: CloseWatcher): boolean {
    return this.#conn.watch(watcher);
  }

  /** @internal See WATCH_CLOSE. */
  [UNWATCH_CLOSE](watcher: CloseWatcher): void {
    this.#conn.unwatch(watcher);
  }
}

/**
 * Defers the response headers of an SSE socket until the returned function is called, so the
 * next handler can still answer with a real HTTP status (e.g. 404 for a file that is not
 * there). Call it synchronously in that handler; returns undefined for other transports or once
 * the stream has started. The stream opens on release, unless the response was answered.
 */
export function holdOpen(socket: Socket<unknown, unknown>): (() => void) | undefined {
  const conn = connections.get(socket);
  if (conn === undefined || conn.started || conn.closed) return undefined;
  conn.holds++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--conn.holds === 0) conn.open();
  };
}

class SseConnection {
  readonly socket: SseSocket;
  readonly sender: Channel<unknown>;
  readonly done = new Channel<CloseInfo>(1);
  readonly disconnect = new Channel<DisconnectRequest>(1);
  readonly error = new Channel<Error>(10);
  holds = 0;
  started = false;
  closed = false;
  private scheduled = false;
  private closeRequest: CloseInfo | null = null;
  private lastWrite = 0;
  /** Written since the pump last waited (see SEND_BURST_BYTES). */
  private burst = 0;
  private waitingDrain = false;
  private keepAliveTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private startOpen: (() => void) | null = null;
  /** Told synchronously when the stream ends (hubs the socket is in). */
  private watchers: CloseWatcher[] | null = null;
  private readonly opened = new Promise<void>((resolve) => {
    this.startOpen = resolve;
  });
  private readonly remote: string;
  /** The server's registry, told when the stream ends. */
  private tracker: ConnectionTracker | null = null;
  /** A comment written after the last queued event when the server closes the stream. */
  private farewell: string | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private ended: Promise<void> | null = null;
  private resolveEnded: (() => void) | null = null;

  constructor(
    req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly o: ResolvedSseOptions,
  ) {
    this.remote = req.socket.remoteAddress ?? "";
    this.sender = new Channel<unknown>(o.sendChannelBuffer);
    const receiver = new Channel<never>(0);
    receiver.close();
    const header = req.headers["last-event-id"];
    this.socket = Object.freeze(
      new SseBoundSocket(
        receiver,
        this.sender,
        this.done,
        this.disconnect,
        this.error,
        randomUUID(),
        typeof header === "string" ? header : undefined,
        this,
      ),
    );
    connections.set(this.socket, this);
    res.once("close", () => this.finish(this.closeRequest ?? CLIENT_GONE));
    this.disconnect.recv().then((r) => {
      if (!r.done) this.requestClose(r.value);
    }, noop);
    void this.pump();
  }

  /** @internal Registers a close watcher (false once closed). */
  watch(watcher: CloseWatcher): boolean {
    if (this.closed) return false;
    if (this.watchers === null) this.watchers = [watcher];
    else if (!this.watchers.includes(watcher)) this.watchers.push(watcher);
    return true;
  }

  /** @internal */
  unwatch(watcher: CloseWatcher): void {
    const i = this.watchers === null ? -1 : this.watchers.indexOf(watcher);
    if (i >= 0) this.watchers!.splice(i, 1);
  }

  /** After the handlers after us have started: open now unless one of them holds the stream. */
  scheduleOpen(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.holds === 0) this.open();
  }

  /** Writes the status and headers and starts the pump (idempotent; not after another answer). */
  open(): void {
    if (this.started || this.closed || this.holds > 0) return;
    const res = this.res;
    if (res.headersSent || res.writableEnded) return; // a handler answered (404...): not a stream
    this.started = true;
    // Never compressed: compression middleware picks its encoding from the request's
    // Accept-Encoding when the headers go out, so without it the stream stays identity (a
    // compressor would hold events back until its buffer fills). The headers are the contract's.
    delete res.req.headers["accept-encoding"];
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-transform",
      "X-Accel-Buffering": "no",
    });
    res.flushHeaders();
    if (this.o.retry !== null) this.write(`retry: ${this.o.retry}\n\n`);
    else this.lastWrite = Date.now();
    if (this.o.keepAlive > 0) this.armKeepAlive(this.o.keepAlive);
    this.startOpen?.();
  }

  private async pump(): Promise<void> {
    await this.opened;
    for (;;) {
      const r = await this.sender.recv();
      if (r.done || this.closed) break;
      let wire: string;
      try {
        wire =
          r.value instanceof SseEvent
            ? r.value.encode()
            : encodeEvent(r.value, undefined, undefined);
      } catch (err) {
        this.report(err as Error);
        continue;
      }
      // 'drain' may come as a nextTick too (a socket that wrote at once): count every write.
      if (!this.write(wire)) await this.drained();
      if ((this.burst += wire.length + 256) >= SEND_BURST_BYTES) {
        this.burst = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (!this.closed && this.closeRequest !== null) {
      if (this.farewell !== null) this.write(this.farewell);
      this.res.end();
    }
  }

  /** Writes to the response; false when its buffer is full (wait for drain). */
  private write(text: string): boolean {
    this.lastWrite = Date.now();
    return this.res.write(text);
  }

  private drained(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.waitingDrain = true;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.waitingDrain = false;
        this.res.off("drain", done);
        this.res.off("close", done);
        if (this.drainTimer !== null) clearTimeout(this.drainTimer);
        this.drainTimer = null;
        resolve();
      };
      this.res.on("drain", done);
      this.res.on("close", done);
      if (this.o.writeWait > 0) {
        this.drainTimer = setTimeout(() => {
          const err = new SseWriteTimeoutError(this.o.writeWait);
          this.o.log.warning(this.remote, `${err.message}; closing the stream`);
          this.report(err, false);
          this.closeRequest = { code: 1006, reason: err.message };
          this.res.destroy();
          done();
        }, this.o.writeWait);
      }
    });
  }

  private armKeepAlive(ms: number): void {
    this.keepAliveTimer = setTimeout(() => this.keepAlive(), ms);
    this.keepAliveTimer.unref();
  }

  private keepAlive(): void {
    this.keepAliveTimer = null;
    if (this.closed) return;
    const interval = this.o.keepAlive;
    const idle = Date.now() - this.lastWrite;
    if (idle >= interval - 1) {
      if (!this.waitingDrain) this.write(KEEP_ALIVE);
      this.armKeepAlive(interval);
    } else {
      this.armKeepAlive(interval - idle);
    }
  }

  /** disconnect.send(): flush what is queued, then end the response. */
  private requestClose(request: DisconnectRequest): void {
    if (this.closed || this.closeRequest !== null) return;
    const code = typeof request === "number" ? request : request.code;
    const reason = typeof request === "number" ? "" : (request.reason ?? "");
    this.closeRequest = { code, reason };
    this.sender.close(); // buffered events stay receivable: the pump writes them, then ends
    if (!this.started) {
      this.holds = 0;
      this.open();
      if (!this.started && !this.res.writableEnded) this.res.end(); // answered elsewhere
    }
  }

  /** @internal The registry's handle (one tracker, told synchronously when the stream ends). */
  trackBy(tracker: ConnectionTracker): boolean {
    if (this.closed) return false;
    this.tracker = tracker;
    return true;
  }

  /**
   * The server is closing the stream: queued events are flushed, then a final comment, then the
   * response ends; after `timeoutMs` (0 = at once) it is destroyed. Resolves once it has ended.
   */
  shutdown(code: number, reason: string, timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.ended ??= new Promise<void>((resolve) => (this.resolveEnded = resolve));
    if (this.closeRequest === null) {
      this.farewell = `: ${reason.replace(/[\r\n]+/g, " ").toLowerCase() || "closing"}\n\n`;
    }
    if (timeoutMs === 0) {
      this.closeRequest ??= { code, reason };
      this.terminate();
    } else {
      this.requestClose({ code, reason });
      if (!this.closed && this.closeTimer === null) {
        this.closeTimer = setTimeout(() => {
          this.o.log.warning(
            this.remote,
            `SSE stream not flushed within ${timeoutMs} ms; ending it`,
          );
          this.terminate();
        }, timeoutMs);
      }
    }
    return this.ended;
  }

  /** @internal Ends the response at once (what was not flushed is lost). */
  terminate(): void {
    if (this.closed) return;
    this.closeRequest ??= { code: 1006, reason: "terminated" };
    this.res.destroy();
  }

  private report(err: Error, log = true): void {
    if (log) this.o.log.error(this.remote, err.message);
    if (!this.error.trySend(err) && log) {
      this.o.log.debug(this.remote, "error channel full; the error above was only logged");
    }
  }

  /** The response is over: release everything and report how it ended. Idempotent. */
  private finish(info: CloseInfo): void {
    if (this.closed) return;
    this.closed = true;
    if (this.keepAliveTimer !== null) clearTimeout(this.keepAliveTimer);
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.keepAliveTimer = this.drainTimer = this.closeTimer = null;
    this.sender.close();
    this.disconnect.close();
    this.error.close();
    this.done.trySend(info);
    this.done.close();
    this.startOpen?.(); // let the pump see the end
    connections.delete(this.socket);
    const tracker = this.tracker;
    this.tracker = null;
    tracker?.untrack(this.socket as SseBoundSocket);
    this.resolveEnded?.();
    const watchers = this.watchers;
    this.watchers = null;
    if (watchers !== null) {
      for (const w of watchers) {
        try {
          w.socketClosed(this.socket);
        } catch (err) {
          this.o.log.error(this.remote, `close watcher failed: ${(err as Error).message}`);
        }
      }
    }
    this.o.log.debug(this.remote, `SSE stream closed (${info.code})`);
  }
}

function noop(): void {}

/**
 * `sockets.sse(options)`: binds `res.locals.socket` over Server-Sent Events and calls `next()`.
 * Only `GET` is accepted (else 405). The response is `text/event-stream`, never cached or
 * compressed; events carry `sender` values; `done` yields when the client goes away. Invalid
 * options throw when the factory is called.
 */
export function sse(
  options?: SseOptions,
): RequestHandler<Request["params"], unknown, unknown, Request["query"], SseLocals> {
  const o = resolveSseOptions(options);
  return function sseHandler(
    req: Request<Request["params"], unknown, unknown, Request["query"], SseLocals>,
    res: Response<unknown, SseLocals>,
    next: NextFunction,
  ): void {
    if (req.method !== "GET") {
      res.status(405).set("Allow", "GET").type("text/plain").send("Method not allowed");
      return;
    }
    if (req.headers.upgrade !== undefined) {
      res
        .status(400)
        .type("text/plain")
        .send("This route serves Server-Sent Events, not WebSocket");
      return;
    }
    const registry = registryOf(req);
    if (registry?.closed === true) {
      res.status(503).set("Retry-After", "1").type("text/plain").send("Server is shutting down");
      return;
    }
    const conn = new SseConnection(req, res, o);
    registry?.track(conn.socket as SseBoundSocket);
    res.locals.socket = conn.socket;
    next();
    // Handlers that hold the stream (holdOpen) do so synchronously; everyone else gets it open.
    conn.scheduleOpen();
  };
}
