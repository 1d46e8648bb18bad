// The WebSocket binding: upgrades routed through Express with real HTTP answers, the factories,
// one connection's life on five channels, and broadcast. It may import channels/ and core/ only:
// it knows nothing of Server-Sent Events, files or rooms.

export { Connection } from "./connection";
export type { ConnectionOptions, ConnectionStats } from "./connection";
export { broadcast } from "./broadcast";
export type { BroadcastResult } from "./broadcast";
export { attach } from "./upgrade";
export type { Attachment, AttachOptions, CloseOptions, UpgradeApp } from "./upgrade";
export type { JsonValue, JsonOutput, SocketHandler } from "./factory";
