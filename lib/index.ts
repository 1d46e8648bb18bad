// The public entry point: re-exports only. Each name lives in the file named for its idea.

export { Channel } from "./channel";
export type { ReadChannel, WriteChannel, RecvResult, OpOptions } from "./channel";
export { select } from "./select";
export type { SelectCases, SelectResult, SelectOptions, SelectLoop, ChannelValue } from "./select";
export { after, tick } from "./timers";
export type { TimerChannel } from "./timers";
export { SocketsError, ChannelClosedError } from "./errors";
export type { Socket, SocketLocals, CloseInfo, DisconnectRequest, Transport } from "./socket";
