// Contender "express-sockets messages" / "json" / "bytes" (--mode=messages|json|bytes): the
// binding as its README shows it. Upgrades are routed through Express before the handshake and
// the factory's default Origin check runs; default options otherwise (keep-alive pings, write
// and pong timeouts, buffered channels), logging off like the other contenders.
// Echo: `for await (m of receiver) await sender.send(m)` in the route handler. Broadcast (also
// the idle-memory scenario): the route hands each socket to a reading loop, and
// `broadcast(upgrades, message)` (frame once, write many) sends to every open connection of the
// attachment; an older dist/ keeps its members in a Set, or loops over `sender.trySend`.
// Contender "express-sockets events" uses the /acks route below (server requests answered by
// the client's acks).
"use strict";

const http = require("node:http");
const express = require("express");
// BENCH_DIST points at another build (a prototype fix in a scratch copy); default ../../dist.
const lib = require(process.env.BENCH_DIST || "../../dist");
const { broadcastPayload, parseArgs, serve } = require("./common");

const args = parseArgs();
const mode = ["json", "bytes"].includes(args.mode) ? args.mode : "messages";
const bcastSize = Number(args["bcast-size"] ?? 64);
const options = { skipLogging: true };
const factory = () =>
  mode === "json" ? lib.sockets.json(undefined, options) : lib.sockets[mode](options);
// A json broadcast is {"b":"<payload>"}: 8 bytes around the payload, the same size on the wire.
const message =
  mode === "json"
    ? (seq) => ({ b: broadcastPayload(seq, bcastSize - 8) })
    : mode === "bytes"
      ? (seq) => Buffer.from(broadcastPayload(seq, bcastSize))
      : (seq) => broadcastPayload(seq, bcastSize);

const app = express();
app.get("/", (_req, res) => res.send("ok"));

app.get("/echo", factory(), async (_req, res) => {
  const { receiver, sender } = res.locals.socket;
  for await (const m of receiver) await sender.send(m);
});

// The broadcast goes to the attachment's registry of open connections (iterable like ws's
// `wss.clients`, which the ws contender's send loop uses); an older dist/ without it keeps the
// members in a Set of its own.
let upgrades = null;
const members = new Set();
const registry = () => (Symbol.iterator in upgrades ? upgrades : members);
const sendToAll =
  typeof lib.broadcast === "function"
    ? (msg) => lib.broadcast(registry(), msg)
    : (msg) => {
        for (const s of members) s.sender.trySend(msg);
      };

// The route hands the socket to a member loop and returns, as the README advises for
// long-lived connections: a route handler that stays pending keeps Express's req and res (and
// the hidden classes Express gives each of them) alive for the connection's whole life.
app.get("/bcast", factory(), (_req, res) => {
  if (registry() === members) serveMember(res.locals.socket);
  else serveListener(res.locals.socket);
});

async function serveListener(socket) {
  for await (const seq of socket.receiver) sendToAll(message(String(seq)));
}

async function serveMember(socket) {
  members.add(socket);
  try {
    for await (const seq of socket.receiver) sendToAll(message(String(seq)));
  } finally {
    members.delete(socket);
  }
}

// /held: connections kept only in the attachment's registry (iterable like ws's `wss.clients`,
// which the ws contender uses), nothing reading them (their messages would buffer, then pause
// the socket). An older dist/ without the registry keeps each in a Set until `done` reports
// the close.
const held = new Set();
app.get("/held", factory(), (_req, res) => {
  if (Symbol.iterator in upgrades) return;
  const socket = res.locals.socket;
  held.add(socket);
  void socket.done.recv().then(() => held.delete(socket));
});

// /acks?depth=D&size=S (sockets.events, when the build has it): the server keeps D requests in
// flight on each connection, `await socket.request("echo", payload)` in a loop, S bytes of data
// each, answered by the client's ack, until the connection closes (the request then rejects).
if (typeof lib.sockets.events === "function") {
  app.get("/acks", lib.sockets.events({}, options), (req, res) => {
    const depth = Number(req.query.depth ?? 8);
    const payload = "x".repeat(Number(req.query.size ?? 64));
    for (let i = 0; i < depth; i++) void requestLoop(res.locals.socket, payload);
  });
}

// /acks-in: the other direction: every client request is answered with its own data,
// `for await (const m of receiver) m.ack?.(m.data)`, the data checked by a type guard.
if (typeof lib.sockets.events === "function") {
  const Echo = { echo: (v) => typeof v === "string" };
  app.get("/acks-in", lib.sockets.events(Echo, options), async (_req, res) => {
    for await (const m of res.locals.socket.receiver) void m.ack?.(m.data);
  });
}

async function requestLoop(socket, payload) {
  try {
    for (;;) {
      const reply = await socket.request("echo", payload);
      if (reply.length !== payload.length) throw new Error("wrong answer");
    }
  } catch {
    // the connection closed
  }
}

const server = http.createServer(app);
upgrades = lib.attach(server, app, { skipLogging: true });

serve(server, { connections: () => upgrades.size });
