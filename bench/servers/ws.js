// Contender "ws": raw `ws` on the same `http` server as an Express app: the physical limit of
// this stack. Upgrades skip Express: the `upgrade` listener checks the path itself, and
// `verifyClient` does the same Origin check as the other contenders. Echo sends the received
// Buffer back as it came; broadcast is the naive loop `for (c of clients) c.send(msg)`.
// `--echo=text` / `--echo=json` (the floors of `sockets.messages()` / `sockets.json()`): echo
// decodes each message to a string (and parses it) and sends the string (re-serialised) back,
// the work those routes' types require and nothing else.
// `--ballast=N`: each echo connection also keeps N small objects (about 100 bytes each) until it
// closes, as an application keeping per-connection state would: for bench/gc-trace.js, to show
// how the collector reacts to what connections keep, without any binding.
// `--reader=loop`: the broadcast route reads each connection in an async `for await` loop over
// `events.on(ws, "message")` instead of a listener: the idiom of a channel binding, on raw ws,
// for bench/heap-diff.js to price that idiom without any binding.
"use strict";

const http = require("node:http");
const { on } = require("node:events");
const express = require("express");
const { WebSocketServer } = require("ws");
const { broadcastPayload, parseArgs, serve, sameOrigin } = require("./common");

const args = parseArgs();
const bcastSize = Number(args["bcast-size"] ?? 64);
const echoMode = args.echo ?? "buffer";
const ballast = Number(args.ballast ?? 0);
const loopReader = args.reader === "loop";

const app = express();
app.get("/", (_req, res) => res.send("ok"));
const server = http.createServer(app);

const verifyClient = ({ origin, req }) => sameOrigin(origin, req.headers.host);
const echo = new WebSocketServer({ noServer: true, verifyClient, clientTracking: true });
const bcast = new WebSocketServer({ noServer: true, verifyClient, clientTracking: true });
// /held: connections kept in the server's client set (removed on close), nothing reading them.
const held = new WebSocketServer({ noServer: true, verifyClient, clientTracking: true });

const onEcho = {
  buffer: (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })),
  text: (ws) => ws.on("message", (data) => ws.send(data.toString())),
  json: (ws) => ws.on("message", (data) => ws.send(JSON.stringify(JSON.parse(data.toString())))),
}[echoMode];
if (!onEcho) throw new Error(`--echo must be buffer, text or json, got ${echoMode}`);
echo.on("connection", ballast > 0 ? (ws) => keepState(ws, onEcho) : onEcho);

/** Per-connection state of `--ballast` objects, released when the connection closes. */
function keepState(ws, then) {
  const state = [];
  for (let i = 0; i < ballast; i++) state.push({ id: i, name: `item ${i}`, data: { n: i } });
  ws.once("close", () => state.splice(0));
  then(ws);
}

const broadcastTrigger = (data) => {
  const msg = broadcastPayload(data.toString(), bcastSize);
  for (const c of bcast.clients) c.send(msg);
};
bcast.on("connection", (ws) => {
  // on() rethrows the socket's 'error': end that connection, not the server.
  if (loopReader) readLoop(ws).catch(() => ws.terminate());
  else ws.on("message", broadcastTrigger);
});

async function readLoop(ws) {
  for await (const [data] of on(ws, "message", { close: ["close"] })) broadcastTrigger(data);
}

// /acks?depth=D&size=S: requests answered by acks, written by hand on raw ws, the floor of
// sockets.events' `request()`: the server sends {"event","data","ack"} and keeps D in flight
// per connection, matching answers {"ack","data"} by id in a Map; no timeouts, no checks.
const acks = new WebSocketServer({ noServer: true, verifyClient, clientTracking: true });
acks.on("connection", (ws, req) => {
  const query = new URL(req.url, "http://x").searchParams;
  const payload = "x".repeat(Number(query.get("size") ?? 64));
  const pending = new Map();
  let next = 0;
  const request = () => {
    const id = next++;
    ws.send(JSON.stringify({ event: "echo", data: payload, ack: id }));
    pending.set(id, request);
  };
  ws.on("message", (data) => {
    const m = JSON.parse(data.toString());
    const again = pending.get(m.ack);
    pending.delete(m.ack);
    if (m.data.length !== payload.length) throw new Error("wrong answer");
    if (again && ws.readyState === ws.OPEN) again();
  });
  for (let i = 0; i < Number(query.get("depth") ?? 8); i++) request();
});

// /acks-in: the other direction by hand: each {"event","data","ack"} is parsed and answered
// with {"ack","data"} at once.
const acksIn = new WebSocketServer({ noServer: true, verifyClient, clientTracking: true });
acksIn.on("connection", (ws) => {
  ws.on("message", (data) => {
    const m = JSON.parse(data.toString());
    ws.send(JSON.stringify({ ack: m.ack, data: m.data }));
  });
});

server.on("upgrade", (req, socket, head) => {
  const path = req.url.split("?")[0];
  const routes = {
    "/echo": echo,
    "/bcast": bcast,
    "/held": held,
    "/acks": acks,
    "/acks-in": acksIn,
  };
  const wss = routes[path] ?? null;
  if (!wss) {
    socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
});

serve(server, {
  connections: () =>
    echo.clients.size +
    bcast.clients.size +
    held.clients.size +
    acks.clients.size +
    acksIn.clients.size,
});
