// Go-style channels for async code: a bounded FIFO that a sender waits on when it is full and a
// receiver waits on when it is empty. Every connection in this package is five of these.
//
// Rules (the contract in API.md section 3):
// - capacity 0 is a rendezvous: a send resolves only when a receiver takes the value;
//   capacity n buffers up to n values, and further sends wait, resumed in order.
// - close() is idempotent; it rejects every waiting sender with ChannelClosedError; buffered
//   values stay receivable; receivers see `done: true` only once closed *and* drained.
// - A send or recv whose signal aborts is withdrawn: it delivers nothing and takes nothing.
//
// Invariants: values wait in exactly one place. While receivers are parked the buffer is empty
// and no sender waits; while senders wait the buffer is full. Queues of waiting senders are
// bounded by their callers (each holds one pending promise); the buffer never exceeds capacity.

import { abortable, type Settleable } from "./abort";
import { ChannelClosedError } from "./errors";
import { Queue } from "./queue";
import { WaitList, type WaitNode } from "./waitlist";

/** What a receive yields: a value, or `done` once the channel is closed and drained. */
export type RecvResult<T> = { value: T; done: false } | { value: undefined; done: true };

/** Options of a waiting operation. */
export interface OpOptions {
  /** Aborting withdraws the operation; its promise rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/** Internal: a receive parked on a channel. `deliver` is called synchronously, at most once. */
export interface RecvWaiter<T> {
  deliver(result: RecvResult<T>): void;
}

/** Internal: parks a waiter unless a result is ready now (then returns it and parks nothing). */
export const kPark: unique symbol = Symbol("express-sockets.park");
/** Internal: withdraws a parked waiter; a no-op if it was already delivered or withdrawn. */
export const kUnpark: unique symbol = Symbol("express-sockets.unpark");

/** The receiving end of a channel: what a handler reads from. */
export interface ReadChannel<T> extends AsyncIterable<T, undefined, undefined> {
  /** Waits for a value; `{ done: true }` once the channel is closed and drained. */
  recv(options?: OpOptions): Promise<RecvResult<T>>;
  /** A value if one is ready, `{ done: true }` if closed and drained, `undefined` if it would wait. */
  tryRecv(): RecvResult<T> | undefined;
  /** True once the channel has been closed (buffered values may remain). */
  readonly closed: boolean;
  /** Values buffered now. */
  readonly length: number;
  /** Buffer size; 0 is unbuffered. */
  readonly capacity: number;
  /** Internal (select). */
  [kPark](waiter: RecvWaiter<T>): RecvResult<T> | undefined;
  /** Internal (select). */
  [kUnpark](waiter: RecvWaiter<T>): void;
}

/** The sending end of a channel: what a handler writes to. It cannot close or read. */
export interface WriteChannel<T> {
  /** Resolves once the value is buffered or taken; rejects with ChannelClosedError when closed. */
  send(value: T, options?: OpOptions): Promise<void>;
  /** Sends only if that would not wait; `false` when full or closed. */
  trySend(value: T): boolean;
  /**
   * Resolves when a send would not wait (buffer room, or a receiver waiting), without sending.
   * Rejects with ChannelClosedError once closed. Lets a producer pause and resume its source.
   * It is a wake-up, not a reservation: another sender may take the room first, or a waiting
   * receiver may withdraw (abort), so try `trySend` again and wait again if it fails.
   */
  whenWritable(options?: OpOptions): Promise<void>;
  readonly closed: boolean;
  readonly length: number;
  readonly capacity: number;
}

interface SendWaiter<T> {
  value: T;
  resolve(): void;
  reject(reason: unknown): void;
}

/**
 * What waits in a channel's receivers: a waiter (select's, or a recv with a signal, which can be
 * withdrawn), or the bare resolve of a recv that nothing can withdraw (an idle handler parked in
 * `for await` then costs the channel one list node and no more).
 */
type Parked<T> = RecvWaiter<T> | Resolve<T>;
/** A method's type, so that it is bivariant like `RecvWaiter.deliver` (a Channel<T> is a Channel<unknown>). */
type Resolve<T> = { resolve(result: RecvResult<T>): void }["resolve"];

function deliver<T>(parked: Parked<T>, result: RecvResult<T>): void {
  if (typeof parked === "function") parked(result);
  else parked.deliver(result);
}

/** Where a parked receive waits, kept on the waiter so `kUnpark` finds it in O(1). */
const kNode: unique symbol = Symbol("express-sockets.waitNode");

interface LinkedRecvWaiter<T> extends RecvWaiter<T> {
  [kNode]?: WaitNode<Parked<T>>;
}

interface SpaceWaiter {
  resolve(): void;
  reject(reason: unknown): void;
}

const DONE: RecvResult<never> = Object.freeze({ value: undefined, done: true });
const RESOLVED: Promise<void> = Promise.resolve();

function checkCapacity(capacity: number): number {
  if (!Number.isInteger(capacity) || capacity < 0) {
    throw new RangeError(
      `channel capacity must be a non-negative integer, got ${String(capacity)}`,
    );
  }
  return capacity;
}

/**
 * What `for await` over a channel uses: one small object with shared methods, not two closures
 * and their context (a handler parked in `for await` keeps it as long as its connection lives).
 */
class ChannelIterator<T> implements AsyncIterator<T, undefined, undefined> {
  constructor(private readonly channel: Channel<T>) {}

  next(): Promise<RecvResult<T>> {
    return this.channel.recv();
  }

  return(): Promise<RecvResult<T>> {
    return Promise.resolve(DONE);
  }
}

/**
 * The run-time views of the channels that were asked for one: a side table, not two fields in
 * every channel (a connection's channels never need them; one holds a view for its life).
 */
const views = new WeakMap<object, { read?: ReadChannel<unknown>; write?: WriteChannel<unknown> }>();

function viewsOf(channel: object): { read?: ReadChannel<unknown>; write?: WriteChannel<unknown> } {
  let v = views.get(channel);
  if (v === undefined) views.set(channel, (v = {}));
  return v;
}

/** The buffer of every channel that has not buffered anything yet: always empty, never pushed to. */
const NO_BUFFER: Queue<unknown> = new Queue<unknown>();

/** A channel of `T` values. `new Channel<T>(capacity = 0)`. */
export class Channel<T> implements ReadChannel<T>, WriteChannel<T> {
  readonly capacity: number;
  /** NO_BUFFER until the first value is buffered: most channels of a connection never buffer. */
  private buffer: Queue<T> = NO_BUFFER as Queue<T>;
  // Waiting senders and parked receivers, in arrival order; unbounded by design (each holds a
  // caller's pending promise, so callers bound them), hence O(1) shift and withdrawal.
  private senders: WaitList<SendWaiter<T>> | null = null;
  // One parked receiver is kept as it is; a list is made only for a second one. An idle
  // connection's receiver (a handler parked in for-await) then costs no list and no node.
  private receivers: Parked<T> | WaitList<Parked<T>> | null = null;
  private spaceWaiters: SpaceWaiter[] | null = null;
  private isClosed = false;

  constructor(capacity = 0) {
    this.capacity = checkCapacity(capacity);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private bufferForPush(): Queue<T> {
    let buffer = this.buffer;
    if (buffer === NO_BUFFER) buffer = this.buffer = new Queue<T>();
    return buffer;
  }

  get length(): number {
    return this.buffer.length;
  }

  // ---------------------------------------------------------------- sending

  trySend(value: T): boolean {
    if (this.isClosed) return false;
    const parked = this.shiftParked();
    if (parked !== undefined) {
      deliver(parked, { value, done: false });
      this.receiversChanged(this.parkedCount());
      return true;
    }
    if (this.buffer.length < this.capacity) {
      this.bufferForPush().push(value);
      return true;
    }
    return false;
  }

  send(value: T, options?: OpOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.isClosed) return Promise.reject(new ChannelClosedError());
    if (this.trySend(value)) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      const waiter: SendWaiter<T> = { value, resolve, reject };
      const node = (this.senders ??= new WaitList()).push(waiter);
      if (signal !== undefined) abortable(waiter, signal, () => this.senders?.remove(node));
    });
  }

  whenWritable(options?: OpOptions): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.isClosed) return Promise.reject(new ChannelClosedError());
    if (this.writableNow()) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      const waiter: SpaceWaiter = { resolve, reject };
      if (signal !== undefined) {
        abortable(waiter, signal, () => {
          const waiters = this.spaceWaiters;
          const i = waiters === null ? -1 : waiters.indexOf(waiter);
          if (i >= 0) waiters?.splice(i, 1);
        });
      }
      (this.spaceWaiters ??= []).push(waiter);
    });
  }

  private writableNow(): boolean {
    return (
      this.parkedCount() > 0 ||
      (this.buffer.length < this.capacity && (this.senders === null || this.senders.length === 0))
    );
  }

  private notifySpace(): void {
    const waiters = this.spaceWaiters;
    if (waiters === null || waiters.length === 0 || !this.writableNow()) return;
    this.spaceWaiters = null;
    for (const w of waiters) w.resolve();
  }

  // -------------------------------------------------------------- receiving

  tryRecv(): RecvResult<T> | undefined {
    const senders = this.senders;
    if (this.buffer.length > 0) {
      const value = this.buffer.shift();
      if (senders !== null && senders.length > 0) {
        const sender = senders.shift();
        this.bufferForPush().push(sender.value);
        sender.resolve();
      } else {
        this.notifySpace();
      }
      return { value, done: false };
    }
    if (senders !== null && senders.length > 0) {
      const sender = senders.shift();
      sender.resolve();
      return { value: sender.value, done: false };
    }
    return this.isClosed ? DONE : undefined;
  }

  recv(options?: OpOptions): Promise<RecvResult<T>> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const ready = this.tryRecv();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise<RecvResult<T>>((resolve, reject) => {
      if (signal === undefined) {
        // Nothing can withdraw it: park the promise's own resolve, no waiter object around it.
        this.park(resolve);
        return;
      }
      const settle: Settleable<RecvResult<T>> = { resolve, reject };
      const waiter: RecvWaiter<T> = { deliver: (result) => settle.resolve(result) };
      abortable(settle, signal, () => this.unparkWaiter(waiter));
      this.parkWaiter(waiter);
    });
  }

  [kPark](waiter: RecvWaiter<T>): RecvResult<T> | undefined {
    const ready = this.tryRecv();
    if (ready !== undefined) return ready;
    this.parkWaiter(waiter);
    return undefined;
  }

  [kUnpark](waiter: RecvWaiter<T>): void {
    this.unparkWaiter(waiter);
  }

  private parkWaiter(waiter: LinkedRecvWaiter<T>): void {
    waiter[kNode] = this.park(waiter) ?? undefined;
  }

  /** Parks a receiver last in line; its list node, or null while it is the only one. */
  private park(parked: Parked<T>): WaitNode<Parked<T>> | null {
    const current = this.receivers;
    let node: WaitNode<Parked<T>> | null = null;
    if (current === null) {
      this.receivers = parked;
    } else {
      let list: WaitList<Parked<T>>;
      if (current instanceof WaitList) {
        list = current;
      } else {
        // A second receiver: the first moves into a list, keeping its place and its node.
        list = new WaitList();
        const first = list.push(current);
        if (typeof current !== "function") (current as LinkedRecvWaiter<T>)[kNode] = first;
        this.receivers = list;
      }
      node = list.push(parked);
    }
    this.receiversChanged(this.parkedCount());
    this.notifySpace();
    return node;
  }

  private parkedCount(): number {
    const r = this.receivers;
    return r === null ? 0 : r instanceof WaitList ? r.length : 1;
  }

  /** Takes the receiver parked first, if any. */
  private shiftParked(): Parked<T> | undefined {
    const r = this.receivers;
    if (r === null) return undefined;
    if (!(r instanceof WaitList)) {
      this.receivers = null;
      return r;
    }
    return r.length > 0 ? r.shift() : undefined;
  }

  private unparkWaiter(waiter: LinkedRecvWaiter<T>): void {
    const receivers = this.receivers;
    if (receivers === null) return;
    if (receivers === waiter) {
      this.receivers = null;
      this.receiversChanged(0);
      return;
    }
    if (!(receivers instanceof WaitList)) return;
    const node = waiter[kNode];
    // The node is only ours if the waiter was last parked here; a waiter parked on several
    // channels at once is found by value instead.
    const removed =
      node !== undefined && node.list === receivers
        ? receivers.remove(node)
        : receivers.removeValue(waiter);
    if (removed) this.receiversChanged(receivers.length);
  }

  /** Hook for subclasses (timers): called whenever the number of parked receivers changes. */
  protected receiversChanged(_count: number): void {}

  [Symbol.asyncIterator](): AsyncIterator<T, undefined, undefined> {
    return new ChannelIterator(this);
  }

  // ------------------------------------------------------------------ views

  /** A receive-only view, enforced at run time too: it has no `send` and no `close`. */
  readOnly(): ReadChannel<T> {
    const v = viewsOf(this);
    return (v.read ??= new ReadView(this as Channel<unknown>)) as ReadChannel<T>;
  }

  /** A send-only view, enforced at run time too: it has no `recv` and no `close`. */
  writeOnly(): WriteChannel<T> {
    const v = viewsOf(this);
    return (v.write ??= new WriteView(this as Channel<unknown>)) as WriteChannel<T>;
  }

  // ---------------------------------------------------------------- closing

  /** Closes the channel. Idempotent. Waiting senders reject; buffered values stay receivable. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const senders = this.senders;
    const receivers = this.receivers;
    const spaceWaiters = this.spaceWaiters;
    this.senders = null;
    this.receivers = null;
    this.spaceWaiters = null;
    if (senders !== null) for (const s of senders.drain()) s.reject(new ChannelClosedError());
    if (spaceWaiters !== null) for (const w of spaceWaiters) w.reject(new ChannelClosedError());
    const parked =
      receivers === null ? [] : receivers instanceof WaitList ? receivers.drain() : [receivers];
    if (parked.length > 0) {
      // Parked receivers imply an empty buffer: they are done.
      for (const r of parked) deliver(r, DONE);
      this.receiversChanged(0);
    }
  }
}

/** The receiving half of a channel, and nothing else. */
class ReadView<T> implements ReadChannel<T> {
  readonly #channel: Channel<T>;

  constructor(channel: Channel<T>) {
    this.#channel = channel;
  }

  recv(options?: OpOptions): Promise<RecvResult<T>> {
    return this.#channel.recv(options);
  }

  tryRecv(): RecvResult<T> | undefined {
    return this.#channel.tryRecv();
  }

  get closed(): boolean {
    return this.#channel.closed;
  }

  get length(): number {
    return this.#channel.length;
  }

  get capacity(): number {
    return this.#channel.capacity;
  }

  [kPark](waiter: RecvWaiter<T>): RecvResult<T> | undefined {
    return this.#channel[kPark](waiter);
  }

  [kUnpark](waiter: RecvWaiter<T>): void {
    this.#channel[kUnpark](waiter);
  }

  [Symbol.asyncIterator](): AsyncIterator<T, undefined, undefined> {
    return this.#channel[Symbol.asyncIterator]();
  }
}

/** The sending half of a channel, and nothing else. */
class WriteView<T> implements WriteChannel<T> {
  readonly #channel: Channel<T>;

  constructor(channel: Channel<T>) {
    this.#channel = channel;
  }

  send(value: T, options?: OpOptions): Promise<void> {
    return this.#channel.send(value, options);
  }

  trySend(value: T): boolean {
    return this.#channel.trySend(value);
  }

  whenWritable(options?: OpOptions): Promise<void> {
    return this.#channel.whenWritable(options);
  }

  get closed(): boolean {
    return this.#channel.closed;
  }

  get length(): number {
    return this.#channel.length;
  }

  get capacity(): number {
    return this.#channel.capacity;
  }
}
