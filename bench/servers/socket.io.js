// Contender "socket.io": websocket transport only (no polling), driven by socket.io-client.
// Echo is an event handler that emits the payload back; broadcast is `io.of("/bcast").emit()`
// (socket.io encodes the packet once per broadcast). The Origin check is `allowRequest`.
"use strict";

const http = require("node:http");
const express = require("express");
const { Server } = require("socket.io");
const { broadcastPayload, parseArgs, serve, sameOrigin } = require("./common");

const args = parseArgs();
const bcastSize = Number(args["bcast-size"] ?? 64);

const app = express();
app.get("/", (_req, res) => res.send("ok"));
const server = http.createServer(app);
const io = new Server(server, {
  transports: ["websocket"],
  serveClient: false,
  allowRequest: (req, cb) => cb(null, sameOrigin(req.headers.origin, req.headers.host)),
});

io.of("/echo").on("connection", (socket) => {
  socket.on("m", (data) => socket.emit("m", data));
});
const bcast = io.of("/bcast");
bcast.on("connection", (socket) => {
  socket.on("go", (data) => bcast.emit("b", broadcastPayload(String(data), bcastSize)));
});

serve(server, { connections: () => io.engine.clientsCount });
