// Channels: Go's channels, select and timers for async code, the model every connection is built
// on. This folder imports nothing from the rest of the package (nor from Node's network modules).

export { Channel } from "./channel";
export type { ReadChannel, WriteChannel, RecvResult, OpOptions } from "./channel";
export { select } from "./select";
export type { SelectCases, SelectResult, SelectOptions, SelectLoop, ChannelValue } from "./select";
export { after, tick } from "./timers";
export type { TimerChannel } from "./timers";
export { SocketsError, ChannelClosedError } from "./errors";
