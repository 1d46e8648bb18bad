// The errors a channel can raise, and the base class of every error this package produces: one
// class with a stable machine-readable `code`, and the close code an error causes where it ends a
// connection. Channels import nothing else; every other subsystem builds its errors on this one.

/** Base class of every error this package produces. `code` is stable and safe to switch on. */
export class SocketsError extends Error {
  /** Machine-readable code, e.g. `ERR_CHANNEL_CLOSED`. */
  readonly code: string;
  /** The WebSocket close code this error caused, when it ended a connection. */
  readonly closeCode: number | undefined;

  constructor(code: string, message: string, options?: { cause?: unknown; closeCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.closeCode = options?.closeCode;
  }
}

/** A send on a closed channel, or a send that was waiting when the channel closed. */
export class ChannelClosedError extends SocketsError {
  constructor(message = "send on closed channel") {
    super("ERR_CHANNEL_CLOSED", message);
  }
}
