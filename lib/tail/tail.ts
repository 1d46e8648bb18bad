// sockets.tail(path | { root }, options) and watchFile(path, socket, options): stream a file into
// a bound connection like `tail -F`, on any transport (json, messages, bytes, sse).
//
// One connection, in order:
//   1. choose the file (fixed, or from the URL inside `root`, refused with 404 when unsafe)
//   2. choose where to start: `Last-Event-ID` (SSE reconnect) > `?from=` > options
//      (last `lines` lines, default 10; `from: "start"` = whole file; `from: "end"` = new data)
//   3. subscribe to the shared follower (lib/follower.ts): a snapshot (file, end) plus a queue of
//      the live chunks after `end`
//   4. send the backlog [start, end) read from the snapshot's file in bounded blocks, then the
//      live chunks: no gap and no overlap, whole lines only
//   5. until the connection closes (or the signal aborts); then release the subscription.
//
// Offsets are byte offsets in the current file, carried by every message (`id` on SSE,
// `offset` on json). A resume offset is trusted when it starts a line of the current file;
// past the end, or not at a line start, it belongs to a file that has since been truncated or
// replaced, and the client gets the new content from offset 0. Policy for a slow client: when
// its queue passes `maxQueueBytes` it is closed with 1013 (Try Again Later) and a log line; it
// can reconnect with its last offset and lose nothing the file still holds.

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { FileHandle } from "node:fs/promises";
import { ChannelClosedError } from "../core/errors";
import {
  Chunk,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_QUEUE_BYTES,
  DEFAULT_POLL_INTERVAL,
  follow,
  isLineStart,
  lastLinesStart,
  readRange,
  type Subscription,
} from "./follower";
import { createLog, type Log, type LoggerLike, type LogLevel } from "../core/logger";
import { checkCount, checkKeys, checkTime, keysOf } from "../core/options";
import { holdOpen, SseEvent } from "../sse/sse";
import type { CloseInfo, Socket, Transport } from "../core/socket";

/** Close code for a client that fell more than `maxQueueBytes` behind (Try Again Later). */
export const TAIL_TOO_SLOW = 1013;
/** Close code for a bad `?from=` / `Last-Event-ID` on an open connection (Policy Violation). */
export const TAIL_BAD_OFFSET = 1008;
/** Close code for a file refused after the handshake (4000 + HTTP 404). */
export const TAIL_NOT_FOUND = 4404;

/** Options of `sockets.tail()`. Every field is optional. */
export interface TailOptions {
  /** Start with the last this many lines. `0` = only new data. Defaults to `10`. */
  lines?: number;
  /** `"start"` = the whole file (streamed in bounded memory); `"end"` = only new data. Defaults to the last `lines` lines. */
  from?: "start" | "end";
  /** Largest message in bytes; lines are grouped up to it, a longer line is cut at a character boundary. Defaults to `65536`. */
  maxMessageBytes?: number;
  /** Per-client queue limit in bytes; a client further behind is closed with 1013. Defaults to 4 MiB. */
  maxQueueBytes?: number;
  /** Safety-net stat poll in ms for file systems without events; `0` = events only. Defaults to `2000`. */
  pollInterval?: number;
  /** Where log lines go. Defaults to stdout, prefixed `[sockets] `. */
  logger?: LoggerLike;
  /** The most verbose level written. Defaults to `"info"`. */
  logLevel?: LogLevel;
  /** No logging at all. Defaults to `false`. */
  skipLogging?: boolean;
}

/** Options of `watchFile()`. */
export interface WatchFileOptions extends Omit<TailOptions, "from"> {
  /** As for sockets.tail, or a byte offset to resume from (a message's `offset` / event id). */
  from?: "start" | "end" | number;
  /** Stops following (the connection stays open); watchFile then resolves with undefined. */
  signal?: AbortSignal;
}

/** The directory form of sockets.tail: the file is chosen by the URL, inside `root` only. */
export interface TailRoot {
  /** The directory whose regular files may be followed. Must exist when the factory is called. */
  root: string;
  /**
   * The route parameter holding the file's path (`/logs/*file` or `/logs/:file`). Without it
   * (e.g. `app.use("/logs", ...)`) the rest of the URL path is used. Defaults to `"file"`.
   */
  param?: string;
}

interface ResolvedTailOptions {
  lines: number;
  from: "start" | "end" | number | undefined;
  maxMessageBytes: number;
  maxQueueBytes: number;
  pollInterval: number;
  log: Log;
}

const TAIL_OPTION_KEYS = keysOf<WatchFileOptions>()([
  "lines",
  "from",
  "maxMessageBytes",
  "maxQueueBytes",
  "pollInterval",
  "logger",
  "logLevel",
  "skipLogging",
  "signal",
]);

function resolveTailOptions(options: WatchFileOptions | undefined): ResolvedTailOptions {
  const o = options ?? {};
  if (typeof o !== "object" || Array.isArray(o)) throw new TypeError("options must be an object");
  checkKeys("sockets.tail options", o, TAIL_OPTION_KEYS);
  const from = o.from;
  if (
    from !== undefined &&
    from !== "start" &&
    from !== "end" &&
    !(typeof from === "number" && Number.isSafeInteger(from) && from >= 0)
  ) {
    throw new RangeError(
      `options.from must be "start", "end" or a byte offset, got ${JSON.stringify(from)}`,
    );
  }
  const maxMessageBytes = checkCount(
    "maxMessageBytes",
    o.maxMessageBytes,
    DEFAULT_MAX_MESSAGE_BYTES,
  );
  if (maxMessageBytes < 4) {
    throw new RangeError("options.maxMessageBytes must be at least 4 (one UTF-8 character)");
  }
  return {
    lines: checkCount("lines", o.lines, 10),
    from,
    maxMessageBytes,
    maxQueueBytes: checkCount("maxQueueBytes", o.maxQueueBytes, DEFAULT_MAX_QUEUE_BYTES),
    pollInterval: checkTime("pollInterval", o.pollInterval, DEFAULT_POLL_INTERVAL),
    log: createLog(o),
  };
}

function checkSocket(socket: unknown): asserts socket is Socket<unknown, unknown> {
  const s = socket as Partial<Socket<unknown, unknown>> | null;
  if (typeof s !== "object" || s === null || s.sender === undefined || s.done === undefined) {
    throw new TypeError("watchFile: socket must be a bound connection (res.locals.socket)");
  }
}

// -------------------------------------------------------------------------------- encoding

const kJson = Symbol("tail.json");
const kSse = Symbol("tail.sse");

/** What a chunk becomes on each transport; one value per chunk, shared by every client. */
function encoderFor(transport: Transport): (chunk: Chunk) => unknown {
  switch (transport) {
    case "json":
      return (c) => c.memo(kJson, () => Object.freeze({ offset: c.end, data: c.text }));
    case "bytes":
      return (c) => c.data;
    case "sse":
      return (c) => c.memo(kSse, () => new SseEvent(c.text, { id: String(c.end) }));
    default:
      return (c) => c.text;
  }
}

// -------------------------------------------------------------------------------- watchFile

/**
 * Streams `file` into `socket.sender` until the connection closes (or `options.signal`
 * aborts), starting with its last `lines` lines and following it like `tail -F`. Resolves with
 * how the connection closed (it reads one value from `socket.done`), or undefined when aborted.
 * Never rejects: errors are logged and close the connection with 1011. Throws TypeError or
 * RangeError at once for bad arguments.
 */
export function watchFile(
  file: string,
  socket: Socket<unknown, unknown>,
  options?: WatchFileOptions,
): Promise<CloseInfo | undefined> {
  if (typeof file !== "string" || file === "") {
    throw new TypeError("watchFile: path must be a non-empty string");
  }
  checkSocket(socket);
  const o = resolveTailOptions(options);
  return follower(file, socket, o, o.from, options?.signal, undefined, null);
}

function noop(): void {}

async function follower(
  file: string,
  socket: Socket<unknown, unknown>,
  o: ResolvedTailOptions,
  from: "start" | "end" | number | undefined,
  signal: AbortSignal | undefined,
  onLive: (() => void) | undefined,
  root: string | null,
): Promise<CloseInfo | undefined> {
  let sub: Subscription | undefined;
  let stopped = false;
  // Aborts the work done for this client alone (the backward search for `lines`) when it goes.
  const gone = new AbortController();
  const stop = (): void => {
    stopped = true;
    gone.abort();
    sub?.interrupt();
  };
  // Stops our read of `done` too when aborted, so the handler's own reader gets the CloseInfo.
  const ours = new AbortController();
  const onAbort = (): void => {
    ours.abort(signal?.reason);
    stop();
  };
  if (signal?.aborted) return undefined;
  signal?.addEventListener("abort", onAbort, { once: true });
  const closed = socket.done.recv({ signal: ours.signal }).then(
    (r) => {
      stop();
      return r.done ? undefined : r.value;
    },
    () => undefined,
  );
  try {
    sub = await follow(file, {
      maxMessageBytes: o.maxMessageBytes,
      pollInterval: o.pollInterval,
      maxQueueBytes: o.maxQueueBytes,
      log: o.log,
      ...(root === null ? {} : { root }),
    });
    onLive?.();
    if (!stopped) await stream(file, sub, socket, o, from, () => stopped, signal, gone.signal);
  } catch (err) {
    if (!(err instanceof ChannelClosedError) && !stopped && !socket.sender.closed) {
      o.log.error(socket.id, `tail ${file}: ${(err as Error).message}; closing with 1011`);
      socket.disconnect.send({ code: 1011, reason: "tail failed" }).catch(noop);
    }
  } finally {
    sub?.close();
    signal?.removeEventListener("abort", onAbort);
  }
  if (signal?.aborted) return undefined;
  return closed;
}

async function stream(
  file: string,
  sub: Subscription,
  socket: Socket<unknown, unknown>,
  o: ResolvedTailOptions,
  from: "start" | "end" | number | undefined,
  stopped: () => boolean,
  signal: AbortSignal | undefined,
  gone: AbortSignal,
): Promise<void> {
  const encode = encoderFor(socket.transport);
  const sender = socket.sender;
  // A send waiting on a stalled client is withdrawn as soon as its queue overflows (it then
  // delivers nothing), so the policy below applies at once, not after a write timeout.
  const sendSignal = signal === undefined ? sub.signal : AbortSignal.any([signal, sub.signal]);
  let offset = sub.end;
  const send = async (chunk: Chunk): Promise<boolean> => {
    try {
      await sender.send(encode(chunk), { signal: sendSignal });
    } catch (err) {
      if (sub.ended === "overflow") return false;
      throw err;
    }
    offset = chunk.end;
    return true;
  };
  let overflowed = false;
  const snapshot = sub.file;
  if (snapshot === null) await tellMissing(file, sub.name, socket, o, sendSignal);
  if (snapshot !== null) {
    const start = await startOffset(snapshot.handle, sub.end, from, o.lines, gone);
    if (start < sub.end) {
      for await (const chunk of readRange(snapshot.handle, start, sub.end, o.maxMessageBytes)) {
        if (stopped()) return;
        if (!(await send(chunk))) {
          overflowed = true;
          break;
        }
      }
    }
    sub.releaseFile();
  }
  while (!overflowed) {
    if (stopped()) return;
    const chunk = sub.next();
    if (chunk !== undefined) {
      overflowed = !(await send(chunk));
    } else if (sub.ended === "overflow") {
      overflowed = true;
    } else {
      await sub.wait();
    }
  }
  o.log.warning(
    socket.id,
    `tail ${file}: client more than ${o.maxQueueBytes} bytes behind; closing with ` +
      `${TAIL_TOO_SLOW} (it may resume from offset ${offset})`,
  );
  socket.disconnect.send({ code: TAIL_TOO_SLOW, reason: "tail: client too slow" }).catch(noop);
}

/**
 * The file is not there (yet) when the client arrives: a warning with the resolved path, and the
 * client is told once, in a form that cannot be mistaken for the file's lines: a `notice` event
 * on SSE (EventSource's `onmessage` does not see it), `{ offset: 0, data: "", notice }` on a
 * json route. messages() and bytes() routes carry the file's bytes alone, so they get nothing.
 */
async function tellMissing(
  file: string,
  resolved: string,
  socket: Socket<unknown, unknown>,
  o: ResolvedTailOptions,
  signal: AbortSignal,
): Promise<void> {
  const there = await fsp.stat(resolved).then(
    () => true,
    () => false,
  );
  const what = there ? "is not a regular file" : "does not exist yet";
  o.log.warning(socket.id, `tail: ${resolved} ${what}; waiting for it to appear`);
  const notice = `${path.basename(file)} ${what}; waiting for it`;
  let value: unknown;
  if (socket.transport === "sse") value = new SseEvent(notice, { event: "notice" });
  else if (socket.transport === "json") value = { offset: 0, data: "", notice };
  else return;
  await socket.sender.send(value, { signal }).catch(noop);
}

/** Where a new subscriber's backlog starts, in the snapshot's file (which ends at `end`). */
async function startOffset(
  handle: FileHandle,
  end: number,
  from: "start" | "end" | number | undefined,
  lines: number,
  gone: AbortSignal,
): Promise<number> {
  if (from === "start") return 0;
  if (from === "end") return end;
  if (typeof from === "number") {
    if (from === end) return end;
    // Past the end: the file was truncated or replaced since. Not at a line start: the offset
    // came from another file. Either way the client gets the current file from its start.
    if (from > end) return 0;
    return (await isLineStart(handle, from)) ? from : 0;
  }
  return lastLinesStart(handle, end, lines, gone);
}

// ------------------------------------------------------------------------------ sockets.tail

const kResolved = Symbol("express-sockets.tail.file");

/** Resolves the URL's file inside `root` (a real path); null when it must be refused. */
async function resolveInRoot(root: string, req: Request, param: string): Promise<string | null> {
  const raw: unknown = (req.params as Record<string, unknown> | undefined)?.[param];
  let segments: string[];
  if (Array.isArray(raw)) {
    segments = raw.map(String); // Express 5 wildcard: already decoded, one per segment
  } else if (typeof raw === "string") {
    segments = [raw]; // a named parameter: one segment, already decoded
  } else {
    segments = [];
    for (const part of req.path.replace(/^\//, "").split("/")) {
      try {
        segments.push(decodeURIComponent(part));
      } catch {
        return null;
      }
    }
  }
  if (segments.length === 0) return null;
  for (const s of segments) {
    // Empty ("a//b", a leading "/"), dot segments, and separators or NUL that came encoded.
    if (s === "" || s === "." || s === ".." || /[/\\\0]/.test(s) || path.isAbsolute(s)) {
      return null;
    }
  }
  let real: string;
  try {
    real = await fsp.realpath(path.join(root, ...segments));
  } catch {
    return null;
  }
  if (!real.startsWith(root + path.sep)) return null; // a symlink leading outside root
  try {
    return (await fsp.stat(real)).isFile() ? real : null;
  } catch {
    return null;
  }
}

/** Parses a resume offset: decimal digits only. undefined = none given; NaN = invalid. */
function parseOffset(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value)) return Number.NaN;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : Number.NaN;
}

/** The resume offset the client asked for: Last-Event-ID (SSE reconnect) wins over ?from=. */
function requestedOffset(req: Request): number | undefined {
  const lastEventId = req.headers["last-event-id"];
  if (typeof lastEventId === "string" && lastEventId !== "") return parseOffset(lastEventId);
  const url = req.originalUrl ?? req.url;
  const q = url.indexOf("?");
  if (q < 0) return undefined;
  const values = new URLSearchParams(url.slice(q + 1)).getAll("from");
  if (values.length === 0) return undefined;
  return values.length === 1 ? parseOffset(values[0]) : Number.NaN;
}

/**
 * `sockets.tail(path, options)`: a handler that streams `path` to the connection bound by the
 * sockets factory before it (json, messages, bytes or sse), like `tail -F`, until it closes.
 *
 * `sockets.tail({ root, param })`: the file comes from the URL (`req.params[param]`, default
 * `file`, or the rest of the path) and must be a regular file inside `root`: `..`, absolute
 * paths, encoded separators, NUL, symlinks leading outside `root` and anything not a regular
 * file are refused with 404. Placed *before* the factory as well
 * (`const logs = sockets.tail({ root }); app.get("/logs/*file", logs, sockets.messages(), logs)`),
 * it refuses a WebSocket upgrade with a real HTTP 404; after an SSE factory it answers 404
 * itself; after a WebSocket handshake all it can do is close with 4404.
 */
export function tail(target: string | TailRoot, options?: TailOptions): RequestHandler {
  let fixed: string | null = null;
  let root: string | null = null;
  let param = "file";
  if (typeof target === "string") {
    if (target === "") throw new TypeError("sockets.tail: path must be a non-empty string");
    fixed = target;
  } else if (typeof target === "object" && target !== null && typeof target.root === "string") {
    if (target.param !== undefined) {
      if (typeof target.param !== "string" || target.param === "") {
        throw new TypeError("sockets.tail: param must be a non-empty string");
      }
      param = target.param;
    }
    try {
      root = fs.realpathSync(target.root);
    } catch (err) {
      throw new TypeError(`sockets.tail: root ${target.root} is not accessible`, { cause: err });
    }
    if (!fs.statSync(root).isDirectory()) {
      throw new TypeError(`sockets.tail: root ${target.root} is not a directory`);
    }
  } else {
    throw new TypeError("sockets.tail: expected a path or { root }");
  }
  if (options !== undefined && (options as WatchFileOptions).from !== undefined) {
    const from = (options as WatchFileOptions).from;
    if (from !== "start" && from !== "end") {
      throw new RangeError(`options.from must be "start" or "end", got ${JSON.stringify(from)}`);
    }
  }
  const o = resolveTailOptions(options);

  return function tailHandler(req: Request, res: Response, next: NextFunction): unknown {
    const locals = res.locals as Record<string | symbol, unknown>;
    const socket = locals.socket as Socket<unknown, unknown> | undefined;
    if (socket === undefined || typeof socket !== "object") {
      if (root === null) {
        next(
          new TypeError(
            "sockets.tail(path) must come after a sockets factory on its route " +
              "(sockets.messages(), sockets.json(), sockets.bytes() or sockets.sse())",
          ),
        );
        return undefined;
      }
      // Before the factory: refuse with a real 404 while we still can.
      return resolveInRoot(root, req, param).then((file) => {
        if (file === null) {
          o.log.info(req.socket.remoteAddress ?? "", `tail: refused ${req.path} (404)`);
          res.status(404).type("text/plain").send("Not Found");
        } else {
          locals[kResolved] = file;
          next();
        }
      }, next);
    }
    const release = holdOpen(socket); // SSE: our HTTP status until we know the answer
    return serve(req, res, socket, release).finally(() => release?.());
  };

  async function serve(
    req: Request,
    res: Response,
    socket: Socket<unknown, unknown>,
    release: (() => void) | undefined,
  ): Promise<CloseInfo | undefined> {
    const refuse = (status: number, code: number, reason: string): void => {
      o.log.info(socket.id, `tail: refused ${req.path}: ${reason}`);
      if (release !== undefined && !res.headersSent) {
        res.status(status).type("text/plain").send(reason);
      } else {
        socket.disconnect.send({ code, reason }).catch(noop);
      }
    };
    let file = fixed;
    if (file === null) {
      const resolved = (res.locals as Record<symbol, unknown>)[kResolved];
      file =
        typeof resolved === "string" ? resolved : await resolveInRoot(root as string, req, param);
      if (file === null) {
        refuse(404, TAIL_NOT_FOUND, "Not Found");
        return undefined;
      }
    }
    const offset = requestedOffset(req);
    if (offset !== undefined && Number.isNaN(offset)) {
      refuse(400, TAIL_BAD_OFFSET, "invalid resume offset");
      return undefined;
    }
    // SSE opens once the subscription is live: an `open` event means nothing is missed from now.
    // Confined to `root`: every file the follower opens later is checked again (follower.ts).
    return follower(file, socket, o, offset ?? o.from, undefined, release, root);
  }
}
