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
export type {
  Socket,
  SocketLocals,
  CloseInfo,
  DisconnectRequest,
  Transport,
  SocketData,
} from "./core/index";
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
export type { DeflateOptions, Protocols, ProtocolChooser } from "./core/index";
// websocket/
export { Connection, broadcast, attach } from "./websocket/index";
export type { ConnectionOptions, ConnectionStats, BroadcastResult } from "./websocket/index";
export type { Attachment, AttachOptions, CloseOptions, UpgradeApp } from "./websocket/index";
export type { JsonValue, JsonOutput, SocketHandler } from "./websocket/index";
// sse/
export { SseEvent, SseEncodeError, SseWriteTimeoutError } from "./sse/index";
export type { SseOptions, SseSocket, SseLocals, SseEventFields } from "./sse/index";
// tail/
export { watchFile, TAIL_TOO_SLOW, TAIL_BAD_OFFSET, TAIL_NOT_FOUND } from "./tail/index";
export type { TailOptions, TailRoot, WatchFileOptions } from "./tail/index";
// viewer/
export type { ViewerOptions, ViewerFilesOptions, ViewerRootOptions } from "./viewer/index";
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
// hub/
export { Hub, Target, HubError, LocalAdapter, MAX_EVENT_NAME } from "./hub/index";
export type {
  HubOptions,
  JoinResult,
  RoomJoin,
  RoomRef,
  EventMap,
  HubErrorCode,
  Adapter,
  AdapterHost,
  AdapterCallOptions,
  Selector,
  Publication,
  HubMessage,
  EmitMessage,
  SendMessage,
  Position,
  Recovery,
  DeliveryResult,
  SocketInfo,
  KeptMessage,
  HistoryOptions,
} from "./hub/index";
// static/
export { CLIENT_PATH } from "./static/index";
export type { ClientOptions, ClientMiddleware } from "./static/index";
// The `sockets` namespace of every middleware factory.
export { sockets } from "./sockets";
