// Contender "express-ws": its `app.ws()` routes, the handshake done by its own WebSocketServer
// before Express routing (so the Origin check has to be `verifyClient` in `wsOptions`: it has
// no check of its own). Echo and broadcast as for raw ws, over `getWss().clients`.
"use strict";

const http = require("node:http");
const express = require("express");
const expressWs = require("express-ws");
const { broadcastPayload, parseArgs, serve, sameOrigin } = require("./common");

const args = parseArgs();
const bcastSize = Number(args["bcast-size"] ?? 64);

const app = express();
const server = http.createServer(app);
const instance = expressWs(app, server, {
  wsOptions: { verifyClient: ({ origin, req }) => sameOrigin(origin, req.headers.host) },
});
const wss = instance.getWss();
const bcastClients = new Set();

app.get("/", (_req, res) => res.send("ok"));
app.ws("/echo", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
app.ws("/bcast", (ws) => {
  bcastClients.add(ws);
  ws.on("close", () => bcastClients.delete(ws));
  ws.on("message", (data) => {
    const msg = broadcastPayload(data.toString(), bcastSize);
    for (const c of bcastClients) c.send(msg);
  });
});

serve(server, { connections: () => wss.clients.size });
