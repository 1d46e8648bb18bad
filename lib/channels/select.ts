// select: Go's `select` in a loop, as an async iterable. Each step takes one value from one
// ready channel and says which one (`{ from, value }`, a union narrowed by `from`).
//
// Rules (API.md section 3):
// - Fair: each step looks at the ready channels starting just after the last one served, so a
//   channel that is always ready cannot starve the others (round robin among the ready ones).
// - Never takes a value it does not deliver. When nothing is ready it parks one waiter per
//   channel; channels deliver synchronously, so the first delivery wins and withdraws the other
//   waiters in the same turn, before any of them can take a value.
// - Leaving the loop (`break`, `return`, `throw`, or the `signal` aborting) withdraws the
//   waiters, so no value is taken afterwards and no timer channel (`after`, `tick`) keeps the
//   process alive on select's account.
// - A channel closed and drained leaves the set; the loop ends when no channel is left.
//
// select does not own its channels: it never closes them.

import { kPark, kUnpark } from "./channel";
import type { OpOptions, ReadChannel, RecvResult, RecvWaiter } from "./channel";

/** The element type of a channel. */
export type ChannelValue<C> = C extends ReadChannel<infer T> ? T : never;

/** The channels select reads from, by name. */
export type SelectCases = Readonly<Record<string, ReadChannel<unknown>>>;

/** One step of a select loop: which case was ready and its value, narrowed by `from`. */
export type SelectResult<C extends SelectCases> = {
  [K in keyof C & string]: { readonly from: K; readonly value: ChannelValue<C[K]> };
}[keyof C & string];

/** Options of `select`. */
export interface SelectOptions extends OpOptions {
  /**
   * Aborting stops the loop: waiters are withdrawn (nothing is taken) and the pending and
   * every later step reject with the signal's reason. Defaults to no signal.
   */
  signal?: AbortSignal | undefined;
}

type Step<R> = IteratorResult<R, undefined>;

/** What `select` returns: an async iterable iterator whose `return()` always exists. */
export interface SelectLoop<C extends SelectCases> extends AsyncIterableIterator<
  SelectResult<C>,
  undefined,
  undefined
> {
  /** The next step; `done` once no case is left or the loop was left. */
  next(): Promise<IteratorResult<SelectResult<C>, undefined>>;
  /** Leaves the loop: withdraws the waiters; a pending step ends with `done`. */
  return(): Promise<IteratorResult<SelectResult<C>, undefined>>;
}

const FINISHED: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/** One case of the set: its name, its channel, and the waiter parked on it during a step. */
interface Case {
  readonly key: string;
  readonly channel: ReadChannel<unknown>;
  waiter: RecvWaiter<unknown> | undefined;
}

/**
 * The iterator behind `select`. One step runs at a time; a `next()` called while a step is
 * pending waits for it.
 */
class Selector<C extends SelectCases> implements AsyncIterableIterator<
  SelectResult<C>,
  undefined,
  undefined
> {
  /** The cases still in the set (closed-and-drained ones are removed). */
  private readonly cases: Case[] = [];
  /** Where the next poll starts: just after the case served last. */
  private start = 0;
  private finished = false;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: (() => void) | undefined;

  /** The pending step, if any, and how to settle it. */
  private pending: Promise<Step<SelectResult<C>>> | null = null;
  private resolveStep: ((step: Step<SelectResult<C>>) => void) | null = null;
  private rejectStep: ((reason: unknown) => void) | null = null;

  constructor(cases: C, options: SelectOptions | undefined) {
    for (const key of Object.keys(cases)) {
      const channel = cases[key];
      if (!isReadChannel(channel)) {
        throw new TypeError(`select: case "${key}" is not a channel`);
      }
      this.cases.push({ key, channel, waiter: undefined });
    }
    const signal = options?.signal;
    this.signal = signal;
    if (signal !== undefined && !signal.aborted) {
      this.onAbort = () => this.abort(signal.reason);
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<Step<SelectResult<C>>> {
    if (this.signal?.aborted) {
      this.finish();
      return Promise.reject(this.signal.reason);
    }
    if (this.pending !== null) {
      const again = (): Promise<Step<SelectResult<C>>> => this.next();
      return this.pending.then(again, again);
    }
    if (this.finished) return Promise.resolve(FINISHED);
    const ready = this.poll();
    if (ready !== undefined) return Promise.resolve(ready);
    return this.park();
  }

  /** Leaves the loop: withdraws the waiters; a pending step ends with `done`. */
  return(): Promise<Step<SelectResult<C>>> {
    const resolve = this.resolveStep;
    this.finish();
    if (resolve !== null) resolve(FINISHED);
    return Promise.resolve(FINISHED);
  }

  /** Leaves the loop like `return`, then rethrows. */
  throw(error: unknown): Promise<Step<SelectResult<C>>> {
    void this.return();
    return Promise.reject(error);
  }

  // ------------------------------------------------------------------ steps

  /** Takes a value from the first ready case, starting at `start`; drops drained cases. */
  private poll(): Step<SelectResult<C>> | undefined {
    const cases = this.cases;
    let i = 0;
    while (i < cases.length) {
      const c = cases[(this.start + i) % cases.length];
      const result = c.channel.tryRecv();
      if (result === undefined) i++;
      else if (result.done) this.removeCase(c);
      else return this.served(c, result.value);
    }
    if (cases.length === 0) {
      this.finish();
      return FINISHED;
    }
    return undefined;
  }

  /** Nothing was ready: park one waiter per case; the first delivery settles the step. */
  private park(): Promise<Step<SelectResult<C>>> {
    const promise = new Promise<Step<SelectResult<C>>>((resolve, reject) => {
      this.resolveStep = resolve;
      this.rejectStep = reject;
    });
    this.pending = promise;
    // Park from the rotating start too. A channel may deliver while we are still parking (a
    // subclass hook may send): stop then.
    const cases = this.cases.slice(this.start).concat(this.cases.slice(0, this.start));
    for (const c of cases) {
      if (this.pending !== promise) break;
      const waiter: RecvWaiter<unknown> = { deliver: (result) => this.delivered(c, result) };
      c.waiter = waiter;
      const ready = c.channel[kPark](waiter);
      if (ready !== undefined) waiter.deliver(ready);
    }
    return promise;
  }

  /** A parked waiter got its result, synchronously, inside the channel. */
  private delivered(c: Case, result: RecvResult<unknown>): void {
    if (c.waiter === undefined) return; // withdrawn already
    c.waiter = undefined;
    if (!result.done) {
      this.settle(this.served(c, result.value));
    } else {
      // Closed and drained: the case leaves the set; the step goes on with the others.
      this.removeCase(c);
      if (this.cases.length === 0) {
        const resolve = this.resolveStep;
        this.finish();
        if (resolve !== null) resolve(FINISHED);
      }
    }
  }

  private served(c: Case, value: unknown): IteratorYieldResult<SelectResult<C>> {
    const index = this.cases.indexOf(c);
    this.start = index + 1 < this.cases.length ? index + 1 : 0;
    return { done: false, value: { from: c.key, value } as SelectResult<C> };
  }

  /** Ends the pending step with a value: withdraws the other waiters first. */
  private settle(step: Step<SelectResult<C>>): void {
    const resolve = this.resolveStep;
    this.withdraw();
    if (resolve !== null) resolve(step);
  }

  private removeCase(c: Case): void {
    const index = this.cases.indexOf(c);
    if (index < 0) return;
    this.cases.splice(index, 1);
    if (this.start > index) this.start--;
    if (this.start >= this.cases.length) this.start = 0;
  }

  /** Withdraws every parked waiter of the pending step and forgets the step. */
  private withdraw(): void {
    this.pending = null;
    this.resolveStep = null;
    this.rejectStep = null;
    for (const c of this.cases) {
      const waiter = c.waiter;
      if (waiter !== undefined) {
        c.waiter = undefined;
        c.channel[kUnpark](waiter);
      }
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.withdraw();
    this.cases.length = 0;
    if (this.onAbort !== undefined) this.signal?.removeEventListener("abort", this.onAbort);
  }

  private abort(reason: unknown): void {
    const reject = this.rejectStep;
    this.finish();
    if (reject !== null) reject(reason);
  }
}

function isReadChannel(value: unknown): value is ReadChannel<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Partial<ReadChannel<unknown>>).tryRecv === "function" &&
    typeof (value as Partial<ReadChannel<unknown>>)[kPark] === "function" &&
    typeof (value as Partial<ReadChannel<unknown>>)[kUnpark] === "function"
  );
}

/**
 * Waits on several channels at once, as an async iterable of `{ from, value }`: each step takes
 * one value from one ready channel, chosen fairly. Closed-and-drained channels leave the set and
 * the loop ends when none is left. Leaving the loop early takes nothing more from any channel.
 *
 * ```ts
 * for await (const c of select({ receiver, done, timeout: after(30_000) })) {
 *   switch (c.from) {
 *     case "receiver": await sender.send(c.value); break;
 *     case "timeout": return;
 *     case "done": return;
 *   }
 * }
 * ```
 *
 * @param cases the channels, by name; the name comes back as `from`.
 * @param options `signal` stops the loop (the step rejects with the signal's reason).
 * @throws TypeError if a case is not a channel.
 */
export function select<C extends SelectCases>(cases: C, options?: SelectOptions): SelectLoop<C> {
  if (typeof cases !== "object" || cases === null) {
    throw new TypeError("select: cases must be an object of channels");
  }
  return new Selector(cases, options);
}
