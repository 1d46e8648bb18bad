// The `sockets` namespace: every middleware factory under one name, as in Martini
// (`sockets.json(Msg)`), whether it binds a WebSocket, binds Server-Sent Events, or streams a file
// to whichever of them ran before it; and `sockets.client()`, serving the browser client to pages.

import { bytes, frames, json, messages } from "./websocket/factory";
import { sse } from "./sse/sse";
import { tail } from "./tail/tail";
import { viewer } from "./viewer/viewer";
import { events } from "./events/factory";
import { client } from "./static/client";

export const sockets = Object.freeze({
  json,
  messages,
  bytes,
  frames,
  sse,
  tail,
  viewer,
  events,
  client,
});
