// Rooms, a registry and delivery to many sockets: the Hub, its targets, and the adapter seam
// through which it reaches other processes (LocalAdapter in-process; a Redis adapter in redis/).
// It may import channels/, core/, websocket/ (frames built once) and sse/ (events encoded once).

export { Hub, MAX_EVENT_NAME } from "./hub";
export type { HubOptions, JoinResult, RoomJoin } from "./hub";
export { Target } from "./target";
export type { RoomRef, EventMap } from "./target";
export { HubError } from "./errors";
export type { HubErrorCode } from "./errors";
export { LocalAdapter } from "./local-adapter";
export type {
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
} from "./adapter";
