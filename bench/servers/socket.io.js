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

// /acks (query depth, size): the server keeps `depth` requests in flight on each connection,
// `await socket.timeout(10000).emitWithAck("echo", payload)` in a loop, answered by the client's
// ack callback: the same work as sockets.events' `request()` (whose default timeout is 10 s).
io.of("/acks").on("connection", (socket) => {
  const depth = Number(socket.handshake.query.depth ?? 8);
  const payload = "x".repeat(Number(socket.handshake.query.size ?? 64));
  for (let i = 0; i < depth; i++) void requestLoop(socket, payload);
});

// /acks-in: the other direction: the client's emitWithAck("echo", data) is answered by the
// ack callback with its own data.
io.of("/acks-in").on("connection", (socket) => {
  socket.on("echo", (data, ack) => ack(data));
});

async function requestLoop(socket, payload) {
  try {
    while (socket.connected) {
      const reply = await socket.timeout(10000).emitWithAck("echo", payload);
      if (reply.length !== payload.length) throw new Error("wrong answer");
    }
  } catch {
    // timed out after the client left
  }
}

serve(server, { connections: () => io.engine.clientsCount });
