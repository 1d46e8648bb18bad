// Following files like `tail -F` into any bound connection (WebSocket or SSE). It may import
// channels/, core/ and sse/ (for SSE event ids); it knows nothing of the WebSocket binding.

export { watchFile, TAIL_TOO_SLOW, TAIL_BAD_OFFSET, TAIL_NOT_FOUND } from "./tail";
export type { TailOptions, TailRoot, WatchFileOptions } from "./tail";
export { liveFollowers } from "./follower";
