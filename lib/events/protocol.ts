// The wire of sockets.events (PROTOCOL.md is its full description): one JSON object per text
// frame. `{"event", "data"}` is an event, with `"ack": n` when its sender wants an answer; an
// object with `ack` and no `event` is an answer, `{"ack", "data"}` or `{"ack", "error"}`. Names
// starting with `$` are reserved for the package's own control messages. This file parses and
// writes those envelopes; what they mean for one connection lives in connection.ts.

import { jsonCodec } from "../core/codec";
import { InvalidMessageError } from "../core/errors";

/** Event names starting with this are the protocol's own (control messages). */
export const RESERVED_PREFIX = "$";
/** The code of an error answer to a message the server rejected (unknown, invalid, reserved). */
export const ERR_INVALID_MESSAGE = "ERR_INVALID_MESSAGE";

/** An event from the peer: `{"event", "data", "ack"?}`. */
export interface WireEvent {
  readonly answer: false;
  readonly event: string;
  readonly data: unknown;
  /** Present when the sender wants an answer. */
  readonly ack: number | undefined;
}

/** The error of an error answer. */
export interface WireError {
  readonly code: string;
  readonly message: string;
}

/** An answer from the peer: `{"ack", "data"}` or `{"ack", "error": {"code", "message"}}`. */
export interface WireAnswer {
  readonly answer: true;
  readonly ack: number;
  readonly data: unknown;
  readonly error: WireError | undefined;
}

const PLAIN_JSON = jsonCodec();

/** True for an ack id: an integer from 0 to 2^53 - 1. */
export function isAckId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.slice(0, 40))}`;
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

function invalid(message: string, data: Buffer): InvalidMessageError {
  return new InvalidMessageError(message, data.toString(), [{ message }]);
}

/**
 * Reads one frame: an event or an answer. Throws InvalidMessageError (code ERR_INVALID_MESSAGE)
 * for bad UTF-8, bad JSON, or an object that is neither; the message says what was wrong.
 */
export function parseFrame(data: Buffer, isBinary: boolean): WireEvent | WireAnswer {
  const value = PLAIN_JSON.decode(data, isBinary) as unknown;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(
      `an events message must be a JSON object {"event", "data"}, got ${describe(value)}`,
      data,
    );
  }
  const o = value as { event?: unknown; data?: unknown; ack?: unknown; error?: unknown };
  const ack = o.ack;
  if (ack !== undefined && !isAckId(ack)) {
    throw invalid(`"ack" must be an integer from 0 to 2^53 - 1, got ${describe(ack)}`, data);
  }
  const event = o.event;
  if (event !== undefined) {
    if (typeof event !== "string") {
      throw invalid(`the event name must be a string, got ${describe(event)}`, data);
    }
    return { answer: false, event, data: o.data, ack };
  }
  if (ack === undefined) {
    throw invalid(
      'an events message needs "event" (an event) or "ack" (an answer), it has neither',
      data,
    );
  }
  const error = o.error;
  if (error === undefined) return { answer: true, ack, data: o.data, error: undefined };
  const e = error as { code?: unknown; message?: unknown } | null;
  if (
    typeof e !== "object" ||
    e === null ||
    typeof e.code !== "string" ||
    (e.message !== undefined && typeof e.message !== "string")
  ) {
    throw invalid(
      `the error of answer ${ack} must be an object {"code": string, "message": string}, got ${describe(error)}`,
      data,
    );
  }
  return {
    answer: true,
    ack,
    data: undefined,
    error: { code: e.code, message: e.message ?? "" },
  };
}

function json(value: unknown, what: string, data: unknown): string {
  // Inside an object JSON.stringify drops these silently: refuse them instead.
  const t = typeof data;
  if (t === "function" || t === "symbol" || t === "bigint") {
    throw new TypeError(`cannot send ${what} as JSON`);
  }
  const text = JSON.stringify(value);
  if (typeof text !== "string") throw new TypeError(`cannot send ${what} as JSON`);
  return text;
}

/** `{"event","data"}`: the bytes a json socket's `sender.send({ event, data })` writes too. */
export function encodeEvent(event: string, data: unknown): string {
  return json({ event, data }, `the data of event "${event}" (${typeof data})`, data);
}

/** `{"event","data","ack"}`: an event that asks for an answer. */
export function encodeRequest(event: string, data: unknown, ack: number): string {
  return json({ event, data, ack }, `the data of event "${event}" (${typeof data})`, data);
}

/** `{"ack","data"}`: the answer to a request. */
export function encodeAnswer(ack: number, data: unknown): string {
  return json({ ack, data }, `an answer of type ${typeof data}`, data);
}

/** `{"ack","error":{"code","message"}}`: the error answer to a request. */
export function encodeErrorAnswer(ack: number, code: string, message: string): string {
  return JSON.stringify({ ack, error: { code, message } });
}

/**
 * Checks an event name the server is about to send: a string not starting with `$`.
 * Throws TypeError saying what to do.
 */
export function checkOutgoingName(event: unknown): asserts event is string {
  if (typeof event !== "string") {
    throw new TypeError(`the event name must be a string, got ${describe(event)}`);
  }
  if (event.startsWith(RESERVED_PREFIX)) {
    throw new TypeError(
      `event names starting with "${RESERVED_PREFIX}" are reserved for the protocol's control messages: "${event}"`,
    );
  }
}
