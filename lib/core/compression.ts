// The `perMessageDeflate` option (RFC 7692): off by default, `true` for ws's defaults, or ws's
// options object. Checked once when a factory is called; a connection negotiates it only when
// the client offers it too. Why it is off by default (measured in bench/deflate.js): with context
// takeover (the default) each compressed connection keeps a zlib deflate context alive once it
// has been sent a message, about 250 KB of RSS against about 20 KB for the whole connection
// otherwise; and a broadcast, framed once for every uncompressed connection, is compressed once
// per compressed connection (8x the server CPU for 64 B messages, 26x for 4 KiB JSON ones).

import type { ZlibOptions } from "node:zlib";

/** ws's `perMessageDeflate` options (the fields this package passes on, all optional). */
export interface DeflateOptions {
  /**
   * Messages smaller than this many bytes are sent uncompressed, when `serverNoContextTakeover`
   * is negotiated (with context takeover ws compresses every message: small ones gain the most
   * from the shared context). ws's default: `1024`.
   */
  threshold?: number;
  /** Start every message the server sends with a fresh deflate context (less memory, worse ratio). */
  serverNoContextTakeover?: boolean;
  /** Ask the client to start every message with a fresh context. */
  clientNoContextTakeover?: boolean;
  /** Window size the server compresses with, 8-15 (smaller: less memory). */
  serverMaxWindowBits?: number;
  /** Window size asked of the client, 8-15, or `true` to accept what it offers. */
  clientMaxWindowBits?: number | boolean;
  /** How many zlib operations run at once in the process (ws's default: 10). */
  concurrencyLimit?: number;
  /** Passed to zlib's deflate (`level`, `memLevel`, `chunkSize` ...). */
  zlibDeflateOptions?: ZlibOptions;
  /** Passed to zlib's inflate. */
  zlibInflateOptions?: ZlibOptions;
}

const BOOLEANS = ["serverNoContextTakeover", "clientNoContextTakeover"] as const;
const OBJECTS = ["zlibDeflateOptions", "zlibInflateOptions"] as const;
const KNOWN = new Set<string>([
  "threshold",
  "serverMaxWindowBits",
  "clientMaxWindowBits",
  "concurrencyLimit",
  ...BOOLEANS,
  ...OBJECTS,
]);

function windowBits(name: string, value: unknown, allowTrue: boolean): void {
  if (value === undefined || (allowTrue && value === true)) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 8 || value > 15) {
    throw new RangeError(
      `options.perMessageDeflate.${name} must be an integer from 8 to 15` +
        `${allowTrue ? " or true" : ""}, got ${String(value)}`,
    );
  }
}

/**
 * Checks `perMessageDeflate`: false (the default) or undefined turns it off, true takes ws's
 * defaults, an object is checked field by field. Returns what to give ws.
 */
export function checkDeflate(value: unknown): false | DeflateOptions {
  if (value === undefined || value === false) return false;
  if (value === true) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(
      `options.perMessageDeflate must be a boolean or ws's perMessageDeflate options object, got ${
        value === null ? "null" : Array.isArray(value) ? "an array" : typeof value
      }`,
    );
  }
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) {
      throw new TypeError(
        `options.perMessageDeflate.${key} is not an option; known: ${[...KNOWN].join(", ")}`,
      );
    }
  }
  for (const key of ["threshold", "concurrencyLimit"] as const) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < (key === "threshold" ? 0 : 1)) {
      throw new RangeError(
        `options.perMessageDeflate.${key} must be an integer of at least ${
          key === "threshold" ? 0 : 1
        }, got ${String(v)}`,
      );
    }
  }
  for (const key of BOOLEANS) {
    if (o[key] !== undefined && typeof o[key] !== "boolean") {
      throw new TypeError(`options.perMessageDeflate.${key} must be a boolean`);
    }
  }
  for (const key of OBJECTS) {
    const v = o[key];
    if (v !== undefined && (typeof v !== "object" || v === null || Array.isArray(v))) {
      throw new TypeError(`options.perMessageDeflate.${key} must be zlib's options object`);
    }
  }
  windowBits("serverMaxWindowBits", o.serverMaxWindowBits, false);
  windowBits("clientMaxWindowBits", o.clientMaxWindowBits, true);
  return Object.freeze({ ...(o as DeflateOptions) });
}
