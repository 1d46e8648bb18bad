// Room broadcast servers for bench/rooms.js, one per `--kind`:
//   hub        express-sockets: sockets.messages() behind attach(), each socket joined to the
//              room of its `?room=` with `hub.join`; `hub.to(room).emit("b", payload)` and
//              `hub.except(room).emit("b", payload)`
//   ws         raw ws: a Map<room, Set<ws>>; the event's JSON text is built once per broadcast
//              and sent with `ws.send(text)` in a loop over the room's set (over every set but
//              one for all-but-one)
//   socket.io  `socket.join(room)` from the handshake query; `io.to(room).emit("b", payload)`
//              and `io.except(room).emit("b", payload)`
// A client triggers a broadcast with the text `one:<room>:<seq>` or `but:<room>:<seq>` (a
// socket.io client emits it as event "go"). ws and hub clients receive the same bytes,
// `{"event":"b","data":"<payload>"}`; socket.io clients its own packet for the same event.
// Command "unjoin" takes every socket out of every room (the sockets stay open), so that the
// heap before and after gives the bytes per membership.
"use strict";

const http = require("node:http");
const express = require("express");
const { WebSocketServer } = require("ws");
const { broadcastPayload, parseArgs, serve } = require("./common");

const args = parseArgs();
const kind = args.kind || "hub";
const size = Number(args["bcast-size"] ?? 64);

/** The trigger text: [mode, room, seq]. */
function parseTrigger(text) {
  const [mode, room, seq] = String(text).split(":");
  return { mode, room: `r${room}`, payload: broadcastPayload(seq, size) };
}

function roomOf(url) {
  const m = /[?&]room=(\d+)/.exec(url || "");
  return `r${m ? m[1] : 0}`;
}

if (kind === "hub") {
  const lib = require(process.env.BENCH_DIST || "../../dist");
  const hub = new lib.Hub({ skipLogging: true });
  const app = express();
  app.get("/rooms", lib.sockets.messages({ skipLogging: true }), (req, res) => {
    const socket = res.locals.socket;
    hub.join(socket, roomOf(req.url)).then(
      () => listen(socket),
      (err) => console.error(err),
    );
  });
  async function listen(socket) {
    for await (const text of socket.receiver) {
      const t = parseTrigger(text);
      if (t.mode === "one") void hub.to(t.room).emit("b", t.payload);
      else void hub.except(t.room).emit("b", t.payload);
    }
  }
  const server = http.createServer(app);
  const upgrades = lib.attach(server, app, { skipLogging: true });
  serve(server, {
    connections: () => upgrades.size,
    commands: {
      async unjoin() {
        const n = hub.size;
        await hub.close(); // forgets every socket and room; the sockets stay open
        return { memberships: n };
      },
    },
  });
} else if (kind === "ws") {
  const rooms = new Map();
  const wss = new WebSocketServer({ noServer: true, clientTracking: false });
  const server = http.createServer((_req, res) => res.end("ok"));
  let open = 0;
  server.on("upgrade", (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const room = roomOf(req.url);
      let set = rooms.get(room);
      if (!set) rooms.set(room, (set = new Set()));
      set.add(ws);
      open++;
      ws.on("close", () => {
        open--;
        const s = rooms.get(room);
        if (s) {
          s.delete(ws);
          if (s.size === 0) rooms.delete(room);
        }
      });
      ws.on("message", (data) => {
        const t = parseTrigger(data);
        const text = JSON.stringify({ event: "b", data: t.payload });
        if (t.mode === "one") {
          const set = rooms.get(t.room);
          if (set) for (const c of set) c.send(text);
        } else {
          for (const [name, set] of rooms) if (name !== t.room) for (const c of set) c.send(text);
        }
      });
    });
  });
  serve(server, {
    connections: () => open,
    commands: {
      unjoin() {
        let n = 0;
        for (const set of rooms.values()) n += set.size;
        rooms.clear();
        return { memberships: n };
      },
    },
  });
} else if (kind === "socket.io") {
  const { Server } = require("socket.io");
  const server = http.createServer((_req, res) => res.end("ok"));
  const io = new Server(server, { transports: ["websocket"], serveClient: false });
  io.on("connection", (socket) => {
    socket.join(roomOf(`?room=${socket.handshake.query.room}`));
    socket.on("go", (text) => {
      const t = parseTrigger(text);
      if (t.mode === "one") io.to(t.room).emit("b", t.payload);
      else io.except(t.room).emit("b", t.payload);
    });
  });
  serve(server, {
    connections: () => io.engine.clientsCount,
    commands: {
      unjoin() {
        let n = 0;
        for (const socket of io.of("/").sockets.values()) {
          for (const room of [...socket.rooms]) {
            if (room === socket.id) continue;
            socket.leave(room);
            n++;
          }
        }
        return { memberships: n };
      },
    },
  });
} else {
  throw new Error(`unknown --kind=${kind}`);
}
