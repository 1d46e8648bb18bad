// One client connection's life: connect, open (flush the queue, heartbeat), read frames (answers,
// server requests, `$` frames of the recovery protocol, room messages through the positions),
// lose the link (fail what was in flight), wait with backoff, reconnect presenting the positions;
// until `close()` or a close code the server means as final.

import { backoff, type ReconnectOptions } from "./backoff.js";
import { ClientError, TimeoutError } from "./errors.js";
import { Positions, type At, type PositionStorage } from "./positions.js";
import type { CloseDetail, ConnectOptions, RequestOptions, RoomJoined, Status } from "./types.js";

/** The socket as the client drives it (the browser's WebSocket and `ws`'s both fit). */
interface Sock {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate?: () => void;
  onopen: (() => void) | null;
  onmessage: ((e: { data: unknown }) => void) | null;
  onclose: ((e: { code: number; reason: string }) => void) | null;
  onerror: (() => void) | null;
}

type SockClass = new (url: string, protocols?: string | string[]) => Sock;

/** A request waiting for its answer. */
interface Pending {
  ok: (value: unknown) => void;
  fail: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
  /** Sent on the current connection (lost with it), rather than queued. */
  sent: boolean;
  off?: () => void;
}

/** A frame waiting for a connection; `a` is its request's ack number. */
interface Queued {
  f: string;
  a?: number;
}

/** The closes after which the client stops for good (README "Browser client"). */
export function isFinal(code: number): boolean {
  return (
    code === 1000 ||
    code === 1002 ||
    code === 1003 ||
    (code >= 1007 && code <= 1010) ||
    (code >= 4000 && code < 4100)
  );
}

/** An iterator falls at most this many messages behind; past it its oldest is dropped (reported). */
const ITERATOR_BUFFER = 1000;

const noop = (): void => {};

/** The page, when there is one (its `pagehide` saves positions before a reload). */
const page = globalThis as {
  addEventListener?: (type: string, fn: () => void) => void;
  removeEventListener?: (type: string, fn: () => void) => void;
};

/** Calls a listener; one that throws is reported to the page (as an uncaught error) but stops nothing. */
function call<T>(fn: (v: T) => void, v: T): void {
  try {
    fn(v);
  } catch (e) {
    setTimeout(() => {
      throw e;
    });
  }
}

function num(name: string, value: number | undefined, def: number): number {
  if (value === undefined) return def;
  // setTimeout cannot wait longer than 2^31 - 1 ms (a longer wait fires at once).
  if (typeof value !== "number" || !(value >= 0 && value <= 2147483647)) {
    throw new RangeError(`${name} must be a number of ms from 0 to 2^31 - 1, got ${String(value)}`);
  }
  return value;
}

/** The page's URL made absolute, http(s) turned into ws(s). */
export function wsUrl(url: string | URL): URL {
  const base = typeof location === "undefined" ? undefined : location.href;
  const u = new URL(url, base);
  u.protocol = u.protocol.replace(/^http/, "ws");
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new TypeError(`connect(): ${u.protocol} URLs are not WebSocket URLs`);
  }
  u.hash = "";
  return u;
}

function defaultStorage(): PositionStorage | null {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null; // sandboxed frames throw on access
  }
}

export class Client {
  #url: URL;
  #json: boolean;
  #WS: SockClass;
  #protocols: string | string[] | undefined;
  #retry: Required<ReconnectOptions> | false;
  #hb: number;
  #hbTimeout: number;
  #connectTimeout: number;
  #queueSize: number;
  #requestTimeout: number;
  #pos: Positions;

  #status: Status = "connecting";
  #ws: Sock | null = null;
  /** Connection attempts since the last connection that stayed open long enough. */
  #attempt = 0;
  /** Reconnect without waiting (a gap in a room: resume it at once). */
  #now = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #t0 = 0;
  #rx = 0;
  #ping = 0;
  #ack = 0;
  #pending = new Map<number, Pending>();
  #queue: Queued[] = [];
  #on = new Map<string, Set<(v: never) => void>>();
  #handlers = new Map<string, (data: never) => unknown>();
  #flush = (): void => this.#pos.flush();

  constructor(url: string | URL, o: ConnectOptions, json: boolean) {
    this.#url = wsUrl(url);
    this.#json = json;
    const WS = o.WebSocket ?? (globalThis as { WebSocket?: ConnectOptions["WebSocket"] }).WebSocket;
    if (WS === undefined) {
      throw new TypeError("connect(): no WebSocket here: pass { WebSocket } (e.g. ws's in Node)");
    }
    this.#WS = WS as unknown as SockClass;
    this.#protocols = o.protocols;
    const r = o.reconnect;
    this.#retry =
      r === false
        ? false
        : {
            delay: num("reconnect.delay", r?.delay, 1000),
            maxDelay: num("reconnect.maxDelay", r?.maxDelay, 30000),
            factor: num("reconnect.factor", r?.factor, 2),
          };
    this.#hb = num("heartbeat", o.heartbeat, json ? 0 : 20000);
    this.#hbTimeout = num("heartbeatTimeout", o.heartbeatTimeout, 10000);
    this.#connectTimeout = num("connectTimeout", o.connectTimeout, 10000);
    this.#queueSize = num("queueSize", o.queueSize, 100);
    this.#requestTimeout = num("requestTimeout", o.requestTimeout, 10000);
    this.#pos = new Positions(
      `express-sockets:${this.#url.href}`,
      json ? null : o.storage === undefined ? defaultStorage() : o.storage,
    );
    page?.addEventListener?.("pagehide", this.#flush);
    this.#open();
  }

  get status(): Status {
    return this.#status;
  }

  get id(): string | undefined {
    return this.#pos.id;
  }

  // ---- listeners -------------------------------------------------------------------------------

  /** Named listener sets: `$status`, `$error`, `$joined`, `$message`, `$iter`, `$end`, and ":" + event. */
  #listen(name: string, fn: (v: never) => void): () => void {
    let set = this.#on.get(name);
    if (set === undefined) this.#on.set(name, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.#on.get(name) === set) this.#on.delete(name);
    };
  }

  #fire(name: string, v: unknown): void {
    for (const fn of this.#on.get(name) ?? []) call(fn as (v: unknown) => void, v);
  }

  /** The app's events are kept under ":" + name, apart from the client's own `$` names. */
  on(event: string, fn: (data: never) => void): () => void {
    return this.#listen(`:${event}`, fn);
  }

  onMessage(fn: (value: never) => void): () => void {
    return this.#listen("$message", fn);
  }

  onStatus(fn: (status: Status, detail?: CloseDetail) => void): () => void {
    return this.#listen("$status", ((a: [Status, CloseDetail?]) => fn(a[0], a[1])) as never);
  }

  onError(fn: (error: ClientError) => void): () => void {
    return this.#listen("$error", fn);
  }

  onJoined(fn: (joined: RoomJoined) => void): () => void {
    return this.#listen("$joined", fn);
  }

  handle(event: string, fn: (data: never) => unknown): () => void {
    this.#handlers.set(event, fn);
    return () => {
      if (this.#handlers.get(event) === fn) this.#handlers.delete(event);
    };
  }

  #error(code: string, message: string, data?: unknown): void {
    this.#fire("$error", new ClientError(code, message, data));
  }

  #setStatus(s: Status, detail?: CloseDetail): void {
    if (this.#status === s) return;
    this.#status = s;
    this.#fire("$status", [s, detail]);
  }

  // ---- sending ---------------------------------------------------------------------------------

  emit(event: string, data: unknown): void {
    this.#send(JSON.stringify({ event, data }));
  }

  send(value: unknown): void {
    this.#send(JSON.stringify(value));
  }

  request(event: string, data: unknown, o: RequestOptions = {}): Promise<unknown> {
    return new Promise((ok, fail) => {
      const signal = o.signal;
      if (this.#status === "closed") return fail(new ClientError("ERR_CLOSED", "client closed"));
      if (signal?.aborted) return fail(signal.reason);
      const a = ++this.#ack;
      const timeout = num("request timeout", o.timeout, this.#requestTimeout);
      const p: Pending = {
        ok,
        fail,
        sent: false,
        timer: setTimeout(
          () =>
            this.#settle(
              a,
              new TimeoutError("ERR_TIMEOUT", `no answer to "${event}" within ${timeout} ms`),
            ),
          timeout,
        ),
      };
      if (signal !== undefined) {
        const abort = (): void => this.#settle(a, signal.reason);
        signal.addEventListener("abort", abort);
        p.off = () => signal.removeEventListener("abort", abort);
      }
      this.#pending.set(a, p);
      p.sent = this.#send(JSON.stringify({ event, data, ack: a }), a);
    });
  }

  /** Sends now when open (true), else queues the frame (bounded: the oldest is dropped). */
  #send(f: string, a?: number): boolean {
    const ws = this.#ws;
    if (this.#status === "open" && ws?.readyState === 1) {
      ws.send(f);
      return true;
    }
    if (this.#status === "closed") {
      if (a === undefined) this.#error("ERR_CLOSED", "client closed: message dropped", f);
      else this.#settle(a, new ClientError("ERR_CLOSED", "client closed"));
      return false;
    }
    this.#queue.push({ f, a });
    if (this.#queue.length > this.#queueSize) {
      const old = this.#queue.shift()!;
      const err = new ClientError("ERR_QUEUE_FULL", "queue full: oldest message dropped", old.f);
      if (old.a === undefined) this.#fire("$error", err);
      else this.#settle(old.a, err);
    }
    return false;
  }

  /** Ends a request: answered (`error` undefined) or failed; removes it from the queue. */
  #settle(a: number, error: unknown, value?: unknown): void {
    const p = this.#pending.get(a);
    if (p === undefined) return;
    this.#pending.delete(a);
    clearTimeout(p.timer);
    p.off?.();
    if (!p.sent) this.#queue = this.#queue.filter((q) => q.a !== a);
    if (error === undefined) p.ok(value);
    else p.fail(error);
  }

  // ---- the connection's life -------------------------------------------------------------------

  #open(): void {
    this.#timer = undefined;
    this.#pos.reset();
    const u = new URL(this.#url);
    const resume = this.#pos.resume();
    if (resume !== undefined) u.searchParams.set("es_resume", resume);
    let ws: Sock;
    try {
      ws = new this.#WS(u.href, this.#protocols);
    } catch (e) {
      this.#error("ERR_CONNECT", String(e));
      return this.#lost({ code: 1006, reason: String(e) });
    }
    this.#ws = ws;
    this.#t0 = Date.now();
    ws.onopen = () => {
      this.#t0 = this.#rx = this.#ping = Date.now();
      this.#setStatus("open");
      const q = this.#queue;
      this.#queue = [];
      for (const { f, a } of q) {
        if (this.#ws !== ws) break;
        ws.send(f);
        const p = a === undefined ? undefined : this.#pending.get(a);
        if (p !== undefined) p.sent = true;
      }
      this.#watch();
    };
    ws.onmessage = (e) => {
      this.#rx = Date.now();
      if (typeof e.data === "string") this.#frame(e.data);
    };
    ws.onclose = (e) => {
      if (this.#ws === ws) this.#lost({ code: e.code, reason: e.reason });
    };
    ws.onerror = noop;
    this.#watch();
  }

  /** The heartbeat and connect-timeout timer: one timeout, rescheduled at the next deadline. */
  #watch = (): void => {
    clearTimeout(this.#timer);
    const ws = this.#ws;
    if (ws === null) return;
    const now = Date.now();
    let next: number;
    if (this.#status !== "open") {
      if (this.#connectTimeout === 0) return;
      next = this.#t0 + this.#connectTimeout;
      if (now >= next) return this.#drop(ws, 4000, "ERR_CONNECT", "connect timeout");
    } else {
      if (this.#hb === 0) return;
      const dead = this.#rx + this.#hb + this.#hbTimeout;
      if (now >= dead) {
        return this.#drop(ws, 4000, "ERR_HEARTBEAT", `no frame for ${now - this.#rx} ms`);
      }
      if (now >= this.#ping + this.#hb) {
        this.#ping = now;
        if (!this.#json) ws.send('{"event":"$ping"}');
      }
      next = Math.min(dead, this.#ping + this.#hb);
    }
    this.#timer = setTimeout(this.#watch, next - now);
  };

  /** Abandons a socket now (dead link, gap, timeout) and goes on as if it had closed. */
  #drop(ws: Sock, code: number, err?: string, message?: string): void {
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      if (err !== undefined && ws.terminate !== undefined) ws.terminate();
      else ws.close(code);
    } catch {
      // already closing
    }
    if (err !== undefined) this.#error(err, message!);
    this.#lost({ code: 1006, reason: message ?? "" });
  }

  /** The connection is gone: fail what was in flight, then stop for good or schedule a retry. */
  #lost(detail: CloseDetail): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#ws = null;
    for (const [a, p] of this.#pending) {
      if (p.sent) {
        this.#settle(a, new TimeoutError("ERR_DISCONNECTED", "connection lost before the answer"));
      }
    }
    if (this.#status === "closed") return;
    if (this.#retry === false || isFinal(detail.code)) return this.#end(detail);
    if (this.#status === "open" && Date.now() - this.#t0 >= this.#retry.delay) this.#attempt = 0;
    // A gap resumes at once, unless the connection before it did not last (no tight loop).
    const n = this.#attempt++;
    const delay = this.#now && n === 0 ? 0 : backoff(n, this.#retry);
    this.#now = false;
    this.#setStatus("reconnecting", detail);
    this.#timer = setTimeout(() => this.#open(), delay);
  }

  close(code = 1000, reason = ""): void {
    if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new RangeError(`close(): code must be 1000 or 3000-4999, got ${code}`);
    }
    if (this.#status === "closed") return;
    const ws = this.#ws;
    this.#ws = null;
    this.#end({ code, reason });
    if (ws !== null) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close(code, reason);
    }
  }

  #end(detail: CloseDetail): void {
    clearTimeout(this.#timer);
    page?.removeEventListener?.("pagehide", this.#flush);
    this.#setStatus("closed", detail);
    this.#pos.flush();
    for (const a of [...this.#pending.keys()]) {
      this.#settle(a, new ClientError("ERR_CLOSED", `client closed (${detail.code})`));
    }
    for (const q of this.#queue) this.#error("ERR_CLOSED", "client closed: message dropped", q.f);
    this.#queue = [];
    this.#fire("$end", undefined);
  }

  // ---- frames in -------------------------------------------------------------------------------

  #frame(text: string): void {
    let m: { event?: unknown; data?: unknown; ack?: unknown; error?: unknown; at?: unknown };
    try {
      m = JSON.parse(text);
    } catch {
      return this.#error("ERR_BAD_FRAME", "frame is not JSON", text);
    }
    if (this.#json) return this.#deliver("$message", m);
    if (typeof m !== "object" || m === null) {
      return this.#error("ERR_BAD_FRAME", "frame is not an object", text);
    }
    const { event, data, ack } = m;
    if (typeof event !== "string") {
      if (typeof ack !== "number") return this.#error("ERR_BAD_FRAME", "frame has no event", text);
      const e = m.error as { code?: unknown; message?: unknown } | undefined;
      return e == null
        ? this.#settle(ack, undefined, data)
        : this.#settle(ack, new ClientError(String(e?.code ?? "ERR_REMOTE"), String(e?.message)));
    }
    if (event[0] === "$") return this.#system(event, data as Record<string, unknown> | undefined);
    if (typeof ack === "number") return this.#serve(event, data, ack);
    if (typeof m.at === "object" && m.at !== null) {
      const { deliver, gap } = this.#pos.accept(m.at as At);
      if (gap) this.#resume();
      if (!deliver) return;
    }
    this.#deliver(`:${event}`, { event, data });
  }

  #deliver(name: string, message: unknown): void {
    const data = name === "$message" ? message : (message as { data: unknown }).data;
    for (const fn of this.#on.get(name) ?? []) call(fn as (v: unknown) => void, data);
    for (const fn of this.#on.get("$iter") ?? []) call(fn as (v: unknown) => void, message);
  }

  #system(event: string, d: Record<string, unknown> | undefined): void {
    if (event === "$session") return this.#pos.session(d?.id, d?.token);
    const room = d?.room;
    if (typeof room !== "string") return;
    if (event === "$joined") {
      const recovered = this.#pos.joined(room, d?.epoch, d?.seq, d?.recovered);
      this.#fire("$joined", { room, recovered });
    } else if (event === "$left") this.#pos.left(room);
  }

  /** A gap in a room: reconnect at once, presenting every position. */
  #resume(): void {
    const ws = this.#ws;
    if (ws === null || this.#now) return;
    this.#now = true;
    this.#drop(ws, 4001);
  }

  #serve(event: string, data: unknown, ack: number): void {
    const ws = this.#ws;
    const fn = this.#handlers.get(event) as ((data: unknown) => unknown) | undefined;
    const answer = (o: object): void => {
      if (this.#ws === ws && this.#status === "open") ws?.send(JSON.stringify({ ack, ...o }));
    };
    if (fn === undefined) {
      return answer({ error: { code: "ERR_NO_HANDLER", message: `no handler for "${event}"` } });
    }
    new Promise((ok) => ok(fn(data))).then(
      (value) => answer({ data: value === undefined ? null : value }),
      (e: { code?: unknown; message?: unknown } | undefined) =>
        answer({
          error: { code: String(e?.code ?? "ERR_HANDLER"), message: String(e?.message ?? e) },
        }),
    );
  }

  // ---- iteration -------------------------------------------------------------------------------

  [Symbol.asyncIterator](): AsyncIterableIterator<unknown> {
    const buf: unknown[] = [];
    let wake: ((r: IteratorResult<unknown>) => void) | undefined;
    let ended = this.#status === "closed";
    const end = (): IteratorResult<unknown> => {
      ended = true;
      offMsg();
      offEnd();
      wake?.({ value: undefined, done: true });
      wake = undefined;
      return { value: undefined, done: true };
    };
    const offMsg = this.#listen("$iter", ((m: unknown) => {
      if (wake !== undefined) {
        const w = wake;
        wake = undefined;
        w({ value: m, done: false });
      } else if (buf.push(m) > ITERATOR_BUFFER) {
        this.#error("ERR_ITERATOR_FULL", "iterator too far behind: oldest dropped", buf.shift());
      }
    }) as never);
    const offEnd = this.#listen("$end", (() => {
      ended = true;
      if (wake !== undefined) end();
    }) as never);
    return {
      next: () => {
        if (buf.length > 0) return Promise.resolve({ value: buf.shift(), done: false });
        if (ended) return Promise.resolve(end());
        return new Promise((r) => (wake = r));
      },
      return: () => {
        buf.length = 0;
        return Promise.resolve(end());
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}
