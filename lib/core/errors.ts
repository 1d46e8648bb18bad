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
 * A client message that could not be decoded: bad JSON, a schema or type-guard failure, or a
 * binary frame on a text route that is not valid UTF-8. Code `ERR_INVALID_MESSAGE`. It goes to
 * the connection's `error` channel; the connection stays open unless `closeOnInvalidMessage`
 * (then it closes with 1007).
 */
export class InvalidMessageError extends SocketsError {
  /** What arrived: the text when the frame decoded as UTF-8, else the raw bytes. */
  readonly data: Buffer | string;
  /** Why it was rejected (from the schema, or one issue describing the decode failure). */
  readonly issues: readonly MessageIssue[];

  constructor(
    message: string,
    data: Buffer | string,
    issues: readonly MessageIssue[],
    options?: { cause?: unknown; closeCode?: number },
  ) {
    super("ERR_INVALID_MESSAGE", message, options);
    this.data = data;
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
