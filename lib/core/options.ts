// The options of the WebSocket factories (Martini's sockets.Options, times in milliseconds):
// every default stated once here, every value checked once when a factory is called, so a bad
// option throws at startup rather than at the first connection. Unlike Martini, 0 is a setting.

import type { IncomingMessage } from "node:http";
import { createLog, type Log, type LoggerLike, type LogLevel } from "./logger";
import { compileOriginCheck, type AllowedOrigin } from "./origin";
import { checkDeflate, type DeflateOptions } from "./compression";
import { compileProtocols, type ProtocolPolicy, type Protocols } from "./subprotocol";

/** Options of the WebSocket factories (`sockets.json`, `messages`, `bytes`, `frames`). Every field is optional. */
export interface SocketOptions {
  /** Where log lines go: console, pino, winston... Defaults to stdout, prefixed `[sockets] `. */
  logger?: LoggerLike;
  /** The most verbose level written. Defaults to `"info"`. */
  logLevel?: LogLevel;
  /** No logging at all. Defaults to `false`. */
  skipLogging?: boolean;
  /** A write not flushed to the client within this many ms ends the connection. `0` = no limit. Defaults to `60000`. */
  writeWait?: number;
  /** No pong (or any frame) from the client within this many ms ends the connection. `0` = never. Defaults to `60000`. */
  pongWait?: number;
  /** Ping the client every this many ms; must be shorter than `pongWait`. `0` = no pings. Defaults to `48000`. */
  pingPeriod?: number;
  /** Largest incoming message in bytes; a larger one closes with 1009. `0` = no limit. Defaults to `65536`. */
  maxMessageSize?: number;
  /** Capacity of `sender`; `0` = unbuffered (a send waits until the message is being written). Defaults to `10`. */
  sendChannelBuffer?: number;
  /** Capacity of `receiver`; when full, reading from the socket pauses. `0` = unbuffered. Defaults to `10`. */
  recvChannelBuffer?: number;
  /**
   * Which browser origins may connect: a regex source (anchored at the start; `<<host>>` or
   * `{{host}}` stands for the request's Host, regex-escaped), a RegExp, or a predicate.
   * Defaults to `"https?://<<host>>$"` (same host only).
   */
  allowedOrigin?: AllowedOrigin;
  /** Refuse (403) requests without an Origin header (non-browser clients). Defaults to `false`. */
  requireOrigin?: boolean;
  /** Close with 1007 on an invalid message instead of reporting it on `error`. Defaults to `false`. */
  closeOnInvalidMessage?: boolean;
  /**
   * permessage-deflate (RFC 7692), used when the client offers it too: `true` for ws's defaults,
   * or ws's options object (`threshold`, window bits, no-context-takeover). Costs about 250 KB of
   * zlib memory per compressed connection and one deflate per connection in a broadcast.
   * Defaults to `false`.
   */
  perMessageDeflate?: boolean | DeflateOptions;
  /**
   * The subprotocols the route speaks, in order of preference, or a function choosing one of
   * the client's offer (`(offered, req) => name | false`). A client whose offer has none of them
   * gets 400 before the handshake. The choice is `res.locals.socket.protocol`. Defaults to the
   * client's first offer (ws's behaviour).
   */
  protocols?: Protocols;
  /** Refuse (400) a client that offers no subprotocol. Defaults to `false`. */
  requireProtocol?: boolean;
  /**
   * Most frames one incoming message may arrive in; more closes with 1008. Each pending fragment
   * costs about 115 B of heap beyond its payload. `0` = no limit. Defaults to `maxMessageSize /
   * 1024` rounded up, at least 64 (64 at the default `maxMessageSize`), or 16384 (ws's default)
   * when `maxMessageSize` is `0`.
   */
  maxFragments?: number;
}

/** The keys of an options interface, listed at runtime; `keysOf` checks the list is complete. */
export type KeyList<T> = readonly (keyof T & string)[];

/**
 * Lists every key of `T` for `checkKeys`: a list that misses a key of the interface (or names one
 * it does not have) fails to compile, so the runtime check and the type cannot drift apart.
 */
export function keysOf<T>() {
  return <const K extends readonly (keyof T & string)[]>(
    keys: K & ([Exclude<keyof T & string, K[number]>] extends [never] ? unknown : never),
  ): KeyList<T> => keys;
}

/** Every option of `sockets.json`, `sockets.messages` and `sockets.bytes`. */
export const SOCKET_OPTION_KEYS = keysOf<SocketOptions>()([
  "logger",
  "logLevel",
  "skipLogging",
  "writeWait",
  "pongWait",
  "pingPeriod",
  "maxMessageSize",
  "sendChannelBuffer",
  "recvChannelBuffer",
  "allowedOrigin",
  "requireOrigin",
  "closeOnInvalidMessage",
  "perMessageDeflate",
  "protocols",
  "requireProtocol",
  "maxFragments",
]);

/** Edit distance, for suggestions (short option names: the quadratic table is tiny). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The known key `key` was probably meant to be, if any. */
function suggest(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

/**
 * Rejects keys that are not options of `where` (a misspelt `pongwait` in plain JavaScript would
 * otherwise be ignored), with TypeScript's own hint: "Did you mean to write 'pongWait'?".
 */
export function checkKeys(where: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const hint = suggest(key, known);
    throw new TypeError(
      `${where}: unknown option '${key}'.` +
        (hint === undefined
          ? ` Options are: ${known.join(", ")}.`
          : ` Did you mean to write '${hint}'?`),
    );
  }
}

/** Options after defaults and checks: what a connection is bound with. */
export interface ResolvedOptions {
  readonly log: Log;
  readonly writeWait: number;
  readonly pongWait: number;
  readonly pingPeriod: number;
  readonly maxMessageSize: number;
  readonly sendChannelBuffer: number;
  readonly recvChannelBuffer: number;
  readonly closeOnInvalidMessage: boolean;
  /** ws's perMessageDeflate option: false, or the options to negotiate with. */
  readonly perMessageDeflate: false | DeflateOptions;
  /** How a request's subprotocol is chosen. */
  readonly protocols: ProtocolPolicy;
  readonly maxFragments: number;
  /** True when the request's Origin is allowed. */
  readonly checkOrigin: (req: IncomingMessage) => boolean;
}

/** The defaults, Martini's. */
export const DEFAULT_OPTIONS = Object.freeze({
  logLevel: "info" as LogLevel,
  skipLogging: false,
  writeWait: 60_000,
  pongWait: 60_000,
  pingPeriod: 48_000,
  maxMessageSize: 65_536,
  sendChannelBuffer: 10,
  recvChannelBuffer: 10,
  requireOrigin: false,
  closeOnInvalidMessage: false,
  perMessageDeflate: false,
  requireProtocol: false,
});

/** `maxFragments` when not given: about one fragment per KiB of `maxMessageSize`, at least 64. */
export function defaultMaxFragments(maxMessageSize: number): number {
  return maxMessageSize === 0 ? 16_384 : Math.max(64, Math.ceil(maxMessageSize / 1024));
}

/** Longest delay a Node timer honours (larger ones fire after 1 ms). */
export const MAX_TIMER_MS = 2_147_483_647;

/** Checks a duration in ms: a finite number in [0, MAX_TIMER_MS]. */
export function checkTime(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`options.${name} must be a number of milliseconds, got ${describe(value)}`);
  }
  if (value < 0 || value > MAX_TIMER_MS) {
    throw new RangeError(
      `options.${name} must be between 0 and ${MAX_TIMER_MS} ms (0 turns it off), got ${value}`,
    );
  }
  return value;
}

/** Checks a count: a non-negative safe integer. */
export function checkCount(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`options.${name} must be a non-negative integer, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`options.${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/** Checks an optional boolean. */
export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new TypeError(`options.${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : "an object";
}

/**
 * Applies defaults and validates. Throws TypeError for a wrong type and RangeError for a value
 * out of range, each naming the option: call it when a factory is called, never per request.
 */
export function resolveOptions(options?: SocketOptions): ResolvedOptions {
  if (options === undefined || options === null) options = {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  checkKeys("sockets options", options, SOCKET_OPTION_KEYS);
  const d = DEFAULT_OPTIONS;
  const writeWait = checkTime("writeWait", options.writeWait, d.writeWait);
  const pongWait = checkTime("pongWait", options.pongWait, d.pongWait);
  const pingPeriod = checkTime("pingPeriod", options.pingPeriod, d.pingPeriod);
  if (pingPeriod !== 0 && pongWait !== 0 && pingPeriod >= pongWait) {
    throw new RangeError(
      `options.pingPeriod (${pingPeriod} ms) must be shorter than options.pongWait (${pongWait} ms), ` +
        "or the client cannot answer a ping before the pong deadline",
    );
  }
  const log = createLog({
    logger: options.logger,
    logLevel: options.logLevel,
    skipLogging: checkBoolean("skipLogging", options.skipLogging, d.skipLogging),
  });
  const maxMessageSize = checkCount("maxMessageSize", options.maxMessageSize, d.maxMessageSize);
  return Object.freeze({
    log,
    writeWait,
    pongWait,
    pingPeriod,
    maxMessageSize,
    maxFragments: checkCount(
      "maxFragments",
      options.maxFragments,
      defaultMaxFragments(maxMessageSize),
    ),
    perMessageDeflate: checkDeflate(options.perMessageDeflate),
    protocols: compileProtocols(
      options.protocols,
      checkBoolean("requireProtocol", options.requireProtocol, d.requireProtocol),
    ),
    sendChannelBuffer: checkCount(
      "sendChannelBuffer",
      options.sendChannelBuffer,
      d.sendChannelBuffer,
    ),
    recvChannelBuffer: checkCount(
      "recvChannelBuffer",
      options.recvChannelBuffer,
      d.recvChannelBuffer,
    ),
    closeOnInvalidMessage: checkBoolean(
      "closeOnInvalidMessage",
      options.closeOnInvalidMessage,
      d.closeOnInvalidMessage,
    ),
    checkOrigin: compileOriginCheck(
      options.allowedOrigin,
      checkBoolean("requireOrigin", options.requireOrigin, d.requireOrigin),
    ),
  });
}
