// express-sockets/client: the browser (and Node) client of `sockets.events()` and `sockets.json()`
// routes. Reconnects with jittered backoff, resumes every room it was in (missing nothing, or
// saying so), notices dead links with a heartbeat, queues emits while away. No Node code here.

import { Client } from "./client.js";
import type { ConnectOptions, EventsClient, JsonClient } from "./types.js";

/**
 * Connects to a `sockets.events()` route (`In`: the events the server emits, `Out`: the route's
 * schemas or data types) or, with `{ json: true }`, to a `sockets.json()` route (`In`: the
 * values it sends, `Out`: its schema or type). `url` may be relative to the page; `http(s):`
 * becomes `ws(s):`. Throws TypeError for a URL that is not a WebSocket URL or when there is no
 * WebSocket class, RangeError for a bad option.
 */
export function connect<In = Record<string, unknown>, Out = Record<string, unknown>>(
  url: string | URL,
  options?: ConnectOptions & { json?: false },
): EventsClient<In, Out>;
export function connect<In = unknown, Out = unknown>(
  url: string | URL,
  options: ConnectOptions & { json: true },
): JsonClient<In, Out>;
export function connect(
  url: string | URL,
  options: ConnectOptions & { json?: boolean } = {},
): EventsClient<Record<string, unknown>, Record<string, unknown>> | JsonClient<unknown, unknown> {
  return new Client(url, options, options.json === true);
}

export { isFinal } from "./client.js";
export { ClientError, TimeoutError } from "./errors.js";
export type { ReconnectOptions } from "./backoff.js";
export type { PositionStorage } from "./positions.js";
export type {
  Status,
  CloseDetail,
  WebSocketConstructor,
  ConnectOptions,
  RequestOptions,
  RoomJoined,
  DataOf,
  EventName,
  EventMessage,
  BaseClient,
  EventsClient,
  JsonClient,
} from "./types.js";
