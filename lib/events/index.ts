// Named events with acknowledgements both ways: `sockets.events(schemas)`, a WebSocket factory
// built on the binding's own factory and connection (same checks, options and channels as
// sockets.json), and its wire protocol (PROTOCOL.md). It may import channels/, core/ and
// websocket/ only: it knows nothing of rooms, Server-Sent Events or files.

export { events, DEFAULT_REQUEST_TIMEOUT, DEFAULT_MAX_PENDING_REQUESTS } from "./factory";
export { EventsConnection, AnswerError } from "./connection";
export { ERR_INVALID_MESSAGE, RESERVED_PREFIX } from "./protocol";
export { parseResume, RESUME_PARAM, MAX_RESUME_LENGTH, MAX_RESUME_ROOMS } from "./resume";
export type { Resume, RoomPosition } from "./resume";
export type {
  Ack,
  AnyEvents,
  EventMessage,
  EventName,
  NotReserved,
  EventSchemas,
  EventsHandler,
  EventsLocals,
  EventsOptions,
  EventsSocket,
  IncomingEvent,
  OutgoingEvent,
  Reply,
  RequestOptions,
} from "./types";
