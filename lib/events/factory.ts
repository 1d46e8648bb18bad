// `sockets.events(schemas, options?)`: the WebSocket factory of named events. The same checks,
// options, handshake and channels as sockets.json (it is built by the same factory code); only
// the codec and the connection differ: each event name a client may send has its own schema,
// and acknowledgements go both ways (PROTOCOL.md).

import { checkCount, checkTime, type SocketOptions } from "../core/options";
import { compileSchema, type Validator } from "../core/schema";
import { createFactory, handle } from "../websocket/factory";
import { EventsCodec, type Outgoing } from "./codec";
import { bindEvents, EventsConnection } from "./connection";
import { parseResume } from "./resume";
import { RESERVED_PREFIX } from "./protocol";
import type { AnyEvents, EventMessage, EventSchemas, EventsHandler, EventsOptions } from "./types";

/** Default of `requestTimeout`, ms. */
export const DEFAULT_REQUEST_TIMEOUT = 10_000;
/** Default of `maxPendingRequests`. */
export const DEFAULT_MAX_PENDING_REQUESTS = 1024;

function compileSchemas(schemas: unknown): Map<string, Validator<unknown>> {
  if (typeof schemas !== "object" || schemas === null || Array.isArray(schemas)) {
    throw new TypeError(
      "sockets.events(schemas, options?): schemas must be an object mapping each event name a " +
        "client may send to a Standard Schema or type guard, e.g. { say: z.object({ text: z.string() }) }",
    );
  }
  const validators = new Map<string, Validator<unknown>>();
  for (const [name, schema] of Object.entries(schemas)) {
    if (name.startsWith(RESERVED_PREFIX)) {
      throw new TypeError(
        `sockets.events(): event names starting with "${RESERVED_PREFIX}" are reserved for the protocol's control messages: ${JSON.stringify(name)}`,
      );
    }
    try {
      validators.set(name, compileSchema(schema as never));
    } catch (err) {
      throw new TypeError(
        `sockets.events(): the schema of event ${JSON.stringify(name)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  return validators;
}

/**
 * Named events, each validated by its own schema: the receiver yields `{ event, data, ack? }`
 * narrowed by `event`; the socket adds `emit(event, data)` and `request(event, data)`. Declare
 * what the server emits with `.emits<{ name: Data }>()`. Throws TypeError/RangeError here, at
 * the call, for a bad schema or option.
 */
export function events<S extends EventSchemas>(
  schemas: S,
  options?: EventsOptions,
): EventsHandler<S, AnyEvents> {
  const validators = compileSchemas(schemas);
  const codec = new EventsCodec(
    validators,
    checkTime("requestTimeout", options?.requestTimeout, DEFAULT_REQUEST_TIMEOUT),
    checkCount("maxPendingRequests", options?.maxPendingRequests, DEFAULT_MAX_PENDING_REQUESTS),
  );
  if (codec.maxPendingRequests === 0) {
    throw new RangeError("options.maxPendingRequests must be at least 1");
  }
  // The events options are taken here; the rest are the WebSocket options, checked (unknown keys
  // included) by the factory. A value that is not an object is left for it to refuse.
  let socketOptions: SocketOptions | undefined = options;
  if (typeof options === "object" && options !== null && !Array.isArray(options)) {
    const { requestTimeout: _t, maxPendingRequests: _m, ...rest } = options;
    socketOptions = rest;
  }
  const f = createFactory<EventMessage, Outgoing>(
    "sockets.events",
    codec,
    socketOptions,
    bindEvents,
  );
  const handler = function socketsEvents(
    req: Parameters<EventsHandler<S, AnyEvents>>[0],
    res: Parameters<EventsHandler<S, AnyEvents>>[1],
    next: Parameters<EventsHandler<S, AnyEvents>>[2],
  ): void {
    handle(f, req, res, (err?: unknown) => {
      // Bound: read the client's resume request before the handler runs (it may join at once).
      const socket = res.locals?.socket;
      if (err === undefined && socket instanceof EventsConnection) {
        const { resume, ignored } = parseResume(req.url);
        socket.resume = resume;
        if (ignored !== undefined) f.options.log.debug(socket.remote, `resume ignored: ${ignored}`);
      }
      next(err);
    });
  } as EventsHandler<S, AnyEvents>;
  handler.emits = () => handler as never;
  return handler;
}
