// The errors a Hub raises at run time, each with a stable code. Bad arguments (a room name that
// is not a string, an object that is not a socket of this package) throw TypeError/RangeError.

import { SocketsError } from "../core/errors";

/** Codes of HubError. */
export type HubErrorCode =
  /** `join` of a socket that is closing or closed (or that closed while it joined). */
  | "ERR_HUB_SOCKET_CLOSED"
  /** `join` would put a socket in more named rooms than `maxRoomsPerSocket`. */
  | "ERR_HUB_TOO_MANY_ROOMS"
  /** Any call after `hub.close()`. */
  | "ERR_HUB_CLOSED"
  /** Other processes did not answer a registry query within `timeout` (adapters). */
  | "ERR_HUB_TIMEOUT"
  /** The adapter could not reach the other processes (e.g. Redis is away). */
  | "ERR_HUB_ADAPTER";

/** A Hub operation that could not be done; `code` says which rule it broke. */
export class HubError extends SocketsError {
  declare readonly code: HubErrorCode;
  constructor(code: HubErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
