// The public types of sockets.events: the schemas a route declares for what clients send, the
// events its receiver yields (a union narrowed by `event`), the events the server may emit
// (declared with `.emits<T>()`), and the socket that carries both.

import type { IncomingMessage } from "node:http";
import type { NextFunction, Response } from "express";
import type { OpOptions, ReadChannel, WriteChannel } from "../channels/channel";
import type { Infer, Schema } from "../core/schema";
import type { Socket } from "../core/socket";
import type { SocketOptions } from "../core/options";
import type { JsonValue } from "../websocket/factory";
import type { Resume } from "./resume";

/** What `sockets.events(schemas)` takes: each event a client may send, and its data's schema. */
export type EventSchemas = { readonly [event: string]: Schema };

/** Event names the server may emit: declared ones, never the reserved `$...` names. */
export type EventName<O> = Exclude<keyof O & string, `$${string}`>;

/** An event name as a parameter: a reserved `$...` name (even in an open map) becomes `never`. */
export type NotReserved<K extends string> = K extends `$${string}` ? never : K;

/** What the server emits when the route declared nothing with `.emits<T>()`: any name, JSON data. */
export type AnyEvents = { [event: string]: JsonValue | undefined };

/**
 * Answers the client's request once: `{"ack": n, "data": value}` goes out. Resolves once queued
 * (it waits under backpressure like `sender.send`), rejects if the connection closed first;
 * not awaiting it is safe (nothing is left unhandled). A second call throws a SocketsError
 * with code `ERR_ACK_ALREADY_SENT`; a value JSON cannot encode throws TypeError.
 */
export type Ack = (value?: JsonValue) => Promise<void>;

/** One event from the client, as the receiver yields it. */
export interface EventMessage<E extends string = string, D = unknown> {
  readonly event: E;
  /** Validated by the event's schema (its output type). */
  readonly data: D;
  /** Present only when the client asked for an answer (`"ack": n`). */
  readonly ack?: Ack;
}

/** What the receiver yields: one EventMessage per declared event, narrowed by `event`. */
export type IncomingEvent<S extends EventSchemas> = {
  [K in keyof S & string]: EventMessage<K, Infer<S[K]>>;
}[keyof S & string];

/** What the sender takes: `{ event, data }` for each event the server may emit. */
export type OutgoingEvent<O> = {
  [K in EventName<O>]: { readonly event: K; readonly data: O[K] };
}[EventName<O>];

/** Options of `socket.request()`. */
export interface RequestOptions<R extends Schema | undefined = undefined> extends OpOptions {
  /** ms to wait for the answer; `0` = no limit. Defaults to the route's `requestTimeout` (10000). */
  timeout?: number;
  /** Validates (and types) the client's answer: a Standard Schema or a type guard. */
  schema?: R;
}

/** What `request()` resolves to: the answer's data, typed by `options.schema` when given. */
export type Reply<R> = [R] extends [undefined] ? unknown : Infer<R>;

/** A connection bound by `sockets.events()`: `res.locals.socket`. */
export interface EventsSocket<S extends EventSchemas, O = AnyEvents> extends Socket<
  IncomingEvent<S>,
  OutgoingEvent<O>
> {
  readonly receiver: ReadChannel<IncomingEvent<S>>;
  readonly sender: WriteChannel<OutgoingEvent<O>>;
  readonly transport: "events";
  /**
   * Sends `{"event", "data"}` to this client: the same as `sender.send({ event, data })`, with
   * its backpressure. Rejects with TypeError for a reserved or non-string name or data JSON
   * cannot encode, and with ChannelClosedError once the connection is closing.
   */
  emit<K extends EventName<O>>(
    event: NotReserved<K>,
    data: O[K],
    options?: OpOptions,
  ): Promise<void>;
  /**
   * Asks the client for an answer (`"ack": n`) and resolves with the answer's data. Rejects with
   * a TimeoutError (code ERR_REQUEST_TIMEOUT) after `timeout` ms, with ChannelClosedError when
   * the connection closes first, with an AnswerError carrying the client's `code` and
   * `message` when it answers with an error, with the signal's reason when aborted, and with a
   * SocketsError (code ERR_TOO_MANY_REQUESTS) when `maxPendingRequests` are already waiting.
   */
  request<K extends EventName<O>, R extends Schema | undefined = undefined>(
    event: NotReserved<K>,
    data: O[K],
    options?: RequestOptions<R>,
  ): Promise<Reply<R>>;
  /** Requests sent to this client and not yet answered. */
  readonly pendingRequests: number;
  /**
   * What a reconnecting client presented (`es_resume` in its URL): its session token (not yet
   * verified) and its last position per room; `undefined` when it sent none, or one too big or
   * malformed (then ignored as a whole).
   */
  readonly resume: Resume | undefined;
}

/** The `res.locals` that `sockets.events()` provides to the handlers after it. */
export interface EventsLocals<S extends EventSchemas, O = AnyEvents> extends Record<
  string,
  unknown
> {
  socket: EventsSocket<S, O>;
}

/**
 * The handler `sockets.events()` returns: an Express `RequestHandler` whose Locals carry the
 * typed socket (see SocketHandler for why `req` is a plain IncomingMessage).
 */
export interface EventsHandler<S extends EventSchemas, O = AnyEvents> {
  (req: IncomingMessage, res: Response<unknown, EventsLocals<S, O>>, next: NextFunction): void;
  /**
   * Declares what the server emits, `{ name: DataType }`: `emit`, `request` and `sender` then
   * take only those names with their data. Returns this same handler, typed.
   */
  emits<T extends object>(): EventsHandler<S, T>;
}

/** Options of `sockets.events()`: those of every WebSocket factory, and these. */
export interface EventsOptions extends SocketOptions {
  /** Default timeout of `socket.request()` in ms; `0` = none. Defaults to `10000`. */
  requestTimeout?: number;
  /**
   * Requests one connection may have waiting for an answer; one more rejects at once with
   * code ERR_TOO_MANY_REQUESTS (nothing is sent). Defaults to `1024`.
   */
  maxPendingRequests?: number;
}
