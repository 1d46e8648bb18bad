// The errors of connections and messages (bad input, timeouts, protocol breaches), on the channels'
// `SocketsError` base. Bad arguments throw plain TypeError/RangeError instead.

import { SocketsError } from "../channels/errors";

export { SocketsError, ChannelClosedError } from "../channels/errors";

/** One problem found in a message: the Standard Schema issue shape. */
export interface MessageIssue {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/**
 * How much of an invalid message an InvalidMessageError keeps (bytes; a string is cut at a
 * character). An `error` channel holds 16 of them per connection: this bounds what a handler
 * that never reads `error` keeps alive, whatever `maxMessageSize` is.
 */
export const INVALID_DATA_PREFIX = 1024;

/** The first INVALID_DATA_PREFIX bytes of `data`, copied (a view would keep the whole message). */
function prefixOf(data: Buffer | string): Buffer | string {
  if (typeof data === "string") {
    // At most 3 bytes of UTF-8 per UTF-16 unit: short strings need no measuring.
    if (data.length * 3 <= INVALID_DATA_PREFIX || Buffer.byteLength(data) <= INVALID_DATA_PREFIX) {
      return data;
    }
    const bytes = Buffer.from(data.slice(0, INVALID_DATA_PREFIX));
    let cut = INVALID_DATA_PREFIX;
    // Back to the start of a character (a byte 10xxxxxx continues one).
    while (cut > 0 && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
    return bytes.toString("utf8", 0, cut);
  }
  return data.length <= INVALID_DATA_PREFIX
    ? data
    : Buffer.from(data.subarray(0, INVALID_DATA_PREFIX));
}

/**
 * A client message that could not be decoded: bad JSON, a schema or type-guard failure, or a
 * binary frame on a text route that is not valid UTF-8. Code `ERR_INVALID_MESSAGE`. It goes to
 * the connection's `error` channel; the connection stays open unless `closeOnInvalidMessage`
 * (then it closes with 1007).
 */
export class InvalidMessageError extends SocketsError {
  /**
   * What arrived, at most its first INVALID_DATA_PREFIX (1024) bytes: the text when the frame
   * decoded as UTF-8, else the raw bytes. `size` says how long the whole message was.
   */
  readonly data: Buffer | string;
  /** The size of the whole message in bytes (`data` may hold only its start). */
  readonly size: number;
  /** Why it was rejected (from the schema, or one issue describing the decode failure). */
  readonly issues: readonly MessageIssue[];

  constructor(
    message: string,
    data: Buffer | string,
    issues: readonly MessageIssue[],
    options?: { cause?: unknown; closeCode?: number; size?: number },
  ) {
    super("ERR_INVALID_MESSAGE", message, options);
    this.data = prefixOf(data);
    this.size = options?.size ?? (typeof data === "string" ? Buffer.byteLength(data) : data.length);
    this.issues = issues;
  }
}

/**
 * A deadline passed. `ERR_PONG_TIMEOUT` (no frame from the client within `pongWait`),
 * `ERR_WRITE_TIMEOUT` (a write not flushed within `writeWait`) and `ERR_CLOSE_TIMEOUT` (a
 * graceful close did not finish in time) end the connection: the socket is terminated without
 * a close frame, so `closeCode` is 1006. `ERR_REQUEST_TIMEOUT` (a `request()` of
 * sockets.events not answered in time) ends only that request: no `closeCode`.
 */
export class TimeoutError extends SocketsError {
  constructor(
    code: "ERR_PONG_TIMEOUT" | "ERR_WRITE_TIMEOUT" | "ERR_CLOSE_TIMEOUT" | "ERR_REQUEST_TIMEOUT",
    message: string,
  ) {
    super(code, message, code === "ERR_REQUEST_TIMEOUT" ? undefined : { closeCode: 1006 });
  }
}

/**
 * The client broke the WebSocket protocol and `ws` closed the connection: invalid UTF-8 in a
 * text frame (1007), a message over `maxMessageSize` (1009), a bad frame (1002). Code
 * `ERR_PROTOCOL`; `closeCode` is the code ws closed with; `cause` is ws's own error, whose
 * `code` (e.g. `WS_ERR_INVALID_UTF8`) says exactly what was wrong.
 */
export class ProtocolError extends SocketsError {
  constructor(message: string, closeCode: number | undefined, cause: unknown) {
    super("ERR_PROTOCOL", message, closeCode === undefined ? { cause } : { cause, closeCode });
  }
}
