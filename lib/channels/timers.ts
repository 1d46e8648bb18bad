// Timer channels, as in Go's `time.After` and `time.Ticker`: `after(ms)` yields one timestamp
// and closes; `tick(ms)` yields a timestamp every `ms` until it is closed.
//
// Both have capacity 1. A tick that finds the buffer full is dropped, so a slow reader misses
// ticks instead of queueing them (Go's ticker). A timer never keeps the process alive on its own:
// it is `unref`ed while no receiver is parked on it and `ref`ed only while one is (a plain
// `await after(100).recv()` in a script still waits). `close()` clears the timer.

import { Channel } from "./channel";
import type { ReadChannel } from "./channel";

/** The largest delay Node's timers accept (about 24.8 days). */
const MAX_DELAY = 2 ** 31 - 1;

/** What `after` and `tick` return: a channel to read timestamps from, and `close()` to stop. */
export interface TimerChannel extends ReadChannel<number> {
  /** Stops the timer and closes the channel. Idempotent. */
  close(): void;
}

function checkDelay(name: string, ms: number, zeroAllowed: boolean): number {
  if (
    typeof ms !== "number" ||
    !Number.isFinite(ms) ||
    ms < 0 ||
    (ms === 0 && !zeroAllowed) ||
    ms > MAX_DELAY
  ) {
    const low = zeroAllowed ? "a non-negative" : "a positive";
    throw new RangeError(
      `${name}(ms): ms must be ${low} number of milliseconds up to ${MAX_DELAY}, got ${String(ms)}`,
    );
  }
  return ms;
}

/** A channel fed by one Node timer; the timer is referenced only while a receiver waits. */
abstract class TimedChannel extends Channel<number> implements TimerChannel {
  protected timer: NodeJS.Timeout | undefined;

  constructor() {
    super(1);
  }

  protected start(timer: NodeJS.Timeout): void {
    timer.unref();
    this.timer = timer;
  }

  protected override receiversChanged(count: number): void {
    const timer = this.timer;
    if (timer === undefined) return;
    if (count > 0) timer.ref();
    else timer.unref();
  }

  /** Stops the timer and closes the channel; a value already buffered stays receivable. */
  override close(): void {
    this.stop();
    super.close();
  }

  private stop(): void {
    const timer = this.timer;
    if (timer === undefined) return;
    this.timer = undefined;
    clearTimeout(timer); // clears intervals too
  }
}

class AfterChannel extends TimedChannel {
  constructor(ms: number) {
    super();
    this.start(setTimeout(() => this.fire(), ms));
  }

  private fire(): void {
    this.timer = undefined;
    this.trySend(Date.now());
    this.close();
  }
}

class TickChannel extends TimedChannel {
  constructor(ms: number) {
    super();
    this.start(setInterval(() => this.trySend(Date.now()), ms));
  }
}

/**
 * A channel that yields `Date.now()` once, `ms` milliseconds from now, then closes. Its timer
 * does not keep the process alive unless someone is waiting on it; `close()` cancels it.
 *
 * @param ms delay in milliseconds, `0 <= ms <= 2 ** 31 - 1`.
 * @throws RangeError for a negative, non-finite or too large delay.
 */
export function after(ms: number): TimerChannel {
  return new AfterChannel(checkDelay("after", ms, true));
}

/**
 * A channel that yields `Date.now()` every `ms` milliseconds until closed. Capacity 1: a reader
 * that falls behind misses ticks rather than queueing them. Its timer does not keep the process
 * alive unless someone is waiting on it. Close it when done: `close()` clears the interval.
 *
 * @param ms period in milliseconds, `0 < ms <= 2 ** 31 - 1`.
 * @throws RangeError for a non-positive, non-finite or too large period.
 */
export function tick(ms: number): TimerChannel {
  return new TickChannel(checkDelay("tick", ms, false));
}
