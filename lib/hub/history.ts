// Per-room history in one process (API.md section 6), the LocalAdapter's: for each named room a
// sequence with no gaps, an epoch, and the last messages sent to it, bounded by count (`size`)
// and age (`ttl`). A Redis adapter keeps the same things in Redis instead.
//
// Lifetime of a room's log, so that nothing grows without bound:
// - made (with a new random epoch) when this process first has members in the room
//   (`subscribe`); a publication to a name with no log (a socket's id, a room nobody joined in
//   the last `ttl`) is not kept: nobody could have missed it;
// - each publication appends one entry and drops the oldest past `size`; entries older than
//   `ttl` are dropped lazily (on publish and recover) and by a timer (unref'd, stopped on close);
// - forgotten when it has no members here, keeps no message, and saw nothing for `ttl` ms. Its
//   epoch is lost with it: a client presenting it later is told `recovered: false`.
// So the logs are at most the rooms joined in the last `ttl` ms, each at most `size` entries.

import { randomBytes } from "node:crypto";
import type { HistoryOptions, KeptMessage, Position, Publication, Recovery } from "./adapter";

/** Largest `history.size` accepted. */
export const MAX_HISTORY_SIZE = 100_000;
/** Longest `history.ttl` accepted, ms (one day). */
export const MAX_HISTORY_TTL = 86_400_000;

/** One kept message in one room's log. */
interface Entry {
  readonly kept: KeptMessage;
  /** When it was published (Date.now()). */
  readonly time: number;
}

/** One room's log. */
class RoomLog {
  /** The last sequence number given (0: none in this epoch). Entries hold `seq - length + 1 ... seq`. */
  seq = 0;
  /** Kept entries are `entries[head ...]`: dropping the oldest is O(1), compacted now and then. */
  entries: Entry[] = [];
  head = 0;
  /** Whether this process has members in the room (between subscribe and unsubscribe). */
  subscribed = false;
  /** Last publication or unsubscribe (Date.now()): an idle empty log is forgotten `ttl` later. */
  touched: number;

  constructor(
    readonly epoch: string,
    now: number,
  ) {
    this.touched = now;
  }

  get length(): number {
    return this.entries.length - this.head;
  }

  /** Drops the oldest entry. */
  shift(): void {
    this.head++;
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Drops entries older than `oldest`. */
  expire(oldest: number): void {
    while (this.head < this.entries.length && this.entries[this.head]!.time < oldest) this.shift();
  }
}

/** A new epoch: 8 random bytes, base64url (11 characters). */
function newEpoch(): string {
  return randomBytes(8).toString("base64url");
}

/** Every room's log of one process. */
export class History {
  private readonly logs = new Map<string, RoomLog>();
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly options: HistoryOptions) {
    const every = Math.min(Math.max(Math.floor(options.ttl / 4), 250), 10_000);
    this.timer = setInterval(() => this.sweep(Date.now()), every);
    this.timer.unref();
  }

  /** This process has members in `room`: its log exists from now on. */
  subscribe(room: string): void {
    const now = Date.now();
    let log = this.logs.get(room);
    if (log === undefined) {
      log = new RoomLog(newEpoch(), now);
      this.logs.set(room, log);
    }
    log.subscribed = true;
  }

  /** This process has no more members in `room`: its log stays while it has messages, or for `ttl`. */
  unsubscribe(room: string): void {
    const log = this.logs.get(room);
    if (log === undefined) return;
    log.subscribed = false;
    log.touched = Date.now();
  }

  /**
   * Gives every targeted room with a log its next position and keeps the message there, in one
   * synchronous step. The positions (null when no targeted room keeps history).
   */
  append(publication: Publication): ReadonlyMap<string, Position> | null {
    const rooms = publication.rooms;
    if (rooms === null) return null;
    const now = Date.now();
    const oldest = now - this.options.ttl;
    let positions: Map<string, Position> | null = null;
    const touched: RoomLog[] = [];
    for (const name of rooms) {
      const log = this.logs.get(name);
      if (log === undefined || (positions !== null && positions.has(name))) continue;
      log.expire(oldest);
      log.seq++;
      log.touched = now;
      (positions ??= new Map()).set(name, { epoch: log.epoch, offset: log.seq });
      touched.push(log);
    }
    if (positions === null) return null;
    const entry: Entry = { kept: { publication, positions }, time: now };
    const size = this.options.size;
    for (const log of touched) {
      log.entries.push(entry);
      if (log.length > size) log.shift();
    }
    return positions;
  }

  /** Section 6: every message of `room` after `since`, or not recovered with the room's position. */
  recover(room: string, since: Position): Recovery {
    const log = this.logs.get(room);
    if (log === undefined) return { recovered: false, position: null };
    log.expire(Date.now() - this.options.ttl);
    const position: Position = { epoch: log.epoch, offset: log.seq };
    const after = since.offset;
    if (
      since.epoch !== log.epoch ||
      !Number.isSafeInteger(after) ||
      after < 0 ||
      after > log.seq ||
      after < log.seq - log.length // the next one it needs is no longer kept
    ) {
      return { recovered: false, position };
    }
    const from = log.head + log.length - (log.seq - after);
    const messages = log.entries.slice(from).map((e) => e.kept);
    return { recovered: true, messages, position };
  }

  /** Drops expired entries everywhere and forgets idle empty logs. */
  sweep(now: number): void {
    const oldest = now - this.options.ttl;
    for (const [room, log] of this.logs) {
      log.expire(oldest);
      if (!log.subscribed && log.length === 0 && log.touched < oldest) this.logs.delete(room);
    }
  }

  /** Stops the timer; forgets everything. Idempotent. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.logs.clear();
  }

  /** For tests: rooms with a log, and kept entries over all of them. */
  get internals(): { rooms: number; kept: number } {
    let kept = 0;
    for (const log of this.logs.values()) kept += log.length;
    return { rooms: this.logs.size, kept };
  }
}

/** Checks `options.history`: undefined/null (none) or `{ size, ttl }` within bounds. */
export function checkHistory(value: unknown): HistoryOptions | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      "options.history must be an object { size, ttl }, e.g. { size: 1000, ttl: 120_000 }",
    );
  }
  const { size, ttl, ...rest } = value as { size?: unknown; ttl?: unknown };
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new TypeError(
      `options.history: unknown option ${JSON.stringify(unknown[0])} (it takes size and ttl)`,
    );
  }
  if (
    typeof size !== "number" ||
    !Number.isSafeInteger(size) ||
    size < 1 ||
    size > MAX_HISTORY_SIZE
  ) {
    throw new RangeError(
      `options.history.size must be an integer from 1 to ${MAX_HISTORY_SIZE} (messages kept per room), got ${String(size)}`,
    );
  }
  if (typeof ttl !== "number" || !Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_HISTORY_TTL) {
    throw new RangeError(
      `options.history.ttl must be an integer from 1 to ${MAX_HISTORY_TTL} ms, got ${String(ttl)}`,
    );
  }
  return Object.freeze({ size, ttl });
}
