// Contender "ws + Express routing": the least any binding of this design can cost. Upgrade
// requests run through the Express app before the handshake (a ServerResponse on the raw
// socket, as attach() does), a route middleware checks the Origin and does the ws handshake,
// and the route's async handler stays pending for the life of the connection, so Express's
// req, res and next chain stay alive as they do for express-sockets. No channels, timers,
// backpressure or logging: the floor that separates Express's cost from the binding's own.
"use strict";

const http = require("node:http");
const express = require("express");
const { WebSocketServer } = require("ws");
const { broadcastPayload, parseArgs, serve, sameOrigin } = require("./common");

const args = parseArgs();
const bcastSize = Number(args["bcast-size"] ?? 64);
const kHead = Symbol("upgrade head");

const wss = new WebSocketServer({ noServer: true, clientTracking: true });
const app = express();
app.get("/", (_req, res) => res.send("ok"));

/** Route middleware: Origin check, then the handshake; the socket goes to res.locals.ws. */
function upgrade(req, res, next) {
  if (!sameOrigin(req.headers.origin, req.headers.host)) {
    res.status(403).end();
    return;
  }
  const socket = req.socket;
  res.detachSocket(socket);
  wss.handleUpgrade(req, socket, req[kHead], (ws) => {
    res.locals.ws = ws;
    next();
  });
}

const closed = (ws) => new Promise((resolve) => ws.once("close", resolve));

app.get("/echo", upgrade, async (_req, res) => {
  const ws = res.locals.ws;
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  await closed(ws);
});

const members = new Set();
app.get("/bcast", upgrade, async (_req, res) => {
  const ws = res.locals.ws;
  members.add(ws);
  ws.on("message", (data) => {
    const msg = broadcastPayload(data.toString(), bcastSize);
    for (const c of members) c.send(msg);
  });
  await closed(ws);
  members.delete(ws);
});

const server = http.createServer(app);
server.on("upgrade", (req, socket, head) => {
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.on("finish", () => socket.destroySoon());
  req[kHead] = head;
  app(req, res, () => {
    res.statusCode = 404;
    res.end();
  });
});

serve(server, { connections: () => wss.clients.size });
