// The client's public types: what it is given (options, a WebSocket constructor), what it is
// typed from (the route's event maps, schemas or plain types), and the two faces it shows (events
// routes and `sockets.json()` routes). Standard Schema is matched by shape: no server code here.

import type { ClientError } from "./errors.js";
import type { ReconnectOptions } from "./backoff.js";
import type { PositionStorage } from "./positions.js";

/** `"connecting"` (first attempt), `"open"`, `"reconnecting"` (lost, waiting or retrying), `"closed"` (for good). */
export type Status = "connecting" | "open" | "reconnecting" | "closed";

/** The close that caused a status change. */
export interface CloseDetail {
  code: number;
  reason: string;
}

/** What the client needs of a WebSocket: the browser's, or `ws`'s in Node. */
export interface WebSocketConstructor {
  new (
    url: string,
    protocols?: string | string[],
  ): {
    readonly readyState: number;
    send(data: string): void;
    close(code?: number, reason?: string): void;
  };
}

/** Options of `connect()`; every field is optional. */
export interface ConnectOptions {
  /** The WebSocket class. Defaults to `globalThis.WebSocket` (pass `ws`'s in Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Subprotocols offered. Defaults to none. */
  protocols?: string | string[];
  /** Backoff between attempts, or `false` to never reconnect. Defaults to `{ delay: 1000, maxDelay: 30000, factor: 2 }`. */
  reconnect?: ReconnectOptions | false;
  /** A `$ping` every this many ms while open (events routes). Defaults to `20000` (`0` on json routes: no pings, no watchdog). */
  heartbeat?: number;
  /** No frame at all for `heartbeat + heartbeatTimeout` ms: the link is dead, reconnect. Defaults to `10000`. */
  heartbeatTimeout?: number;
  /** An attempt not open within this many ms is abandoned and retried. Defaults to `10000`. */
  connectTimeout?: number;
  /** Emits and requests made while disconnected wait here; past it the oldest is dropped and reported. Defaults to `100`. */
  queueSize?: number;
  /** Default timeout of `request()` in ms. Defaults to `10000`. */
  requestTimeout?: number;
  /** Where positions survive a page reload, keyed by URL; `null` = nowhere. Defaults to `sessionStorage` when there is one. */
  storage?: PositionStorage | null;
}

/** A request's options. */
export interface RequestOptions {
  /** Reject with `TimeoutError` (`ERR_TIMEOUT`) after this many ms. Defaults to the client's `requestTimeout`. */
  timeout?: number;
  /** Abort the request: it rejects with the signal's reason (and is not sent if still queued). */
  signal?: AbortSignal;
}

/** A room joined by the server: whether every message missed since the last position follows. */
export interface RoomJoined {
  room: string;
  /** `false`: nothing was replayed (position too old, history lost, or a first join): refetch. */
  recovered: boolean;
}

/** What the client sends for a schema (its input type), a type guard (its type) or a plain type. */
export type DataOf<S> = S extends { readonly "~standard": { readonly types?: infer T } }
  ? NonNullable<T> extends { readonly input: infer I }
    ? I
    : unknown
  : S extends (value: unknown) => value is infer G
    ? G
    : S;

/** Event names of a map. */
export type EventName<M> = keyof M & string;

/** One event of a map, as iteration yields it: `{ event, data }`, narrowed by `event`. */
export type EventMessage<M> = { [E in EventName<M>]: { event: E; data: M[E] } }[EventName<M>];

type Unsubscribe = () => void;

/** What both faces share. */
export interface BaseClient {
  /** The connection's state now. */
  readonly status: Status;
  /** The session id the server gave (`$session`), kept across reconnects. */
  readonly id: string | undefined;
  /** Called on every status change, with the close that caused it. */
  onStatus(fn: (status: Status, detail?: CloseDetail) => void): Unsubscribe;
  /** Called for what went wrong without a caller to tell (see `ClientError` codes). */
  onError(fn: (error: ClientError) => void): Unsubscribe;
  /** Closes for good (code 1000 by default): no reconnect; pending requests reject with `ERR_CLOSED`. */
  close(code?: number, reason?: string): void;
}

/** A client of a `sockets.events()` route. `In`: server-to-client events; `Out`: client-to-server schemas or types. */
export interface EventsClient<In, Out> extends BaseClient, AsyncIterable<EventMessage<In>> {
  /** Calls `fn` with each `event`'s data; returns the unsubscribe. */
  on<E extends EventName<In>>(event: E, fn: (data: In[E]) => void): Unsubscribe;
  /** Sends an event (queued while disconnected). */
  emit<E extends EventName<Out>>(event: E, data: DataOf<Out[E]>): void;
  /** Sends an event asking for the server's answer (its `ack`). */
  request<E extends EventName<Out>>(
    event: E,
    data: DataOf<Out[E]>,
    options?: RequestOptions,
  ): Promise<unknown>;
  /** Answers the server's `request(event)`s: `fn`'s value (or its error) goes back. One per event. */
  handle<E extends EventName<In>>(event: E, fn: (data: In[E]) => unknown): Unsubscribe;
  /** Called for every room the server joins this client to, saying whether it was recovered. */
  onJoined(fn: (joined: RoomJoined) => void): Unsubscribe;
}

/** A client of a `sockets.json()` route. `In`: what the server sends; `Out`: the route's schema or type. */
export interface JsonClient<In, Out> extends BaseClient, AsyncIterable<In> {
  /** Sends one value (queued while disconnected). */
  send(value: DataOf<Out>): void;
  /** Calls `fn` with every value the server sends; returns the unsubscribe. */
  onMessage(fn: (value: In) => void): Unsubscribe;
}
