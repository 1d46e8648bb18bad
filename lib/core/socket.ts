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
export type Transport = "json" | "messages" | "bytes" | "frames" | "sse" | "events";

/** What the app keeps on a socket (`socket.data`): a plain object, visible through `Hub.fetch()`. */
export type SocketData = Record<string, unknown>;

/**
 * Told synchronously when a socket of this package closes, before its `done` yields: how a Hub
 * makes a closing socket leave every room at once, without a promise or closure per socket.
 */
export interface CloseWatcher {
  socketClosed(socket: Socket<unknown, unknown>): void;
}

/**
 * @internal Every socket this package binds has these two methods under these symbols; a Hub
 * uses them to tell its sockets from foreign objects. `watch` registers a watcher (false when
 * the socket is already closed: nothing is registered); `unwatch` removes it (idempotent).
 */
export const WATCH_CLOSE: unique symbol = Symbol("express-sockets.watchClose");
export const UNWATCH_CLOSE: unique symbol = Symbol("express-sockets.unwatchClose");

/** @internal A socket that tells watchers when it closes (see WATCH_CLOSE). */
export interface WatchableSocket {
  [WATCH_CLOSE](watcher: CloseWatcher): boolean;
  [UNWATCH_CLOSE](watcher: CloseWatcher): void;
}

/** @internal Whether `value` is a socket bound by this package. */
export function isWatchable(value: unknown): value is WatchableSocket {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Partial<WatchableSocket>)[WATCH_CLOSE] === "function"
  );
}

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
  /**
   * The subprotocol chosen in the handshake (`Sec-WebSocket-Protocol`), `""` when none. Set on
   * every WebSocket connection; transports without subprotocols (Server-Sent Events) leave it out.
   */
  readonly protocol?: string;
  /** The app's own per-connection values (user name, ...): a plain object, made on first use. */
  readonly data: SocketData;
}

/** The `res.locals` a sockets factory provides to the handlers after it. */
export interface SocketLocals<In, Out = In> extends Record<string, unknown> {
  socket: Socket<In, Out>;
}
