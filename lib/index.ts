// The public entry point: re-exports only, every public name listed once, grouped by the
// subsystem folder it lives in (see the README's "Development" map of lib/).

// channels/
export { Channel, select, after, tick, SocketsError, ChannelClosedError } from "./channels/index";
export type {
  ReadChannel,
  WriteChannel,
  RecvResult,
  OpOptions,
  SelectCases,
  SelectResult,
  SelectOptions,
  SelectLoop,
  ChannelValue,
  TimerChannel,
} from "./channels/index";
// core/
export { InvalidMessageError, TimeoutError, ProtocolError } from "./core/index";
export { jsonCodec, textCodec, bytesCodec } from "./core/index";
export type { Socket, SocketLocals, CloseInfo, DisconnectRequest, Transport } from "./core/index";
export type {
  MessageIssue,
  Codec,
  JsonInput,
  StandardSchemaV1,
  Schema,
  TypeGuard,
  Infer,
} from "./core/index";
export type { SocketOptions, LoggerLike, LogLevel, AllowedOrigin } from "./core/index";
// websocket/
export { Connection, bind, broadcast, attach } from "./websocket/index";
export type { ConnectionOptions, ConnectionStats, BroadcastResult } from "./websocket/index";
export type { Attachment, AttachOptions, CloseOptions, UpgradeApp } from "./websocket/index";
export type { JsonValue, JsonOutput, SocketHandler } from "./websocket/index";
// sse/
export { SseEvent, SseEncodeError, SseWriteTimeoutError } from "./sse/index";
export type { SseOptions, SseSocket, SseLocals, SseEventFields } from "./sse/index";
// tail/
export {
  watchFile,
  TAIL_TOO_SLOW,
  TAIL_BAD_OFFSET,
  TAIL_NOT_FOUND,
  liveFollowers,
} from "./tail/index";
export type { TailOptions, TailRoot, WatchFileOptions } from "./tail/index";
// events/
export { AnswerError, EventsConnection } from "./events/index";
export type { Resume, RoomPosition } from "./events/index";
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
} from "./events/index";
// static/
export { CLIENT_PATH } from "./static/index";
export type { ClientOptions, ClientMiddleware } from "./static/index";
// The `sockets` namespace of every middleware factory.
export { sockets } from "./sockets";
