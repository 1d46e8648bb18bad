// What every transport shares: the `Socket` shape, options, errors, logging, schemas and codecs.
// It may import channels/ only; the transports (websocket/, sse/) and everything above build on it.

export type {
  Socket,
  SocketLocals,
  CloseInfo,
  DisconnectRequest,
  Transport,
  SocketData,
  CloseWatcher,
  WatchableSocket,
} from "./socket";
export { WATCH_CLOSE, UNWATCH_CLOSE, isWatchable } from "./socket";
export { InvalidMessageError, TimeoutError, ProtocolError } from "./errors";
export type { MessageIssue } from "./errors";
export { jsonCodec, textCodec, bytesCodec, framesCodec } from "./codec";
export type { Codec, JsonInput } from "./codec";
export type { StandardSchemaV1, Schema, TypeGuard, Infer } from "./schema";
export type { SocketOptions } from "./options";
export type { LoggerLike, LogLevel } from "./logger";
export type { AllowedOrigin } from "./origin";
export type { DeflateOptions } from "./compression";
export type { Protocols, ProtocolChooser } from "./subprotocol";
