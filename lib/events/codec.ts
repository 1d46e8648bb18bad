// The codec of an events route, one per `sockets.events()` call: the route's compiled schemas
// (which event names a client may send, and how each one's data is validated) and the encoding
// of what the server sends. Its `transport` is "events"; the connection (connection.ts) calls
// `parse` and `validate` itself, so that answers and control messages never reach the receiver.

import type { Codec } from "../core/codec";
import { InvalidMessageError } from "../core/errors";
import { isPromiseLike, type StandardSchemaResult, type Validator } from "../core/schema";
import {
  encodeEvent,
  parseFrame,
  RESERVED_PREFIX,
  checkOutgoingName,
  type WireEvent,
} from "./protocol";
import type { Ack, EventMessage } from "./types";

/** An envelope encoded by the connection itself (a request, an answer): written as it is. */
export class Encoded {
  constructor(readonly text: string) {}
}

/** What the sender of an events connection takes. */
export type Outgoing = { readonly event: string; readonly data?: unknown } | Encoded;

const SHOWN_NAMES = 20;

export class EventsCodec implements Codec<EventMessage, Outgoing> {
  readonly transport = "events" as const;
  /** The declared names, for error messages. */
  private readonly known: string;

  constructor(
    private readonly validators: ReadonlyMap<string, Validator<unknown>>,
    /** Default timeout of `request()`, ms (0 = none). */
    readonly requestTimeout: number,
    /** Pending requests per connection. */
    readonly maxPendingRequests: number,
  ) {
    const names = [...validators.keys()];
    this.known =
      names.length === 0
        ? "this route declares no events"
        : `this route takes ${names
            .slice(0, SHOWN_NAMES)
            .map((n) => JSON.stringify(n))
            .join(", ")}${names.length > SHOWN_NAMES ? ", ..." : ""}`;
  }

  /** Reads an event or an answer (see protocol.ts). */
  parse = parseFrame;

  /**
   * Validates an event's data by its schema and builds what the receiver yields (with `ack`
   * when given). Throws, or returns a promise that rejects, with InvalidMessageError for an
   * unknown or reserved name or invalid data.
   */
  validate(
    msg: WireEvent,
    ack: Ack | undefined,
    raw: Buffer,
  ): EventMessage | Promise<EventMessage> {
    const event = msg.event;
    const validate = this.validators.get(event);
    if (validate === undefined) {
      const message = event.startsWith(RESERVED_PREFIX)
        ? `event names starting with "${RESERVED_PREFIX}" are reserved for the protocol's control messages, and this server does not know ${JSON.stringify(event)}`
        : `unknown event ${JSON.stringify(event)}: ${this.known}`;
      throw new InvalidMessageError(message, raw.toString(), [{ message, path: ["event"] }]);
    }
    const result = validate(msg.data);
    if (isPromiseLike<StandardSchemaResult<unknown>>(result)) {
      return Promise.resolve(result).then((r) => build(event, checked(event, r, raw), ack));
    }
    return build(event, checked(event, result, raw), ack);
  }

  /** Decodes an event without acknowledgements (the Codec interface; connections use `parse`). */
  decode(data: Buffer, isBinary: boolean): EventMessage | Promise<EventMessage> {
    const msg = parseFrame(data, isBinary);
    if (msg.answer) {
      const message = `an answer (ack ${msg.ack}) where an event was expected`;
      throw new InvalidMessageError(message, data.toString(), [{ message }]);
    }
    return this.validate(msg, undefined, data);
  }

  /** `{ event, data }` as `{"event","data"}`; an Encoded envelope as it is. */
  encode(value: Outgoing): string {
    if (value instanceof Encoded) return value.text;
    if (typeof value !== "object" || value === null) {
      throw new TypeError(
        `sockets.events() sends { event, data } objects (or use socket.emit(event, data)), got ${value === null ? "null" : typeof value}`,
      );
    }
    checkOutgoingName(value.event);
    return encodeEvent(value.event, value.data);
  }
}

function build(event: string, data: unknown, ack: Ack | undefined): EventMessage {
  return ack === undefined ? { event, data } : { event, data, ack };
}

function checked(event: string, result: StandardSchemaResult<unknown>, raw: Buffer): unknown {
  if (result.issues !== undefined) {
    const first = result.issues[0]?.message ?? "invalid";
    const more = result.issues.length > 1 ? ` (and ${result.issues.length - 1} more)` : "";
    throw new InvalidMessageError(
      `the data of event ${JSON.stringify(event)} failed validation: ${first}${more}`,
      raw.toString(),
      result.issues,
    );
  }
  return result.value;
}
