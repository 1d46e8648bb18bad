// The client's errors: one class with a stable `code`, and TimeoutError for requests that got no
// answer (in time, or at all because the connection was lost first).

/**
 * An error of the browser client. `code` is one of:
 * - `ERR_TIMEOUT` (a `TimeoutError`): a request got no answer within its timeout;
 * - `ERR_DISCONNECTED` (a `TimeoutError`): the connection was lost before the answer came (the
 *   server may or may not have handled the request);
 * - `ERR_CLOSED`: the client was closed (by `close()` or a final close code);
 * - `ERR_QUEUE_FULL`: an emit made while disconnected was dropped, the queue being full
 *   (`data` holds the dropped frame);
 * - `ERR_BAD_FRAME`: the server sent a frame the client cannot read (`data` holds it);
 * - `ERR_HEARTBEAT`: no frame from the server within the heartbeat bound: the link is dead;
 * - `ERR_ITERATOR_FULL`: an iterator fell more than 1000 messages behind; its oldest was dropped;
 * - any other code: the server answered a request with this error code.
 */
export class ClientError extends Error {
  readonly code: string;
  readonly data: unknown;
  constructor(code: string, message: string, data?: unknown) {
    super(message);
    this.name = "ClientError";
    this.code = code;
    this.data = data;
  }
}

/** A request that got no answer: `ERR_TIMEOUT` or `ERR_DISCONNECTED`. */
export class TimeoutError extends ClientError {
  constructor(code: "ERR_TIMEOUT" | "ERR_DISCONNECTED", message: string) {
    super(code, message);
    this.name = "TimeoutError";
  }
}
