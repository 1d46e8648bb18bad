// Server-Sent Events: the same `Socket` shape over an EventSource response, so handlers written
// for WebSocket routes run unchanged. It may import channels/ and core/ only.

export { SseEvent, SseEncodeError, SseWriteTimeoutError } from "./sse";
export type { SseOptions, SseSocket, SseLocals, SseEventFields } from "./sse";
