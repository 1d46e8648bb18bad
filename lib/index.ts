// The public entry point: re-exports only. Each name lives in the file named for its idea.

export { Channel } from "./channel";
export type { ReadChannel, WriteChannel, RecvResult, OpOptions } from "./channel";
export { select } from "./select";
export type { SelectCases, SelectResult, SelectOptions, SelectLoop, ChannelValue } from "./select";
export { after, tick } from "./timers";
export type { TimerChannel } from "./timers";
export { SocketsError, ChannelClosedError } from "./errors";
export type { Socket, SocketLocals, CloseInfo, DisconnectRequest, Transport } from "./socket";
export { InvalidMessageError, TimeoutError, ProtocolError } from "./errors";
export type { MessageIssue } from "./errors";
export { Connection, bind } from "./connection";
export type { ConnectionOptions, ConnectionStats } from "./connection";
export { jsonCodec, textCodec, bytesCodec } from "./codec";
export type { Codec, JsonInput } from "./codec";
export type { StandardSchemaV1, Schema, TypeGuard, Infer } from "./schema";
export { broadcast } from "./broadcast";
export type { BroadcastResult } from "./broadcast";
export { attach } from "./upgrade";
export type { Attachment, AttachOptions, CloseOptions, UpgradeApp } from "./upgrade";
export { sockets } from "./factory";
export type { JsonValue, JsonOutput, SocketHandler } from "./factory";
export type { SocketOptions } from "./options";
export type { LoggerLike, LogLevel } from "./logger";
export type { AllowedOrigin } from "./origin";
