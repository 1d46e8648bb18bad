// The shared per-file follower behind sockets.tail and watchFile: one watcher and one read of each
// byte per followed file, however many clients follow it. It follows the *name*, like `tail -F`:
//
//   appended    read the new bytes, frame them into whole lines, hand the same Chunk to everyone
//   rotated     (the name now points to another inode) drain the old file to its end, then read
//               the new one from offset 0
//   truncated   (same inode, size < our position) start again from offset 0
//   deleted     drain the old file, close it, and wait for the name to come back
//
// Change is noticed through fs.watch on the file and on its directory (event driven: no waiting
// for a poll), backed by a slow stat poll (dev, ino, size) for file systems without events. All
// checks and reads of one follower run one at a time in `runLoop`, so the order of bytes is the
// order in the file. Offsets are byte offsets in the current file; after a rotation or a
// truncation they start again from 0.
//
// Each subscriber has a bounded queue of live chunks. The follower never waits for a subscriber:
// a subscriber whose queue would exceed its byte limit is marked `overflowed` and gets no more
// chunks (its owner decides what to do; sockets.tail disconnects it with 1013 so it can resume
// from its last offset). Queues hold the same Chunk objects, each a suffix of one stream, so
// all the lagging subscribers of a file together hold about one queue limit of file data. The
// registry holds one follower per (name, options); the follower, its watchers, its poll timer
// and its file descriptor are released when its last user leaves.
//
// Limits, as with `tail -F`: a file that is created and rotated away again before the follower
// has looked at it (within milliseconds) is missed, and so are bytes written to a file after it
// was rotated away and drained; a copy-and-truncate followed by writes that outgrow the old size
// before the follower looks cannot be told from an append.

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { LineFramer } from "./lines";
import { SILENT_LOG, type Log } from "../core/logger";
import { Queue } from "../channels/queue";

/** Bytes read per read() call. */
const READ_SIZE = 65_536;
/** What a queued chunk costs beyond its bytes, so that many tiny chunks are bounded too. */
const CHUNK_OVERHEAD = 64;
const NEWLINE = 0x0a;

/** Default largest message, in bytes (the WebSocket factories' `maxMessageSize`). */
export const DEFAULT_MAX_MESSAGE_BYTES = 65_536;
/** Default interval of the safety-net stat poll, in ms. */
export const DEFAULT_POLL_INTERVAL = 2_000;
/** Default per-subscriber queue limit, in bytes. */
export const DEFAULT_MAX_QUEUE_BYTES = 4 * 1024 * 1024;
/**
 * How far back from the end `lastLinesStart` looks for the start of the last lines, in bytes.
 * A file with fewer newlines in its last LINES_SEARCH_LIMIT bytes starts at the first whole line
 * found there, or, with none, at the window's start (on a character boundary): a huge file
 * without newlines costs one window, not a read of the whole file.
 */
export const LINES_SEARCH_LIMIT = 1024 * 1024;

// ------------------------------------------------------------------------------- chunks & files

/** One message of whole lines, shared by every subscriber: never mutate `data`. */
export class Chunk {
  private decoded: string | undefined;
  private memos: Map<symbol, unknown> | undefined;

  constructor(
    /** The bytes: whole lines (the last ending in `\n`), or a piece of an over-long line. */
    readonly data: Buffer,
    /** The byte offset in the file just after these bytes. */
    readonly end: number,
  ) {}

  /** The bytes as UTF-8 text, decoded once however many subscribers ask. */
  get text(): string {
    return (this.decoded ??= this.data.toString("utf8"));
  }

  /** A value derived from this chunk (a transport's encoding), made once and then shared. */
  memo<T>(key: symbol, make: () => T): T {
    const memos = (this.memos ??= new Map<symbol, unknown>());
    if (!memos.has(key)) memos.set(key, make());
    return memos.get(key) as T;
  }
}

/** An open file shared by the follower and the backlog readers; closed by its last release. */
export class FileRef {
  private refs = 1;

  constructor(
    readonly handle: fsp.FileHandle,
    readonly dev: number,
    readonly ino: number,
  ) {}

  retain(): FileRef {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) this.handle.close().catch(() => undefined);
  }
}

// -------------------------------------------------------------------------------- subscription

/** Why a subscription stopped receiving live chunks. */
export type SubscriptionEnd = "overflow" | "closed";

/**
 * A subscriber's view of a follower: a snapshot of where the live stream starts (`file`, `end`)
 * and a bounded queue of the live chunks after it. Read the backlog you need from `file` up to
 * `end`, then take live chunks with `next()`/`wait()`. Call `close()` when done (idempotent).
 */
export class Subscription {
  private readonly queue = new Queue<Chunk>();
  private queuedBytes = 0;
  private waiter: (() => void) | null = null;
  private stopped: SubscriptionEnd | null = null;
  private readonly overflow = new AbortController();

  /** @internal Created by the follower. */
  constructor(
    private readonly follower: Follower,
    private snapshot: FileRef | null,
    /** Offset in `file` where the live stream starts: every chunk after it arrives by `next()`. */
    readonly end: number,
    /** The queue limit in bytes (each chunk costs its length plus a small overhead). */
    readonly maxQueueBytes: number,
  ) {}

  /** The followed name, absolute (its directory's real path). */
  get name(): string {
    return this.follower.name;
  }

  /**
   * The file the live stream continues, for reading the backlog before `end`; null while the
   * file is missing, and after releaseFile(). Held open (even if deleted) until released.
   */
  get file(): FileRef | null {
    return this.snapshot;
  }

  /** Done with the backlog: lets the descriptor go (a deleted file is then really gone). */
  releaseFile(): void {
    this.snapshot?.release();
    this.snapshot = null;
  }

  /** `"overflow"` once the queue limit was hit, `"closed"` after close(), else null. */
  get ended(): SubscriptionEnd | null {
    return this.stopped;
  }

  /** Aborts when the queue overflows: pass it to a send that may wait on a stalled client. */
  get signal(): AbortSignal {
    return this.overflow.signal;
  }

  /** Bytes queued now. */
  get queued(): number {
    return this.queuedBytes;
  }

  /** The next queued chunk, or undefined when none is queued. */
  next(): Chunk | undefined {
    if (this.queue.length === 0) return undefined;
    const chunk = this.queue.shift();
    this.queuedBytes -= chunk.data.length + CHUNK_OVERHEAD;
    return chunk;
  }

  /** Resolves when a chunk is queued, the subscription ended, or interrupt() is called. */
  wait(): Promise<void> {
    if (this.queue.length > 0 || this.stopped !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Wakes a pending wait() (e.g. because the connection closed). */
  interrupt(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  /** Stops receiving, releases the file and the follower. Idempotent. */
  close(): void {
    if (this.stopped === "closed") return;
    const wasOverflow = this.stopped === "overflow";
    this.stopped = "closed";
    this.drop();
    if (!wasOverflow) this.follower.detach(this);
    this.releaseFile();
    this.follower.release();
    this.interrupt();
  }

  /** @internal Called by the follower for every live chunk. */
  push(chunk: Chunk): void {
    if (this.stopped !== null) return;
    const cost = chunk.data.length + CHUNK_OVERHEAD;
    if (this.queue.length > 0 && this.queuedBytes + cost > this.maxQueueBytes) {
      // Policy when full: stop feeding this subscriber (it never slows the others down) and
      // let its owner know; nothing is dropped silently.
      this.stopped = "overflow";
      this.drop();
      this.follower.detach(this);
      this.interrupt();
      this.overflow.abort(new Error(`more than ${this.maxQueueBytes} bytes queued`));
      return;
    }
    this.queue.push(chunk);
    this.queuedBytes += cost;
    this.interrupt();
  }

  private drop(): void {
    this.queue.drain();
    this.queuedBytes = 0;
  }
}

// ------------------------------------------------------------------------------------ follower

/** How a follower is configured; followers with different settings are separate. */
export interface FollowOptions {
  /** Largest message in bytes (an over-long line is cut at a character boundary). Defaults to `65536`. */
  maxMessageBytes?: number;
  /** Safety-net stat poll interval in ms; `0` = events only. Defaults to `2000`. */
  pollInterval?: number;
  /** Queue limit of this subscriber in bytes. Defaults to 4 MiB. */
  maxQueueBytes?: number;
  /** Where the follower logs rotations and errors. Defaults to no logging. */
  log?: Log;
  /**
   * A directory (a real path) the followed file must stay inside: every file the follower
   * opens (at first, after a rotation, a recreation or a poll) is checked by what was opened
   * (the real path of the open descriptor), and one that leads outside it, through a symlinked
   * file or directory, is refused and treated as missing. Defaults to none (a fixed path the
   * app chose may be a symlink anywhere).
   */
  root?: string;
}

const followers = new Map<string, Follower>();

/** O_NOFOLLOW where the platform has it (not on Windows: the root check still holds there). */
const O_NOFOLLOW = (fs.constants as { O_NOFOLLOW?: number }).O_NOFOLLOW ?? 0;

/** Followers alive now (each holds one watcher set and at most one open file). */
export function liveFollowers(): number {
  return followers.size;
}

/** Subscriptions receiving live chunks now, across all followers. */
export function liveSubscriptions(): number {
  let n = 0;
  for (const f of followers.values()) n += f.subscribers;
  return n;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

async function statOrNull(name: string): Promise<fs.Stats | null> {
  try {
    return await fsp.stat(name);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** The follower's name for a path: its directory's real path plus its base name. */
async function canonicalName(file: string): Promise<string> {
  const absolute = path.resolve(file);
  const dir = path.dirname(absolute);
  try {
    return path.join(await fsp.realpath(dir), path.basename(absolute));
  } catch {
    return absolute;
  }
}

/**
 * Subscribes to the follower of `file` (creating it if none follows that file yet) and resolves
 * once the follower has looked at the file, so the snapshot in the subscription is accurate.
 * A file that does not exist yet is waited for.
 */
export async function follow(file: string, options: FollowOptions = {}): Promise<Subscription> {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const poll = options.pollInterval ?? DEFAULT_POLL_INTERVAL;
  const name = await canonicalName(file);
  const root = options.root ?? null;
  const key = `${maxBytes}:${poll}:${root === null ? "" : root}:${name}`;
  let follower = followers.get(key);
  if (follower === undefined) {
    follower = new Follower(key, name, maxBytes, poll, options.log ?? SILENT_LOG, root);
    followers.set(key, follower);
  }
  follower.acquire();
  await follower.ready;
  return follower.subscribe(options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES);
}

/** @internal One followed file. Use follow(). */
export class Follower {
  private users = 0;
  private readonly subs = new Set<Subscription>();
  private readonly framer: LineFramer;
  private readonly dir: string;
  private readonly base: string;
  private file: FileRef | null = null;
  private readPos = 0;
  private initial = true;
  private closed = false;
  private loop: Promise<void> | null = null;
  private again = false;
  private fileWatcher: fs.FSWatcher | null = null;
  private dirWatcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastProblem = "";
  readonly ready: Promise<void>;

  constructor(
    readonly key: string,
    readonly name: string,
    maxBytes: number,
    pollInterval: number,
    private readonly log: Log,
    /** The directory every opened file must be inside (a real path), or null. */
    private readonly root: string | null = null,
  ) {
    this.framer = new LineFramer(maxBytes);
    this.dir = path.dirname(name);
    this.base = path.basename(name);
    this.dirWatcher = this.watch(this.dir, (filename) => filename === this.base);
    if (pollInterval > 0) {
      this.timer = setInterval(() => this.schedule(), pollInterval);
      this.timer.unref();
    }
    this.loop = this.runLoop();
    this.ready = this.loop;
  }

  /** Subscriptions receiving live chunks. */
  get subscribers(): number {
    return this.subs.size;
  }

  acquire(): void {
    this.users++;
  }

  /** A user left (its subscription closed). The last one closes the follower. */
  release(): void {
    if (--this.users === 0) this.close();
  }

  subscribe(maxQueueBytes: number): Subscription {
    const sub = new Subscription(this, this.file?.retain() ?? null, this.framer.end, maxQueueBytes);
    this.subs.add(sub);
    return sub;
  }

  detach(sub: Subscription): void {
    this.subs.delete(sub);
  }

  /** Asks for a check of the file; coalesces with one already running. */
  schedule(): void {
    if (this.closed) return;
    if (this.loop !== null) {
      this.again = true;
      return;
    }
    this.loop = this.runLoop();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (followers.get(this.key) === this) followers.delete(this.key);
    this.fileWatcher?.close();
    this.dirWatcher?.close();
    this.fileWatcher = this.dirWatcher = null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    if (this.loop === null) this.releaseFile();
  }

  private async runLoop(): Promise<void> {
    try {
      do {
        this.again = false;
        try {
          await this.check();
        } catch (err) {
          if (!this.closed) this.problem(`cannot follow ${this.name}: ${(err as Error).message}`);
        }
        this.initial = false;
      } while (this.again && !this.closed);
    } finally {
      this.loop = null;
      if (this.closed) this.releaseFile();
    }
  }

  /** Compares the name with the open file and reads whatever is new. */
  private async check(): Promise<void> {
    // A directory that did not exist (or could not be watched) may have appeared since.
    this.dirWatcher ??= this.watch(this.dir, (filename) => filename === this.base);
    const st = await statOrNull(this.name);
    if (this.closed) return;
    const file = this.file;
    if (file !== null) {
      if (st !== null && st.ino === file.ino && st.dev === file.dev) {
        await this.readToEnd(file);
        return;
      }
      // The name points to another file (rotated) or nowhere (deleted): finish the old one.
      await this.readToEnd(file);
      if (this.closed) return;
      this.endFile(st === null ? "was deleted" : "was replaced");
    }
    if (st === null) {
      this.problem(`${this.name} does not exist; waiting for it`, "info");
      return;
    }
    if (!st.isFile()) {
      this.problem(`${this.name} is not a regular file; waiting for one`);
      return;
    }
    await this.openFile();
  }

  private async openFile(): Promise<void> {
    let handle: fsp.FileHandle;
    try {
      // Confined to a root: a symlink as the name itself is refused by the open (ELOOP).
      const flags = this.root === null ? "r" : fs.constants.O_RDONLY | O_NOFOLLOW;
      handle = await fsp.open(this.name, flags);
    } catch (err) {
      if (isMissing(err)) return; // gone again: the next event or poll will see
      if ((err as NodeJS.ErrnoException).code === "ELOOP" && this.root !== null) {
        this.problem(`${this.name} is now a symlink; refused (waiting for a regular file)`);
        return;
      }
      throw err;
    }
    let st: fs.Stats;
    try {
      st = await handle.stat();
      if (this.closed || !st.isFile() || !(await this.insideRoot(handle, st))) {
        await handle.close();
        return;
      }
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    const file = new FileRef(handle, st.dev, st.ino);
    this.file = file;
    this.readPos = this.initial ? await lastLineEnd(handle, st.size, this.framer.maxBytes) : 0;
    this.framer.reset(this.readPos);
    if (!this.initial) this.log.info(this.name, `following ${this.name} from its start`);
    this.lastProblem = "";
    this.fileWatcher?.close();
    this.fileWatcher = this.watch(this.name, () => true);
    await this.readToEnd(file);
  }

  /**
   * True when the opened file is inside `root` (or there is no root): judged by the descriptor,
   * not by the name, so a swap between a check and the open cannot pass. On Linux the real path
   * of the descriptor is read from /proc; elsewhere the name's real path is checked and must
   * still be the opened file (same device and inode). A file outside is logged and refused.
   */
  private async insideRoot(handle: fsp.FileHandle, st: fs.Stats): Promise<boolean> {
    const root = this.root;
    if (root === null) return true;
    let real: string | null;
    try {
      real = await fsp.readlink(`/proc/self/fd/${handle.fd}`);
    } catch {
      try {
        real = await fsp.realpath(this.name);
        const named = await fsp.stat(real);
        if (named.ino !== st.ino || named.dev !== st.dev) real = null;
      } catch {
        real = null;
      }
    }
    if (real !== null && real.startsWith(root + path.sep)) return true;
    this.problem(
      `${this.name} now leads outside ${root}` +
        (real === null ? "" : ` (to ${real})`) +
        "; refused (waiting for a file inside it)",
    );
    return false;
  }

  /** Reads from the current position to the end of the file, as long as it grows. */
  private async readToEnd(file: FileRef): Promise<void> {
    for (;;) {
      if (this.closed || this.file !== file) return;
      const { size } = await file.handle.stat();
      if (this.closed || this.file !== file) return;
      if (size < this.readPos) this.truncated();
      if (size <= this.readPos) return;
      while (this.readPos < size) {
        const n = Math.min(READ_SIZE, size - this.readPos);
        const buf = Buffer.allocUnsafe(n);
        const { bytesRead } = await file.handle.read(buf, 0, n, this.readPos);
        if (this.closed || this.file !== file) return;
        if (bytesRead === 0) break; // shrank while we read: the next stat says how
        this.readPos += bytesRead;
        this.framer.push(bytesRead === n ? buf : buf.subarray(0, bytesRead), this.emit);
      }
    }
  }

  /** Same file, fewer bytes than we have read: copy-and-truncate. Start again from 0. */
  private truncated(): void {
    this.framer.finish(this.emit);
    this.readPos = 0;
    this.framer.reset(0);
    this.log.info(this.name, `${this.name} was truncated; following it from its new start`);
  }

  /** The followed file is gone from the name: flush its last partial line and let it go. */
  private endFile(why: string): void {
    this.framer.finish(this.emit);
    this.log.info(this.name, `${this.name} ${why}; finished reading the old file`);
    this.fileWatcher?.close();
    this.fileWatcher = null;
    this.releaseFile();
    this.readPos = 0;
    this.framer.reset(0);
  }

  private releaseFile(): void {
    this.file?.release();
    this.file = null;
  }

  private readonly emit = (data: Buffer, end: number): void => {
    const chunk = new Chunk(data, end);
    for (const sub of this.subs) sub.push(chunk);
  };

  /** fs.watch that schedules a check; on failure (no inotify, limits) the poll remains. */
  private watch(target: string, relevant: (filename: string) => boolean): fs.FSWatcher | null {
    try {
      const watcher = fs.watch(target, { persistent: false }, (_event, filename) => {
        if (filename === null || relevant(String(filename))) this.schedule();
      });
      watcher.on("error", () => {
        watcher.close();
        this.schedule();
      });
      return watcher;
    } catch (err) {
      if (!isMissing(err)) {
        this.log.debug(this.name, `cannot watch ${target}: ${(err as Error).message}; polling`);
      }
      return null;
    }
  }

  /** Logs a problem once until it changes (the poll would otherwise repeat it). */
  private problem(message: string, level: "info" | "warning" = "warning"): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    if (level === "info") this.log.info(this.name, message);
    else this.log.warning(this.name, message);
  }
}

// ------------------------------------------------------------------------------ backlog reads

/**
 * Where the live stream of a newly found file starts: just after the last newline within the
 * last `maxBytes` bytes (a partial last line is then read and held until its newline comes);
 * the end when there is none (an over-long partial line is not replayed).
 */
async function lastLineEnd(
  handle: fsp.FileHandle,
  size: number,
  maxBytes: number,
): Promise<number> {
  if (size === 0) return 0;
  const n = Math.min(size, maxBytes);
  const buf = Buffer.allocUnsafe(n);
  const { bytesRead } = await handle.read(buf, 0, n, size - n);
  const nl = buf.subarray(0, bytesRead).lastIndexOf(NEWLINE);
  if (nl >= 0) return size - n + nl + 1;
  return size <= maxBytes ? 0 : size;
}

/**
 * The offset where the last `lines` lines before `end` begin, reading backwards one block at a
 * time, at most `limit` bytes (LINES_SEARCH_LIMIT): only the bytes of those lines are read,
 * however large the file. With fewer lines than asked in the window, the first whole line in
 * it; with no line start at all, the window's start, moved to a UTF-8 character boundary.
 * Rejects with the signal's reason (an AbortError) as soon as `signal` aborts: the client left.
 */
export async function lastLinesStart(
  handle: fsp.FileHandle,
  end: number,
  lines: number,
  signal?: AbortSignal,
  limit = LINES_SEARCH_LIMIT,
): Promise<number> {
  if (lines <= 0 || end === 0) return end;
  signal?.throwIfAborted();
  const floor = Math.max(0, end - limit);
  const buf = Buffer.allocUnsafe(READ_SIZE);
  let pos = end;
  let found = 0;
  let earliest = -1; // the earliest line start seen so far
  let skipLast = true; // the newline that ends the last line does not start a line
  while (pos > floor) {
    const n = Math.min(READ_SIZE, pos - floor);
    pos -= n;
    const { bytesRead } = await handle.read(buf, 0, n, pos);
    signal?.throwIfAborted();
    if (bytesRead < n) return end; // shrank meanwhile: replay nothing rather than garbage
    for (let i = n - 1; i >= 0; i--) {
      if (buf[i] !== NEWLINE) {
        skipLast = false;
        continue;
      }
      if (skipLast) {
        skipLast = false;
        continue;
      }
      earliest = pos + i + 1;
      if (++found === lines) return earliest;
    }
  }
  if (floor === 0) return 0;
  if (earliest >= 0) return earliest;
  // No line starts in the window: begin inside a line, but never inside a character.
  const head = Buffer.alloc(4);
  const { bytesRead } = await handle.read(head, 0, 4, floor);
  let skip = 0;
  while (skip < bytesRead && skip < 3 && ((head[skip] as number) & 0xc0) === 0x80) skip++;
  return floor + skip;
}

/** True when `offset` starts a line of the file (offset 0, or just after a newline). */
export async function isLineStart(handle: fsp.FileHandle, offset: number): Promise<boolean> {
  if (offset === 0) return true;
  const buf = Buffer.alloc(1);
  const { bytesRead } = await handle.read(buf, 0, 1, offset - 1);
  return bytesRead === 1 && buf[0] === NEWLINE;
}

/**
 * Reads `[from, to)` of a file as line-framed chunks, one block at a time (bounded memory,
 * whatever the size). `to` should be a subscription's `end`, so the chunks join the live stream
 * with no gap and no overlap.
 */
export async function* readRange(
  handle: fsp.FileHandle,
  from: number,
  to: number,
  maxBytes: number,
): AsyncGenerator<Chunk, void, undefined> {
  const framer = new LineFramer(maxBytes, from);
  const out: Chunk[] = [];
  const emit = (data: Buffer, end: number): void => {
    out.push(new Chunk(data, end));
  };
  let pos = from;
  while (pos < to) {
    const n = Math.min(READ_SIZE, to - pos);
    const buf = Buffer.allocUnsafe(n);
    const { bytesRead } = await handle.read(buf, 0, n, pos);
    if (bytesRead === 0) break; // truncated meanwhile: the live stream says what comes next
    pos += bytesRead;
    framer.push(bytesRead === n ? buf : buf.subarray(0, bytesRead), emit);
    while (out.length > 0) yield out.shift() as Chunk;
  }
  framer.flushRaw(emit);
  while (out.length > 0) yield out.shift() as Chunk;
}
