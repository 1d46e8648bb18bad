// The life of one accepted WebSocket: `bind()` ties a `ws` WebSocket to the five channels of
// `Socket` (receiver, sender, done, disconnect, error) and runs keep-alive, the write deadline,
// backpressure in both directions and the closing handshake until the socket is gone.
//
// Receiving: every message is decoded as it arrives (from the moment of bind, so a handler that
// attaches late loses nothing) and offered to `receiver`. When the receiver is full, or an async
// schema is still validating, the message waits in the inbox, in order, and what arrives behind
// it waits there undecoded until its turn. The socket is still read until the inbox holds
// INBOX_READ_LIMIT bytes; then reading pauses (`ws.pause()`) and TCP pushes back on the client.
// Reading on below that limit is what lets pongs (and the client's end) be seen while a route
// is not reading, so `pongWait` still ends a client that hangs. Invalid messages count against
// the same bounds: at most INVALID_PER_TURN are decoded and reported per turn of the event loop
// (the rest wait undecoded in the inbox), their warnings are rate-limited per connection, and
// with `closeOnInvalidMessage` nothing more is decoded once the 1007 close has begun.
//
// Sending: `sender.send()` encodes at once (an unencodable value rejects the send) and, in the
// common case (nothing queued, socket not backed up), writes synchronously. Otherwise the
// encoded message waits in the outbox (at most `sendChannelBuffer` of them) and further sends
// wait. The outbox drains into ws as ws's own buffer (`bufferedAmount`) falls below
// SEND_HIGH_WATER_MARK, driven by the write callbacks (ws has no drain event). The socket is
// corked for the rest of the tick on the first write, so what a handler sends in one tick
// leaves in one system call. Write callbacks run as nextTicks, so a connection also counts what
// it wrote in this turn of the event loop: past SEND_BURST_BYTES its sends queue until the next
// turn (a `setImmediate`, after pending I/O), and one fast client cannot starve the others.
//
// Timers: none per idle connection. One interval per options object (the Ticker) looks at each
// connection when the earliest of its deadlines is due: the next ping (`pingPeriod`), the read
// deadline (`pongWait` after the client's last message, or after the last ping it answered: pongs
// are seen in the socket's byte count when the ticker looks, see `heard()`) and the write deadline
// (`writeWait` after the last write progress while writes are pending). A closing connection
// has its own timer for the close deadline. A passed deadline is judged after pending I/O.
// While reading is paused (the inbox at INBOX_READ_LIMIT: the client sent that much the route
// has not read) the read deadline is suspended: the silence is ours.
//
// Closing, states only move forward:
//
//   OPEN --close()/disconnect--> CLOSING --outbox empty--> CLOSE_SENT --ws 'close'--> CLOSED
//     |                             |    (ws.close(code): the close frame follows the data)  ^
//     +------ terminate(): timeouts, 1006, close deadline (no close frame) ------------------+
//
// In CLOSING the sender no longer accepts sends (waiting ones reject), the outbox is flushed,
// then the close frame goes out and ws waits for the client's. Reading resumes then if it was
// paused (the client's close reply must be read); client messages that arrive from then on and
// find the receiver full are discarded, counted (`stats.discarded`) and logged. On CLOSED:
// `done` yields the close code and closes, `error` and the sender close, the connection leaves
// the ticker (its timers are released), and the receiver closes once the messages already
// received have been read. Anything that could not be delivered is counted and logged. When
// the client closes first, ws leaves OPEN as soon as it reads the close frame (and answers it
// itself): the next send, write or look at `sender.closed` moves the connection to CLOSE_SENT,
// so sends reject from that moment, not only once ws emits 'close' (a handler sending in a
// loop would otherwise never let the event loop turn to deliver it).
//
// Two ws internals are used, each guarded with a fallback to the public API: the socket's
// `cork()`/`uncork()` (via `ws._socket`) and `ws._sender.sendFrame()` for broadcast frames
// (only without permessage-deflate). Everything else is ws's public interface.

import { randomUUID } from "node:crypto";
import type { RawData, WebSocket } from "ws";
import { abortable, type Settleable } from "../channels/abort";
import { Channel, type OpOptions, type ReadChannel, type WriteChannel } from "../channels/channel";
import type { Codec } from "../core/codec";
import {
  ChannelClosedError,
  InvalidMessageError,
  ProtocolError,
  SocketsError,
  TimeoutError,
} from "../core/errors";
import type { ResolvedOptions } from "../core/options";
import { Queue } from "../channels/queue";
import { WaitList } from "../channels/waitlist";
import {
  UNWATCH_CLOSE,
  WATCH_CLOSE,
  type CloseInfo,
  type CloseWatcher,
  type DisconnectRequest,
  type Socket,
  type SocketData,
  type Transport,
  type WatchableSocket,
} from "../core/socket";
import type { ConnectionTracker } from "../core/registry";

/** What a connection needs from the resolved factory options. */
export type ConnectionOptions = Pick<
  ResolvedOptions,
  | "log"
  | "writeWait"
  | "pongWait"
  | "pingPeriod"
  | "sendChannelBuffer"
  | "recvChannelBuffer"
  | "closeOnInvalidMessage"
>;

/** While ws buffers at least this many bytes for the socket, sends queue in the outbox. */
export const SEND_HIGH_WATER_MARK = 64 * 1024;
/**
 * Bytes (plus SEND_MESSAGE_COST per message) one connection hands to ws in one turn of the event
 * loop. Past it, its sends queue (and then wait) until the next turn: write callbacks and the
 * uncork step run as microtasks and nextTicks, so without this bound a handler sending in a loop
 * to a client that reads fast would never let the event loop turn (no timers, no I/O, no other
 * connection served). The next turn is a `setImmediate`, after pending I/O.
 */
export const SEND_BURST_BYTES = 1024 * 1024;
/** What one message costs against SEND_BURST_BYTES beyond its length (framing, callbacks). */
export const SEND_MESSAGE_COST = 256;
/**
 * Unread client messages (bytes, plus INBOX_ENTRY_COST each) held in the inbox while the receiver
 * is full before reading from the socket stops. Below it the socket is still read, so the client's
 * pongs (and its end) are seen and `pongWait` applies as usual while the route is not reading.
 */
export const INBOX_READ_LIMIT = 64 * 1024;
/** What one inbox entry costs against INBOX_READ_LIMIT beyond its bytes. */
export const INBOX_ENTRY_COST = 64;
/**
 * Invalid messages one connection decodes and reports in one turn of the event loop. Past it,
 * what the client sends waits undecoded in the inbox (counted against INBOX_READ_LIMIT, so reading
 * stops) until the next turn: a flood of invalid messages costs at most this much per turn.
 */
export const INVALID_PER_TURN = 16;
/** Invalid-message warnings logged per connection in INVALID_LOG_WINDOW ms; the rest are counted. */
export const INVALID_LOG_BURST = 5;
/** The window of INVALID_LOG_BURST, in ms. Suppressed warnings are summed up in one line. */
export const INVALID_LOG_WINDOW = 10_000;
/** Capacity of `error`. When full, the oldest error is dropped (counted and logged). */
export const ERROR_BUFFER = 16;
/** Bound of a graceful close (flush, close frame, the client's answer) when none is given. */
export const DEFAULT_CLOSE_TIMEOUT = 30_000;
/** Broadcast frames a backed-up connection holds beyond its outbox before it misses some. */
export const BROADCAST_BACKLOG = 64;

const OPEN = 0;
const CLOSING = 1;
const CLOSE_SENT = 2;
const CLOSED = 3;
/** ws's `WebSocket.OPEN` (a getter on instances: read as a constant on the fast path). */
const WS_OPEN = 1;

/** A message framed once by `broadcast` and written as is to many sockets. */
export class Frame {
  constructor(
    /** Header and payload, as `WebSocket.Sender.frame()` returns them. */
    readonly list: readonly Buffer[],
    /**
     * The payload alone (UTF-8 for text), for a socket that cannot take a pre-built frame (one
     * with permessage-deflate: ws compresses it for that socket, without re-encoding text).
     */
    readonly payload: Buffer,
    readonly binary: boolean,
  ) {}
}

/** What the outbox holds: an encoded message, or a frame shared by a broadcast. */
type Outgoing = string | Buffer | Frame;

/** The parts of ws's WebSocket we reach into: the per-socket Sender, for pre-built frames. */
interface WsInternals {
  _sender?: { sendFrame?(list: readonly Buffer[], cb?: (err?: Error) => void): void };
  _socket?: { cork(): void; uncork(): void; readonly bytesRead: number } | null;
}

/**
 * Connections whose socket was corked during this tick. Every message a handler sends in one
 * tick (an echo of all the messages of one read, a burst of broadcasts) then leaves in one
 * write system call instead of one each: the socket is uncorked once the tick's microtasks
 * have run (a nextTick queued from a microtask runs right after them), before any I/O.
 */
let corked: Connection<unknown, unknown>[] = [];

function uncorkAll(): void {
  const list = corked;
  corked = [];
  for (const c of list) {
    try {
      c.uncork();
    } catch {
      // A socket that fails here reports it through its write callbacks; the others go on.
    }
  }
}

/**
 * Connections that wrote during this turn of the event loop (their `burst` is not 0). One
 * `setImmediate` per turn, after pending I/O, resets them and lets those that had reached
 * SEND_BURST_BYTES write on: the turn of the event loop that bounds each connection's sends.
 */
let bursting: Connection<unknown, unknown>[] = [];

function endBursts(): void {
  const list = bursting;
  bursting = [];
  for (const c of list) {
    try {
      c.endBurst();
    } catch {
      // As in uncorkAll: a failing socket reports through its own callbacks.
    }
  }
}

const kConnection = Symbol("express-sockets.connection");
type BoundWebSocket = WebSocket & { [kConnection]?: Connection<unknown, unknown> };

const RESOLVED: Promise<void> = Promise.resolve();

/** @internal What `Connection.decode` returns for a message it handled itself (not delivered). */
export const CONSUMED: unique symbol = Symbol("express-sockets.consumed");

/**
 * The clock of the deadlines: ms since this module loaded. Connections keep several times in
 * their fields; as small integers (V8 Smis) they are stored in place, where `Date.now()` values
 * would each be a separately allocated heap number. Past 2^31 ms (24 days of uptime) the values
 * are plain doubles again: still correct, only boxed.
 */
const EPOCH = Date.now();
function clock(): number {
  const t = Date.now() - EPOCH;
  // `| 0` makes it an int32 (a Smi when stored); the subtraction of two doubles would not be.
  return t <= 0x7fffffff ? t | 0 : t;
}
/** A deadline that is not set (not Infinity: a double would be boxed in every connection). */
const NEVER = -1;

function earliest(a: number, b: number): number {
  return a === NEVER || b < a ? b : a;
}
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g;
const NOOP = (): void => {};

// States of an inbox entry.
const UNDECODED = 0; // not decoded yet: it arrived behind others (or past the invalid-message budget)
const VALIDATING = 1; // its async schema is still running
const READY = 2; // decoded: `value`
const FAILED = 3; // could not be decoded: `error`
const TAKEN = 4; // taken by a subclass's decode() (CONSUMED): never reaches the receiver

/**
 * A message waiting in the inbox. What arrives while others wait is kept as it came (UNDECODED) and
 * decoded only when its turn comes: a flood costs a small object per message, not a parse, and
 * nothing is decoded once the connection stops decoding (closing for an invalid message).
 */
class Inbound<In> {
  state = UNDECODED;
  value: In | undefined = undefined;
  error: unknown = undefined;
  constructor(
    readonly data: Buffer,
    readonly isBinary: boolean,
  ) {}
}

interface SendWaiter {
  data: Outgoing;
  resolve(): void;
  reject(reason: unknown): void;
}

/** Close codes ws may put in a close frame (RFC 6455 section 7.4). */
function sendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** The close code ws attached to a protocol error (it keeps it under a private symbol). */
function wsStatusCode(err: Error): number | undefined {
  for (const sym of Object.getOwnPropertySymbols(err)) {
    if (sym.description === "status-code") {
      const code = (err as unknown as Record<symbol, unknown>)[sym];
      if (typeof code === "number") return code;
    }
  }
  return undefined;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------- ws listeners
// Module-level functions that find their connection through a symbol: no closures per connection.

function onMessage(this: BoundWebSocket, data: RawData, isBinary: boolean): void {
  this[kConnection]?.receive(toBuffer(data), isBinary);
}

function onError(this: BoundWebSocket, err: Error): void {
  this[kConnection]?.protocolError(err);
}

function onClose(this: BoundWebSocket, code: number, reason: Buffer): void {
  this[kConnection]?.closed_(code, reason.toString());
}

function onVerdict(c: Connection<unknown, unknown>): void {
  c.tick(true, clock());
}

function onInvalidBudget(c: Connection<unknown, unknown>): void {
  c.renewInvalidBudget();
}

function onCloseTimeout(c: Connection<unknown, unknown>): void {
  // Judged after pending I/O, like the other deadlines: the close may just have completed.
  setImmediate(onCloseVerdict, c);
}

function onCloseVerdict(c: Connection<unknown, unknown>): void {
  c.closeTimedOut();
}

// ---------------------------------------------------------------------- the shared ticker

/**
 * Drives the keep-alive and write deadlines of every connection bound with one options object
 * from a single interval, instead of a timer per connection: an idle connection costs a Set
 * entry, not a Timeout. The interval runs at 1/8 of the shortest period (so a deadline is
 * enforced at most 12.5% late) and only while the set is not empty.
 */
class Ticker {
  private readonly members = new Set<Connection<unknown, unknown>>();
  private interval: NodeJS.Timeout | null = null;
  constructor(private readonly every: number) {}

  add(c: Connection<unknown, unknown>): void {
    this.members.add(c);
    if (this.interval === null) {
      this.interval = setInterval(sweep, this.every, this);
      runningTickers++;
    }
  }

  delete(c: Connection<unknown, unknown>): void {
    if (!this.members.delete(c) || this.members.size > 0 || this.interval === null) return;
    clearInterval(this.interval);
    this.interval = null;
    runningTickers--;
  }

  /** @internal */
  sweep(): void {
    const now = clock();
    for (const c of this.members) {
      const due = c.due;
      if (due !== NEVER && now >= due) c.tick(false, now);
    }
  }
}

function sweep(t: Ticker): void {
  t.sweep();
}

const tickers = new WeakMap<ConnectionOptions, Ticker | null>();
let runningTickers = 0;

/** @internal How many keep-alive intervals run now (one per options object in use): for tests. */
export function runningKeepAliveTimers(): number {
  return runningTickers;
}

/**
 * @internal How often the ticker of these options runs, in ms: 1/8 of the shortest period, and
 * at most 1/4 of the slack between pingPeriod and pongWait, so that a ping sent late by one
 * sweep still leaves the client time to answer before its deadline. Infinity: no deadlines.
 */
export function keepAliveInterval(o: ConnectionOptions): number {
  const periods = [o.pingPeriod, o.pongWait, o.writeWait].filter((p) => p > 0);
  if (periods.length === 0) return Infinity;
  let every = Math.min(...periods) / 8;
  if (o.pingPeriod > 0 && o.pongWait > 0) every = Math.min(every, (o.pongWait - o.pingPeriod) / 4);
  return Math.max(1, Math.floor(every));
}

/** The ticker of an options object; null when it sets no deadline at all. */
function tickerFor(o: ConnectionOptions): Ticker | null {
  let t = tickers.get(o);
  if (t === undefined) {
    const periods = [o.pingPeriod, o.pongWait, o.writeWait].filter((p) => p > 0);
    t = periods.length === 0 ? null : new Ticker(keepAliveInterval(o));
    tickers.set(o, t);
  }
  return t;
}

// ---------------------------------------------------------------------- sender

/**
 * The `sender` of a connection. A WriteChannel whose buffer is the outbox: `send` resolves once
 * the message is written to ws or queued, waits while the outbox is full and ws is backed up,
 * and rejects with ChannelClosedError once the connection is closing.
 */
export class Sender<Out> implements WriteChannel<Out> {
  /** Encoded messages not yet handed to ws, oldest first. Allocated on first use. */
  private outbox: Queue<Outgoing> | null = null;
  /** Sends waiting for room, oldest first; an aborted one is withdrawn from anywhere in O(1). */
  private waiters: WaitList<SendWaiter> | null = null;
  private spaceWaiters: Settleable[] | null = null;
  /** Broadcast frames held among the waiters. */
  private heldFrames = 0;

  constructor(private readonly conn: Connection<unknown, Out>) {}

  get capacity(): number {
    return this.conn.options.sendChannelBuffer;
  }

  get closed(): boolean {
    return !this.conn.writable();
  }

  get length(): number {
    return this.outbox === null ? 0 : this.outbox.length;
  }

  trySend(value: Out): boolean {
    if (!this.conn.writable() || this.hasWaiters()) return false;
    return this.accept(this.conn.codec.encode(value));
  }

  send(value: Out, options?: OpOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.conn.writable()) return Promise.reject(new ChannelClosedError());
    let data: string | Buffer;
    try {
      data = this.conn.codec.encode(value);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.hasWaiters() && this.accept(data)) return RESOLVED;
    return this.wait(data, signal);
  }

  whenWritable(options?: OpOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.conn.writable()) return Promise.reject(new ChannelClosedError());
    if (this.writableNow()) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      const list = (this.spaceWaiters ??= []);
      const waiter: Settleable = { resolve, reject };
      if (signal !== undefined) {
        abortable(waiter, signal, () => {
          const i = list.indexOf(waiter);
          if (i >= 0) list.splice(i, 1);
        });
      }
      list.push(waiter);
    });
  }

  /**
   * @internal Gives a broadcast frame to this connection without waiting: written now, queued
   * in the outbox, or, when that is full, held behind the waiting sends (in send order). At
   * most BROADCAST_BACKLOG frames (at least the sender's capacity) are held that way; beyond
   * that the frame is refused (false) and the caller counts and logs it.
   */
  offerFrame(frame: Frame): boolean {
    if (!this.conn.writable()) return false;
    if (!this.hasWaiters() && this.accept(frame)) return true;
    if (this.heldFrames >= Math.max(this.capacity, BROADCAST_BACKLOG)) return false;
    this.heldFrames++;
    (this.waiters ??= new WaitList<SendWaiter>()).push({
      data: frame,
      resolve: NOOP,
      reject: NOOP,
    });
    return true;
  }

  /** Writes now if nothing is ahead and ws is not backed up, else queues if there is room. */
  private accept(data: Outgoing): boolean {
    const outbox = this.outbox;
    const queued = outbox === null ? 0 : outbox.length;
    if (queued === 0 && !this.conn.backedUp()) {
      this.conn.write(data);
      return true;
    }
    if (queued < this.capacity) {
      (this.outbox ??= new Queue<Outgoing>()).push(data);
      return true;
    }
    return false;
  }

  private hasWaiters(): boolean {
    return this.waiters !== null && this.waiters.length > 0;
  }

  private writableNow(): boolean {
    if (this.hasWaiters()) return false;
    const queued = this.length;
    return (queued === 0 && !this.conn.backedUp()) || queued < this.capacity;
  }

  private wait(data: Outgoing, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: SendWaiter = { data, resolve, reject };
      const waiters = (this.waiters ??= new WaitList<SendWaiter>());
      const node = waiters.push(waiter);
      if (signal !== undefined) abortable(waiter, signal, () => waiters.remove(node));
    });
  }

  /** @internal Moves what it can into ws: called when ws's buffer drains. */
  pump(): void {
    const conn = this.conn;
    const outbox = this.outbox;
    if (outbox !== null) {
      while (outbox.length > 0 && !conn.backedUp()) conn.write(outbox.shift());
    }
    const waiters = this.waiters;
    // A write above may have found the client gone (writable() then rejected the waiters).
    if (waiters !== null && waiters.length > 0 && conn.writable()) {
      while (waiters.length > 0 && this.accept((waiters.peek() as SendWaiter).data)) {
        const w = waiters.shift();
        if (w.data instanceof Frame) this.heldFrames--;
        w.resolve();
      }
    }
    const spaceWaiters = this.spaceWaiters;
    if (spaceWaiters !== null && spaceWaiters.length > 0 && this.writableNow()) {
      this.spaceWaiters = null;
      for (const w of spaceWaiters) this.wake(w);
    }
  }

  /** A `whenWritable` waiter: room now, or the connection is no longer taking sends. */
  private wake(w: Settleable): void {
    if (this.conn.state === OPEN) w.resolve();
    else w.reject(new ChannelClosedError());
  }

  /** @internal True when there is nothing left to hand to ws. */
  get flushed(): boolean {
    return this.length === 0;
  }

  /**
   * @internal The connection is closing: waiting sends reject. Broadcast frames held among
   * them were already accepted, so with `keepFrames` they move to the outbox, to be flushed
   * before the close frame. Returns how many messages will not be sent.
   */
  rejectWaiters(keepFrames = false): number {
    const waiters = this.waiters;
    const spaceWaiters = this.spaceWaiters;
    this.waiters = null;
    this.spaceWaiters = null;
    this.heldFrames = 0;
    let n = 0;
    if (waiters !== null) {
      for (const w of waiters.drain()) {
        if (keepFrames && w.data instanceof Frame) {
          (this.outbox ??= new Queue<Outgoing>()).push(w.data);
        } else {
          n++;
          w.reject(new ChannelClosedError());
        }
      }
    }
    if (spaceWaiters !== null) for (const w of spaceWaiters) this.wake(w);
    return n;
  }

  /** @internal Drops the outbox (the connection is gone). Returns how many were dropped. */
  discard(): number {
    const outbox = this.outbox;
    this.outbox = null;
    return outbox === null ? 0 : outbox.length;
  }
}

// ---------------------------------------------------------------------- disconnect

/**
 * The `disconnect` channel: a close code (or `{ code, reason }`) sent here flushes the queued
 * sends and closes the connection with that code. 1005 closes with an empty close frame (the
 * client sees 1005), 1006 terminates at once without a close frame (queued sends are dropped and
 * logged). Any other code a close frame cannot carry, or a reason over 123 bytes, rejects with
 * RangeError. Once the connection is closing, further requests are accepted and ignored: the
 * first code wins, like `close()`.
 */
class Disconnect implements WriteChannel<DisconnectRequest> {
  readonly capacity = 0;
  readonly length = 0;
  constructor(private readonly conn: Connection<unknown, unknown>) {}

  get closed(): boolean {
    return !this.conn.writable();
  }

  send(request: DisconnectRequest, options?: OpOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    try {
      this.trySend(request);
    } catch (err) {
      return Promise.reject(err);
    }
    return RESOLVED;
  }

  trySend(request: DisconnectRequest): boolean {
    const { code, reason } = parseDisconnect(request);
    if (!this.conn.writable()) return false;
    void this.conn.close(code, reason);
    return true;
  }

  whenWritable(options?: OpOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return this.conn.writable() ? RESOLVED : Promise.reject(new ChannelClosedError());
  }
}

function parseDisconnect(request: DisconnectRequest): { code: number; reason: string } {
  const code = typeof request === "number" ? request : request?.code;
  const reason = typeof request === "number" ? "" : (request?.reason ?? "");
  checkClose(code, reason);
  return { code, reason };
}

function checkClose(code: unknown, reason: unknown): asserts code is number {
  if (typeof code !== "number" || !Number.isInteger(code)) {
    throw new TypeError(`close code must be an integer, got ${String(code)}`);
  }
  if (!sendableCloseCode(code) && code !== 1005 && code !== 1006) {
    throw new RangeError(
      `close code ${code} cannot be sent: use 1000-1003, 1007-1014 or 3000-4999 (1005 and 1006 are mapped)`,
    );
  }
  if (typeof reason !== "string") throw new TypeError("close reason must be a string");
  if (Buffer.byteLength(reason) > 123) {
    throw new RangeError("close reason must be at most 123 bytes of UTF-8");
  }
}

// ---------------------------------------------------------------------- connection

/** Counters of one connection, for tests, metrics and logs. */
export interface ConnectionStats {
  /** Messages received but not yet delivered: in the receiver plus those waiting in the inbox. */
  readonly receivedPending: number;
  /** Encoded messages waiting in the outbox (not yet handed to ws). */
  readonly sendPending: number;
  /** Bytes ws holds for the socket (`ws.bufferedAmount`). */
  readonly bufferedAmount: number;
  /** Whether reading from the socket is paused (receive backpressure). */
  readonly paused: boolean;
  /** Errors dropped because `error` was full (oldest first). */
  readonly errorsDropped: number;
  /** Outgoing messages that could not be delivered because the connection ended. */
  readonly undelivered: number;
  /** Broadcasts this connection missed because it was too far behind (see `broadcast`). */
  readonly broadcastsDropped: number;
  /**
   * Client messages that arrived after our close frame and found the receiver full (or others
   * still waiting): discarded unread, so the close handshake never waits on a slow reader.
   */
  readonly discarded: number;
}

/**
 * The part of a connection most connections never touch: the close in progress, loss and drop
 * counters, the `closed` promise, the id. Kept out of `Connection` so that an idle connection
 * costs one pointer for all of it.
 */
class Rare {
  /** How the connection ended, once it has. */
  info: CloseInfo | null = null;
  uuid: string | null = null;
  /** The id was set once by `adoptId` (a resumed session): it never changes again. */
  idAdopted = false;
  /** `socket.data`, made on first use. */
  data: SocketData | null = null;
  /** Told synchronously on close (hubs the connection is in): one, or an array of several. */
  watchers: CloseWatcher | CloseWatcher[] | null = null;
  closedPromise: Promise<CloseInfo> | null = null;
  resolveClosed: ((info: CloseInfo) => void) | null = null;
  /** Requested close, applied once the outbox is flushed. */
  closeCode = 1000;
  closeReason = "";
  /** Set when ws failed the connection with `closeCode` (see `protocolError`). */
  protocolFailed = false;
  /** Bounds a graceful close; exists only while closing. */
  closeTimer: NodeJS.Timeout | null = null;
  closeDeadline = Infinity;
  droppedErrors = 0;
  lost = 0;
  lostLogged = 0;
  /** Client messages discarded after our close frame (see `stats.discarded`). */
  discardedIn = 0;
  discardedLogged = 0;
  missedBroadcasts = 0;
  /** Closing for an invalid message: nothing more is decoded (see `receive`). */
  stopDecoding = false;
  /** Invalid-message warnings logged in the window that started at `invalidWindow` (clock()). */
  invalidLogged = 0;
  invalidWindow = 0;
  /** Invalid-message warnings not logged since the last summary line. */
  invalidSuppressed = 0;
  /** Receive backpressure: waiting for room in the receiver, and what to call then. */
  awaitingRoom = false;
  onRoom: (() => void) | null = null;
}

// Bits of `Connection.flags`.
const PAUSED = 1;
const CORKED = 2;
const RAW_KNOWN = 4;
const RAW = 8;

/** What a connection that never needed its `Rare` part reads (never written). */
const NOTHING_RARE = Object.freeze(new Rare());

/** A `ws` WebSocket bound to the five channels of `Socket`. Create it with `bind()`. */
export class Connection<In, Out> implements Socket<In, Out>, WatchableSocket {
  /** @internal */ state = OPEN;
  /**
   * @internal When the client was last heard: the time of its last message, or a lower bound on
   * the time of its last control frame (see `heard()`).
   */
  lastHeard: number;
  /** The socket's bytesRead at the ticker's last look, modulo 2^30 (a Smi, never boxed). */
  private heardBytes = 0;
  private readonly rx: Channel<In>;
  private readonly tx: Sender<Out>;
  private errors: Channel<Error> | null = null;
  private doneCh: Channel<CloseInfo> | null = null;
  private disconnectCh: Disconnect | null = null;
  /** State only closing or troubled connections need: allocated on first use. */
  private rare_: Rare | null = null;
  /** Told when the connection closes (the attachment's set of live connections). */
  private tracker: ConnectionTracker | null = null;
  /** Receive side: messages waiting for room or for their schema, in arrival order. */
  private inbox: Queue<Inbound<In>> | null = null;
  /** PAUSED, CORKED, RAW_KNOWN, RAW: four flags in one small integer (see the accessors). */
  private flags = 0;
  /** Send side: ws writes whose callback has not run yet, and the time of the last progress. */
  private inflight = 0;
  private writeMark = 0;
  private onWritten: ((err?: Error | null) => void) | null = null;
  /** @internal When (`clock()`) the shared ticker must look at this connection next, or NEVER. */
  due = NEVER;
  private nextPing: number;
  /**
   * Payload handed to ws since the socket was corked this tick. A live socket counts it in
   * `bufferedAmount` too; a socket destroyed under ws (its writes fail a tick later, its
   * 'close' comes a tick later) does not, and would take sends without end, never yielding.
   */
  private tickBytes = 0;
  /** What this connection handed to ws in this turn of the event loop (see SEND_BURST_BYTES). */
  private burst = 0;
  /** Bytes (and INBOX_ENTRY_COST per entry) waiting in the inbox (see INBOX_READ_LIMIT). */
  private inboxCost = 0;
  /** Invalid messages reported since the budget was last renewed (see INVALID_PER_TURN). */
  private invalidTurn = 0;

  /** @internal Made by the factories (through `bind()`); not part of the published types. */
  constructor(
    /** @internal */ readonly ws: WebSocket,
    /** @internal */ readonly codec: Codec<In, Out>,
    /** @internal */ readonly options: ConnectionOptions,
    /** The client's address, as it appears in log lines. */
    readonly remote: string,
    /** " /path" of the request (no query), for the close line; "" when nothing is logged. */
    private readonly path = "",
  ) {
    this.rx = new Channel<In>(options.recvChannelBuffer);
    this.tx = new Sender<Out>(this as Connection<unknown, Out>);
    const now = clock();
    this.lastHeard = now;
    this.nextPing = options.pingPeriod > 0 ? now + options.pingPeriod : NEVER;
    const bound = ws as BoundWebSocket;
    bound[kConnection] = this as Connection<unknown, unknown>;
    // No 'ping' or 'pong' listeners: the ticker sees pongs in the socket's byte count (heard()).
    // Two more event names would also grow every WebSocket's listener table by about 100 bytes.
    ws.on("message", onMessage);
    ws.on("error", onError);
    ws.on("close", onClose);
    if (ws.readyState !== ws.OPEN) {
      // Closed between the handshake and bind: report it as an abnormal end.
      if (ws.readyState === ws.CLOSED) this.closed_(1006, "");
      return;
    }
    if (options.pongWait > 0) this.heardBytes = this.bytesRead();
    this.schedule();
    tickerFor(options)?.add(this as Connection<unknown, unknown>);
  }

  /** Whether reading from the socket is paused (receive backpressure). */
  private get paused(): boolean {
    return (this.flags & PAUSED) !== 0;
  }

  private set paused(on: boolean) {
    this.flags = on ? this.flags | PAUSED : this.flags & ~PAUSED;
  }

  /** Whether this tick corked the socket (see `corked`). */
  private get corkedNow(): boolean {
    return (this.flags & CORKED) !== 0;
  }

  private set corkedNow(on: boolean) {
    this.flags = on ? this.flags | CORKED : this.flags & ~CORKED;
  }

  /** Whether ws's Sender takes pre-built frames (no compression): -1 until first needed. */
  private get rawFrames(): -1 | 0 | 1 {
    const flags = this.flags;
    return (flags & RAW_KNOWN) === 0 ? -1 : (flags & RAW) !== 0 ? 1 : 0;
  }

  private set rawFrames(value: -1 | 0 | 1) {
    const flags = this.flags & ~(RAW_KNOWN | RAW);
    this.flags = value === -1 ? flags : value === 1 ? flags | RAW_KNOWN | RAW : flags | RAW_KNOWN;
  }

  private get rare(): Rare {
    return (this.rare_ ??= new Rare());
  }

  /** @internal See `LiveConnection.trackBy`: one tracker, told synchronously on close. */
  trackBy(tracker: ConnectionTracker): boolean {
    if (this.state === CLOSED) return false;
    this.tracker = tracker;
    return true;
  }

  // ------------------------------------------------------------------ the five channels

  /** Client messages in order; closes after the connection closes and its buffer drains. */
  get receiver(): ReadChannel<In> {
    return this.rx;
  }

  /** Resolves once written or queued (waits while both are full); rejects once closing. */
  get sender(): WriteChannel<Out> {
    return this.tx;
  }

  /** Yields one `{ code, reason }` when the connection is closed, then closes. */
  get done(): ReadChannel<CloseInfo> {
    let ch = this.doneCh;
    if (ch === null) {
      ch = this.doneCh = new Channel<CloseInfo>(1);
      const info = this.rare_ === null ? null : this.rare_.info;
      if (info !== null) {
        ch.trySend(info);
        ch.close();
      }
    }
    return ch;
  }

  /** Close with this code (or `{ code, reason }`) after flushing queued sends. */
  get disconnect(): WriteChannel<DisconnectRequest> {
    return (this.disconnectCh ??= new Disconnect(this as Connection<unknown, unknown>));
  }

  /**
   * Invalid messages, protocol errors, timeouts. Never blocks the connection: it holds the
   * latest ERROR_BUFFER errors; when full the oldest is dropped (counted and logged).
   */
  get error(): ReadChannel<Error> {
    return this.errorChannel();
  }

  /** A random UUID, made on first use (or the resumed session's id: see `adoptId`). */
  get id(): string {
    return (this.rare.uuid ??= randomUUID());
  }

  /**
   * @internal A hub resuming a session (API.md section 6) gives the socket the session's id,
   * before it registers the socket or sends it anything. Once per connection: false (and the
   * id unchanged) when an id was already adopted, or when the connection is closed.
   */
  adoptId(id: string): boolean {
    const rare = this.rare;
    if (rare.idAdopted || this.state === CLOSED) return false;
    rare.idAdopted = true;
    rare.uuid = id;
    return true;
  }

  get transport(): Transport {
    return this.codec.transport;
  }

  /** The subprotocol chosen in the handshake, `""` when none. */
  get protocol(): string {
    return this.ws.protocol;
  }

  /** The app's own values for this connection: a plain object, made on first use. */
  get data(): SocketData {
    return (this.rare.data ??= {});
  }

  /** @internal See WATCH_CLOSE: false (and nothing kept) once the connection is closed. */
  [WATCH_CLOSE](watcher: CloseWatcher): boolean {
    if (this.state === CLOSED) return false;
    const rare = this.rare;
    const w = rare.watchers;
    if (w === null) rare.watchers = watcher;
    else if (!Array.isArray(w)) {
      if (w !== watcher) rare.watchers = [w, watcher];
    } else if (!w.includes(watcher)) w.push(watcher);
    return true;
  }

  /** @internal */
  [UNWATCH_CLOSE](watcher: CloseWatcher): void {
    const rare = this.rare_;
    const w = rare === null ? null : rare.watchers;
    if (w === null) return;
    if (!Array.isArray(w)) {
      if (w === watcher) rare!.watchers = null;
      return;
    }
    const i = w.indexOf(watcher);
    if (i >= 0) w.splice(i, 1);
    if (w.length === 1) rare!.watchers = w[0]!;
  }

  /** Resolves with the close code and reason once the connection is closed. */
  get closed(): Promise<CloseInfo> {
    const rare = this.rare;
    if (rare.closedPromise === null) {
      if (rare.info !== null) {
        rare.closedPromise = Promise.resolve(rare.info);
      } else {
        rare.closedPromise = new Promise<CloseInfo>((resolve) => (rare.resolveClosed = resolve));
      }
    }
    return rare.closedPromise;
  }

  /** Counters: what is buffered each way, dropped errors, undelivered messages. */
  get stats(): ConnectionStats {
    const rare = this.rare_ ?? NOTHING_RARE;
    return {
      receivedPending: this.rx.length + (this.inbox === null ? 0 : this.inbox.length),
      sendPending: this.tx.length,
      bufferedAmount: this.ws.bufferedAmount,
      paused: this.paused,
      errorsDropped: rare.droppedErrors,
      undelivered: rare.lost,
      broadcastsDropped: rare.missedBroadcasts,
      discarded: rare.discardedIn,
    };
  }

  // ------------------------------------------------------------------ closing

  /**
   * Graceful close: the sender stops accepting sends (waiting ones reject), queued messages are
   * written, then the close frame with `code` follows them; resolves once the socket is closed.
   * Bounded by `timeoutMs` (default DEFAULT_CLOSE_TIMEOUT): then the socket is terminated.
   * 1005 sends an empty close frame; 1006 terminates at once. Idempotent: a second call waits
   * for the first. Rejects with RangeError for a code no close frame can carry.
   */
  close(code = 1000, reason = "", timeoutMs = DEFAULT_CLOSE_TIMEOUT): Promise<void> {
    try {
      checkClose(code, reason);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.state !== OPEN) {
      // Already closing: a shorter bound still applies.
      if (this.state !== CLOSED) this.boundClose(timeoutMs);
    } else {
      if (code === 1006) {
        this.terminate();
      } else {
        this.state = CLOSING;
        this.rare.closeCode = code;
        this.rare.closeReason = reason;
        const undelivered = this.tx.rejectWaiters(true);
        if (undelivered > 0) {
          this.options.log.debug(this.remote, `${undelivered} waiting sends rejected: closing`);
        }
        this.boundClose(timeoutMs);
        this.tx.pump();
        if (this.tx.flushed) this.sendCloseFrame();
      }
    }
    return this.closed.then(NOOP);
  }

  /**
   * Ends the connection now, without a close frame: `done` reports 1006. `error`, if given, is
   * reported on `error` and logged. Messages not yet written are dropped (counted and logged).
   */
  terminate(error?: Error): void {
    if (this.state === CLOSED) return;
    if (error !== undefined) this.report(error);
    const wasOpen = this.state === OPEN;
    this.state = CLOSE_SENT;
    if (wasOpen) this.tx.rejectWaiters();
    this.ws.terminate();
  }

  /**
   * Sends the close frame (unless ws already answered the client's). Reading resumes if it was
   * paused: the client's close reply must be read for the handshake to complete, and a full
   * receiver would otherwise hold it unread until the close deadline. What the client sent
   * after that point and finds no room is discarded (see `receive`).
   */
  private sendCloseFrame(): void {
    this.state = CLOSE_SENT;
    const ws = this.ws;
    if (ws.readyState === WS_OPEN) {
      if (this.rare.closeCode === 1005) ws.close();
      else ws.close(this.rare.closeCode, this.rare.closeReason);
    } // else the client closed first; ws answers it
    if (this.paused) {
      this.paused = false;
      ws.resume();
    }
  }

  /** @internal ws emitted 'close': release everything and report the end. */
  closed_(code: number, reason: string): void {
    if (this.state === CLOSED && this.rare_ !== null && this.rare_.info !== null) return;
    this.state = CLOSED;
    const ws = this.ws;
    ws.off("message", onMessage);
    ws.off("close", onClose);
    // The 'error' listener stays: ws must never emit an unhandled error.
    tickerFor(this.options)?.delete(this as Connection<unknown, unknown>);
    const rare = this.rare;
    if (rare.closeTimer !== null) {
      clearTimeout(rare.closeTimer);
      rare.closeTimer = null;
    }
    const info: CloseInfo =
      rare.protocolFailed && code === 1006
        ? { code: rare.closeCode, reason: "" }
        : { code, reason };
    rare.info = info;
    const dropped = this.tx.discard() + this.tx.rejectWaiters();
    if (dropped > 0) this.countLost(dropped);
    if (this.inbox === null || this.inbox.length === 0) this.rx.close();
    const done = this.doneCh;
    if (done !== null) {
      done.trySend(info);
      done.close();
    }
    this.errors?.close();
    if (rare.resolveClosed !== null) {
      rare.resolveClosed(info);
      rare.resolveClosed = null;
    }
    const tracker = this.tracker;
    if (tracker !== null) {
      this.tracker = null;
      tracker.untrack(this as Connection<unknown, unknown>);
    }
    const watchers = rare.watchers;
    if (watchers !== null) {
      rare.watchers = null;
      for (const w of Array.isArray(watchers) ? watchers : [watchers]) {
        try {
          w.socketClosed(this as Connection<unknown, unknown>);
        } catch (err) {
          this.options.log.error(this.remote, `close watcher failed: ${describeError(err)}`);
        }
      }
    }
    this.logSuppressed();
    if (this.options.log.enabled("info")) {
      const why = reason ? ` ${reason.replace(CONTROL_CHARS, " ")}` : "";
      this.options.log.info(this.remote, `Connection closed ${code}${why}${this.path}`);
    }
  }

  /** Counts messages that will never reach the client; logged once per batch (next tick). */
  private countLost(n: number): void {
    if (this.rare.lost === this.rare.lostLogged) process.nextTick(reportLost, this);
    this.rare.lost += n;
  }

  /** A message that arrived after our close frame and found no room. */
  private discardIncoming(): void {
    if (this.rare.discardedIn === this.rare.discardedLogged)
      process.nextTick(reportDiscarded, this);
    this.rare.discardedIn++;
  }

  /** @internal */
  logDiscarded(): void {
    const n = this.rare.discardedIn - this.rare.discardedLogged;
    this.rare.discardedLogged = this.rare.discardedIn;
    this.options.log.warning(
      this.remote,
      `${n} incoming message(s) discarded: received while closing (${this.rare.discardedIn} in all)`,
    );
  }

  /** @internal */
  logLost(): void {
    const n = this.rare.lost - this.rare.lostLogged;
    this.rare.lostLogged = this.rare.lost;
    this.options.log.warning(
      this.remote,
      `${n} outgoing message(s) not delivered: the connection ended first (${this.rare.lost} in all)`,
    );
  }

  // ------------------------------------------------------------------ receiving

  /**
   * @internal Decodes one message with the codec. A subclass may take a message itself (the
   * answers and control messages of sockets.events) and return CONSUMED: it then never reaches
   * the receiver. Throws (or rejects with) InvalidMessageError, as the codec does.
   */
  protected decode(data: Buffer, isBinary: boolean): In | Promise<In> | typeof CONSUMED {
    return this.codec.decode(data, isBinary);
  }

  /** @internal A message from ws. */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.options.pongWait > 0) this.lastHeard = clock();
    const rare = this.rare_;
    if (rare !== null && rare.stopDecoding) {
      // Closing for an invalid message: what follows is neither decoded nor reported.
      this.discardIncoming();
      return;
    }
    const inbox = this.inbox;
    const queued = inbox !== null && inbox.length > 0;
    if (queued && this.state >= CLOSE_SENT) {
      // Reading was resumed for the close handshake: no more waiting for room (nor decoding).
      this.discardIncoming();
      return;
    }
    let entry: Inbound<In>;
    if (queued || this.invalidTurn >= INVALID_PER_TURN) {
      // Others wait, or this turn's invalid messages are used up: keep it as it came.
      entry = new Inbound<In>(data, isBinary);
    } else {
      let value: In | Promise<In> | typeof CONSUMED;
      try {
        value = this.decode(data, isBinary);
      } catch (err) {
        this.invalid(err, data);
        return;
      }
      if (value === CONSUMED) return;
      entry = new Inbound<In>(data, isBinary);
      if (!(value instanceof Promise)) {
        if (this.rx.trySend(value)) return;
        if (this.state >= CLOSE_SENT) {
          this.discardIncoming();
          return;
        }
        entry.state = READY;
        entry.value = value;
      } else {
        this.validate(entry, value);
      }
    }
    (this.inbox ??= new Queue<Inbound<In>>()).push(entry);
    this.inboxCost += data.length + INBOX_ENTRY_COST;
    if (!this.paused && this.inboxCost >= INBOX_READ_LIMIT && this.state < CLOSE_SENT) {
      this.paused = true;
      this.ws.pause();
    }
    if (!queued) this.drainInbox();
  }

  /** Decodes an inbox entry whose turn has come. */
  private decodeEntry(entry: Inbound<In>): void {
    let value: In | Promise<In> | typeof CONSUMED;
    try {
      value = this.decode(entry.data, entry.isBinary);
    } catch (err) {
      entry.state = FAILED;
      entry.error = err;
      return;
    }
    if (value === CONSUMED) {
      entry.state = TAKEN;
    } else if (value instanceof Promise) {
      this.validate(entry, value);
    } else {
      entry.state = READY;
      entry.value = value;
    }
  }

  private validate(entry: Inbound<In>, pending: Promise<In>): void {
    entry.state = VALIDATING;
    pending.then(
      (v: In) => this.settled(entry, READY, v, undefined),
      (err: unknown) => this.settled(entry, FAILED, undefined, err),
    );
  }

  private settled(entry: Inbound<In>, state: number, value: In | undefined, error: unknown): void {
    entry.state = state;
    entry.value = value;
    entry.error = error;
    this.drainInbox();
  }

  /**
   * Moves inbox messages into the receiver, in order, decoding each when its turn comes;
   * resumes reading once the inbox is down to half its limit.
   */
  private drainInbox(): void {
    const inbox = this.inbox;
    if (inbox !== null) {
      while (inbox.length > 0) {
        const head = inbox.peek() as Inbound<In>;
        if (head.state === UNDECODED) {
          if (this.rare_ !== null && this.rare_.stopDecoding) {
            this.shiftInbox(inbox);
            this.discardIncoming();
            continue;
          }
          if (this.invalidTurn >= INVALID_PER_TURN) break; // the next turn goes on
          this.decodeEntry(head);
        }
        if (head.state === VALIDATING) return; // its schema is still running; settled() calls back
        if (head.state === TAKEN) {
          this.shiftInbox(inbox);
          continue;
        }
        if (head.state === FAILED) {
          this.shiftInbox(inbox);
          this.invalid(head.error, head.data);
          continue;
        }
        if (!this.rx.trySend(head.value as In)) {
          this.waitForRoom();
          return;
        }
        this.shiftInbox(inbox);
      }
    }
    if (this.state === CLOSED) {
      if (inbox === null || inbox.length === 0) this.rx.close();
    } else if (this.paused && this.inboxCost <= INBOX_READ_LIMIT / 2) {
      this.paused = false;
      this.ws.resume();
    }
  }

  private shiftInbox(inbox: Queue<Inbound<In>>): void {
    this.inboxCost -= inbox.shift().data.length + INBOX_ENTRY_COST;
  }

  private waitForRoom(): void {
    const rare = this.rare;
    if (rare.awaitingRoom) return;
    rare.awaitingRoom = true;
    const onRoom = (rare.onRoom ??= () => {
      rare.awaitingRoom = false;
      this.drainInbox();
    });
    this.rx.whenWritable().then(onRoom, NOOP);
  }

  /** @internal A new turn of the event loop: invalid messages may be decoded again. */
  renewInvalidBudget(): void {
    this.invalidTurn = 0;
    if (this.state !== CLOSED || (this.inbox !== null && this.inbox.length > 0)) this.drainInbox();
  }

  /** A message that failed to decode: report it; close with 1007 if the options say so. */
  private invalid(err: unknown, data: Buffer): void {
    if (this.invalidTurn++ === INVALID_PER_TURN - 1) setImmediate(onInvalidBudget, this);
    if (this.options.closeOnInvalidMessage && this.state !== OPEN) {
      // Closing already (for this reason or another): nothing more to report.
      this.discardIncoming();
      return;
    }
    let error =
      err instanceof InvalidMessageError
        ? err
        : new InvalidMessageError(
            `message could not be decoded: ${describeError(err)}`,
            data,
            [{ message: describeError(err) }],
            { cause: err },
          );
    if (this.options.closeOnInvalidMessage) {
      error = new InvalidMessageError(error.message, error.data, error.issues, {
        cause: error.cause,
        closeCode: 1007,
        size: error.size,
      });
      this.rare.stopDecoding = true;
      this.report(error);
      void this.close(1007, "invalid message");
      return;
    }
    this.report(error);
  }

  /** @internal ws reported a protocol violation (it closes the connection itself). */
  protocolError(err: Error): void {
    if (this.state === CLOSED) return;
    const code = wsStatusCode(err);
    this.report(new ProtocolError(err.message, code, err));
    // ws closes with this code and stops reading, so it never sees the client's answer and
    // would report 1006: `done` reports the code that was sent instead.
    if (code !== undefined) {
      this.rare.closeCode = code;
      this.rare.protocolFailed = true;
    }
    if (this.state === OPEN) {
      // ws is closing the connection itself: stop accepting sends now.
      this.state = CLOSE_SENT;
      this.tx.rejectWaiters();
    }
  }

  // ------------------------------------------------------------------ errors

  private errorChannel(): Channel<Error> {
    let ch = this.errors;
    if (ch === null) {
      ch = this.errors = new Channel<Error>(ERROR_BUFFER);
      if (this.state === CLOSED) ch.close();
    }
    return ch;
  }

  /**
   * Logs an error and puts it on `error`, dropping the oldest one if `error` is full. Invalid
   * messages are logged at most INVALID_LOG_BURST times per INVALID_LOG_WINDOW ms per
   * connection; the others are counted, and the count is logged when the window ends (at the
   * next invalid message) or when the connection closes.
   */
  private report(error: Error): void {
    const log = this.options.log;
    if (!(error instanceof InvalidMessageError) || this.logInvalid()) {
      const code = error instanceof SocketsError ? `${error.code}: ` : "";
      // Messages may quote client data (JSON.parse does): one line per error, whatever it holds.
      log.warning(this.remote, `${code}${error.message}`.replace(CONTROL_CHARS, " "));
    }
    const ch = this.errorChannel();
    if (ch.closed) return;
    if (!ch.trySend(error)) {
      ch.tryRecv();
      // Each error was logged above; the drops are summarised: the first, then every 100th.
      if (this.rare.droppedErrors++ % 100 === 0) {
        log.warning(
          this.remote,
          `error channel full: dropped the oldest error (${this.rare.droppedErrors} dropped so far)`,
        );
      }
      ch.trySend(error);
    }
  }

  /** Whether this invalid message may be logged (see `report`); counts it if not. */
  private logInvalid(): boolean {
    const rare = this.rare;
    const now = clock();
    if (rare.invalidLogged === 0 || now - rare.invalidWindow >= INVALID_LOG_WINDOW) {
      this.logSuppressed();
      rare.invalidWindow = now;
      rare.invalidLogged = 0;
    }
    if (rare.invalidLogged < INVALID_LOG_BURST) {
      rare.invalidLogged++;
      return true;
    }
    rare.invalidSuppressed++;
    return false;
  }

  /** Logs how many invalid-message warnings were left out since the last such line. */
  private logSuppressed(): void {
    const rare = this.rare_;
    if (rare === null || rare.invalidSuppressed === 0) return;
    const n = rare.invalidSuppressed;
    rare.invalidSuppressed = 0;
    this.options.log.warning(
      this.remote,
      `${n} invalid-message warning(s) suppressed in the last ${INVALID_LOG_WINDOW / 1000} s ` +
        `(at most ${INVALID_LOG_BURST} are logged per connection in that time)`,
    );
  }

  // ------------------------------------------------------------------ sending

  /**
   * @internal A broadcast frame for this connection: written, queued behind earlier sends, or,
   * when BROADCAST_BACKLOG frames already wait, refused (counted; logged the first time and
   * every 1000th time after). False when refused or closing.
   */
  offerFrame(frame: Frame): boolean {
    if (this.tx.offerFrame(frame)) return true;
    if (this.state === OPEN) {
      if (this.rare.missedBroadcasts++ % 1000 === 0) {
        this.options.log.warning(
          this.remote,
          `client too slow: ${this.rare.missedBroadcasts} broadcast message(s) not sent to it`,
        );
      }
    }
    return false;
  }

  /**
   * @internal True while ws holds SEND_HIGH_WATER_MARK bytes or more for the socket, or this
   * tick already handed it that much, or this turn of the event loop SEND_BURST_BYTES: then
   * sends queue and, once the outbox is full, wait for the event loop, whatever the socket does.
   */
  backedUp(): boolean {
    return (
      this.ws.bufferedAmount >= SEND_HIGH_WATER_MARK ||
      this.tickBytes >= SEND_HIGH_WATER_MARK ||
      this.burst >= SEND_BURST_BYTES
    );
  }

  /**
   * @internal Whether sends are still taken: our state is OPEN and so is ws's. ws leaves OPEN
   * as soon as it reads the client's close frame (or its socket ends or fails), well before it
   * emits 'close'. From then on nothing can be written; a send that still resolved at once
   * would let a handler's `for (;;) await sender.send(x)` spin in microtasks forever: the event
   * loop would never turn, 'close' would never arrive and every other connection would freeze.
   * So the first look that finds ws no longer OPEN moves the connection to CLOSE_SENT (ws
   * answers the client's close frame itself): sends reject from then on, waiting ones at once.
   */
  writable(): boolean {
    if (this.state !== OPEN) return false;
    if (this.ws.readyState === WS_OPEN) return true;
    this.peerClosing();
    return false;
  }

  /** ws is closing on its own (the client's close frame, the socket ended or failed). */
  private peerClosing(): void {
    if (this.state !== OPEN && this.state !== CLOSING) return;
    const wasOpen = this.state === OPEN;
    this.state = CLOSE_SENT;
    if (!wasOpen) return;
    // Broadcast frames held among the waiters were accepted: counted as undelivered on close.
    const rejected = this.tx.rejectWaiters(true);
    if (rejected > 0) {
      this.options.log.debug(this.remote, `${rejected} waiting sends rejected: the client closed`);
    }
  }

  /** @internal Hands one message to ws. */
  write(data: Outgoing): void {
    const ws = this.ws;
    if (ws.readyState !== WS_OPEN) {
      this.countLost(1);
      this.peerClosing();
      return;
    }
    const cb = (this.onWritten ??= (err) => this.written(err));
    if (!this.corkedNow) {
      const socket = (ws as unknown as WsInternals)._socket;
      if (socket) {
        socket.cork();
        this.corkedNow = true;
        if (corked.push(this as Connection<unknown, unknown>) === 1) process.nextTick(uncorkAll);
      }
    }
    // UTF-16 length: never more than the bytes bufferedAmount counts for a live socket.
    const length = data instanceof Frame ? data.payload.length : data.length;
    if (this.corkedNow) this.tickBytes += length;
    if (this.burst === 0 && bursting.push(this as Connection<unknown, unknown>) === 1) {
      setImmediate(endBursts);
    }
    this.burst += length + SEND_MESSAGE_COST;
    if (this.inflight++ === 0 && this.options.writeWait > 0) {
      const now = clock();
      this.writeMark = now;
      const at = now + this.options.writeWait;
      if (this.due === NEVER || at < this.due) this.due = at;
    }
    if (data instanceof Frame) {
      if (this.rawFrames === -1) {
        const sender = (ws as unknown as WsInternals)._sender;
        this.rawFrames = typeof sender?.sendFrame === "function" && ws.extensions === "" ? 1 : 0;
      }
      if (this.rawFrames === 1)
        (ws as unknown as Required<WsInternals>)._sender.sendFrame!(data.list, cb);
      else ws.send(data.payload, { binary: data.binary }, cb);
    } else {
      ws.send(data, cb);
    }
  }

  /** @internal A new turn of the event loop: sends held by SEND_BURST_BYTES go on. */
  endBurst(): void {
    const spent = this.burst;
    this.burst = 0;
    if (spent < SEND_BURST_BYTES || this.state >= CLOSE_SENT) return;
    this.tx.pump();
    if (this.state === CLOSING && this.tx.flushed) this.sendCloseFrame();
  }

  /** @internal End of the tick: let what this tick wrote go out in one system call. */
  uncork(): void {
    this.corkedNow = false;
    this.tickBytes = 0;
    (this.ws as unknown as WsInternals)._socket?.uncork();
  }

  private written(err?: Error | null): void {
    this.inflight--;
    if (err) {
      this.countLost(1);
      return;
    }
    if (this.options.writeWait > 0) this.writeMark = clock();
    if (this.state >= CLOSE_SENT) return;
    const tx = this.tx;
    tx.pump();
    if (this.state === CLOSING && tx.flushed) this.sendCloseFrame();
  }

  // ------------------------------------------------------------------ deadlines

  /** Computes when the ticker must look at this connection next: the earliest deadline. */
  private schedule(): void {
    const o = this.options;
    let at = NEVER;
    if (o.pingPeriod > 0) at = this.nextPing;
    if (o.pongWait > 0) at = earliest(at, this.lastHeard + o.pongWait);
    if (o.writeWait > 0 && this.inflight > 0) at = earliest(at, this.writeMark + o.writeWait);
    this.due = at;
  }

  /**
   * @internal A deadline is due: enforce the deadlines, ping if due, compute the next one.
   * A deadline that looks passed is judged again after the I/O already waiting has been read
   * (`setImmediate` runs after the poll phase): after the event loop was blocked, timers run
   * before the client's frames are read, and must not kill a client that did answer.
   */
  tick(afterIo: boolean, now: number): void {
    if (this.state === CLOSED) return;
    const o = this.options;
    if (o.pongWait > 0) this.heard(now);
    if (!afterIo && this.deadlinePassed(now)) {
      this.due = NEVER; // the verdict decides what comes next
      setImmediate(onVerdict, this);
      return;
    }
    if (o.pongWait > 0) {
      // While we are not reading (receive backpressure), the client's silence is ours.
      if (this.paused) this.lastHeard = now;
      else if (now - this.lastHeard >= o.pongWait) {
        this.terminate(
          new TimeoutError("ERR_PONG_TIMEOUT", `no pong or message within ${o.pongWait} ms`),
        );
        return;
      }
    }
    if (o.writeWait > 0 && this.inflight > 0 && now - this.writeMark >= o.writeWait) {
      this.terminate(
        new TimeoutError("ERR_WRITE_TIMEOUT", `a write was not flushed within ${o.writeWait} ms`),
      );
      return;
    }
    if (o.pingPeriod > 0 && now >= this.nextPing) {
      this.nextPing = now + o.pingPeriod;
      if (this.state === OPEN && this.ws.readyState === this.ws.OPEN) this.ws.ping();
    }
    this.schedule();
  }

  /**
   * Pongs (and the client's pings) are seen as growth of the socket's byte count since the
   * ticker last looked, not through 'pong' listeners. The ticker looks at every ping it sends,
   * so bytes that arrived since the last look came after the last ping: its time is a lower
   * bound on when the client was heard, at most one round trip early for a pong. As in Martini,
   * a client that answers pings is never timed out; one that stopped answering is timed out
   * pongWait after the last ping it answered. Without pings (pingPeriod 0), growth counts as
   * heard now, so a silent client is timed out between pongWait and twice that after its last
   * control frame (its messages are timed exactly, in `receive`).
   */
  private heard(now: number): void {
    const bytes = this.bytesRead();
    if (bytes === this.heardBytes) return;
    this.heardBytes = bytes;
    const o = this.options;
    const since = o.pingPeriod > 0 ? this.nextPing - o.pingPeriod : now;
    if (since > this.lastHeard) this.lastHeard = since;
  }

  private bytesRead(): number {
    const socket = (this.ws as unknown as WsInternals)._socket;
    return socket ? socket.bytesRead & 0x3fffffff : this.heardBytes;
  }

  private deadlinePassed(now: number): boolean {
    const o = this.options;
    return (
      (o.pongWait > 0 && !this.paused && now - this.lastHeard >= o.pongWait) ||
      (o.writeWait > 0 && this.inflight > 0 && now - this.writeMark >= o.writeWait)
    );
  }

  /** Arms (or shortens) the bound of a graceful close. */
  private boundClose(timeoutMs: number): void {
    const deadline = Date.now() + timeoutMs;
    if (this.rare.closeTimer !== null) {
      if (deadline >= this.rare.closeDeadline) return;
      clearTimeout(this.rare.closeTimer);
    }
    this.rare.closeDeadline = deadline;
    this.rare.closeTimer = setTimeout(onCloseTimeout, timeoutMs, this);
  }

  /** @internal The graceful close took too long: terminate. */
  closeTimedOut(): void {
    this.rare.closeTimer = null;
    if (this.state === CLOSED) return;
    this.terminate(new TimeoutError("ERR_CLOSE_TIMEOUT", "close did not finish in time"));
  }
}

function reportLost(c: Connection<unknown, unknown>): void {
  c.logLost();
}

function reportDiscarded(c: Connection<unknown, unknown>): void {
  c.logDiscarded();
}

/**
 * @internal
 * Binds an accepted `ws` WebSocket to the five channels. Call it as soon as the handshake
 * completes (in `handleUpgrade`'s callback): messages are buffered from this moment on.
 * `remote` names the client in log lines.
 */
export function bind<In, Out>(
  ws: WebSocket,
  codec: Codec<In, Out>,
  options: ConnectionOptions,
  remote: string,
  path = "",
): Connection<In, Out> {
  return new Connection<In, Out>(ws, codec, options, remote, path === "" ? "" : ` ${path}`);
}
