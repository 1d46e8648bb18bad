// The shape every transport binds a connection to (`res.locals.socket`): five channels and an id.
// WebSocket routes (sockets.json/messages/bytes) and Server-Sent Events (sockets.sse) both give
// this shape, so handlers such as sockets.tail work on either.

import type { ReadChannel, WriteChannel } from "../channels/channel";

/** How a connection ended: the close code and reason (1006 when it ended without a close frame). */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** What `disconnect` takes: a close code, or a code and a reason. */
export type DisconnectRequest = number | { code: number; reason?: string };

/** Which factory bound the connection; tells generic handlers how to encode what they send. */
export type Transport = "json" | "messages" | "bytes" | "sse" | "events";

/** A bound connection: `res.locals.socket` after a sockets factory ran. */
export interface Socket<In, Out = In> {
  /** Client messages in order; closes after the connection closes and its buffer drains. */
  readonly receiver: ReadChannel<In>;
  /** Resolves once queued (waits while buffers are full); rejects once the connection closed. */
  readonly sender: WriteChannel<Out>;
  /** Yields one CloseInfo when the connection is closed, then closes. */
  readonly done: ReadChannel<CloseInfo>;
  /** Close with this code after flushing queued sends. */
  readonly disconnect: WriteChannel<DisconnectRequest>;
  /** Invalid messages, protocol errors, timeouts. Never blocks the connection. */
  readonly error: ReadChannel<Error>;
  /** Unique per connection. */
  readonly id: string;
  /** The factory that bound it. */
  readonly transport: Transport;
}

/** The `res.locals` a sockets factory provides to the handlers after it. */
export interface SocketLocals<In, Out = In> extends Record<string, unknown> {
  socket: Socket<In, Out>;
}
