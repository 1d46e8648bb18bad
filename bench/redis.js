// Rooms across processes on Redis: express-sockets' Hub on redisAdapter (two server processes)
// against the same Hub in one process without an adapter, and socket.io with
// @socket.io/redis-adapter (two server processes), on the same Redis, in the same run.
//
// 2,000 ws (socket.io-client for socket.io) clients in 20 rooms of 100, spread over the server
// processes (each room has members on both). Two measurements, 64-byte payload:
//   latency     one message to one room at a time (from server 0): the time from the trigger
//               until the last of the room's 100 members has it; p50 and p99 over every message
//   throughput  `--flood` messages to the rooms in turn, all at once (from server 0): room
//               messages delivered per second until the last member has the last message
// Servers are fresh child processes of this script (`--server=<kind>`), the clients live in this
// process; every wait is bounded.
//
//   node bench/redis.js [--quick] [--url=redis://127.0.0.1:6379]   (needs dist/: npm run build)
"use strict";

const { fork } = require("node:child_process");
const http = require("node:http");
const path = require("node:path");

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=");
    return [k, v ?? true];
  }),
);
const URL = args.url || "redis://127.0.0.1:6379";
const PAYLOAD = "x".repeat(64);

// ---------------------------------------------------------------- server processes

if (args.server) {
  runServer(String(args.server), String(args.prefix)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

async function runServer(kind, prefix) {
  const express = require("express");
  const app = express();
  const server = http.createServer(app);
  let emit;
  if (kind === "sio") {
    const { Server } = require("socket.io");
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    const io = new Server(server, { transports: ["websocket"], serveClient: false });
    io.adapter(createAdapter(pub, sub, { key: prefix }));
    io.on("connection", (socket) => socket.join(String(socket.handshake.query.room)));
    emit = (room, k) => io.to(room).emit("b", { k, p: PAYLOAD });
  } else {
    const dist = process.env.BENCH_DIST || path.join(__dirname, "..", "dist");
    const { attach, sockets, Hub } = require(dist);
    let adapter;
    if (kind === "redis") {
      const { createClient } = require("redis");
      const { redisAdapter } = require(path.join(dist, "redis"));
      adapter = redisAdapter({ client: createClient({ url: URL }), prefix, skipLogging: true });
    }
    const hub = new Hub({ adapter, skipLogging: true });
    app.get("/room", sockets.events({}, { skipLogging: true }), async (req, res) => {
      await hub.join(res.locals.socket, String(req.query.room));
      res.locals.socket.emit("ready", null);
      for await (const _ of res.locals.socket.receiver);
    });
    attach(server, app, { skipLogging: true });
    emit = (room, k) => hub.to(room).emit("b", { k, p: PAYLOAD });
  }
  process.on("message", (m) => {
    if (m.op === "emit") void emit(m.room, m.k);
    else if (m.op === "flood") {
      for (let i = 0; i < m.count; i++) void emit(m.rooms[i % m.rooms.length], m.from + i);
    }
  });
  process.on("disconnect", () => process.exit(0));
  server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
}

// ---------------------------------------------------------------- orchestrator

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function startServer(kind, prefix) {
  const child = fork(process.argv[1], [`--server=${kind}`, `--prefix=${prefix}`, `--url=${URL}`], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${kind} server did not start`)), 20_000);
    child.once("message", (m) => {
      clearTimeout(t);
      resolve({ child, port: m.port });
    });
  });
}

/** Opens the clients; `onMessage(k)` for every room message any of them gets. */
async function connect(kind, servers, conns, roomSize, onMessage) {
  const clients = [];
  const opened = [];
  for (let i = 0; i < conns; i++) {
    const s = servers[i % servers.length];
    const room = `room${Math.floor(i / roomSize)}`;
    if (kind === "sio") {
      const { io } = require("socket.io-client");
      const c = io(`http://127.0.0.1:${s.port}`, {
        transports: ["websocket"],
        forceNew: true,
        reconnection: false,
        query: { room },
      });
      c.on("b", (d) => onMessage(d.k));
      clients.push(c);
      opened.push(new Promise((r) => c.once("connect", r)));
    } else {
      const { WebSocket } = require("ws");
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/room?room=${room}`);
      ws.on("error", () => {});
      let ready;
      opened.push(new Promise((r) => (ready = r)));
      ws.on("message", (data) => {
        const m = JSON.parse(data);
        if (m.event === "ready") ready();
        else onMessage(m.data.k);
      });
      clients.push(ws);
    }
    if (i % 100 === 99) await Promise.all(opened.slice(-100));
  }
  await Promise.all(opened);
  return () => {
    for (const c of clients) {
      if (kind === "sio") c.disconnect();
      else c.terminate();
    }
  };
}

async function measure(contender, P) {
  const prefix = `es-bench-${process.pid}-${contender.kind}`;
  const servers = [];
  for (let i = 0; i < contender.processes; i++)
    servers.push(await startServer(contender.kind, prefix));
  const got = new Map(); // k -> count
  let waiter = null;
  const onMessage = (k) => {
    const n = (got.get(k) ?? 0) + 1;
    got.set(k, n);
    if (waiter !== null) waiter(k, n);
  };
  const close = await connect(contender.client, servers, P.conns, P.roomSize, onMessage);
  const rooms = Array.from({ length: P.conns / P.roomSize }, (_, i) => `room${i}`);
  await new Promise((r) => setTimeout(r, 300));
  const latencies = [];
  let k = 0;
  const one = (room, record) =>
    new Promise((resolve, reject) => {
      const key = k++;
      const t0 = process.hrtime.bigint();
      const timer = setTimeout(
        () => reject(new Error(`${contender.name}: message ${key} lost`)),
        10_000,
      );
      waiter = (kk, n) => {
        if (kk === key && n === P.roomSize) {
          clearTimeout(timer);
          waiter = null;
          if (record) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          resolve();
        }
      };
      servers[0].child.send({ op: "emit", room, k: key });
    });
  for (let i = 0; i < P.warm; i++) await one(rooms[i % rooms.length], false);
  for (let i = 0; i < P.messages; i++) await one(rooms[i % rooms.length], true);
  // throughput: a flood of room messages at once
  const from = k;
  const expected = P.flood * P.roomSize;
  let total = 0;
  const t0 = process.hrtime.bigint();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${contender.name}: flood incomplete (${total}/${expected})`)),
      60_000,
    );
    waiter = (kk) => {
      if (kk >= from && ++total === expected) {
        clearTimeout(timer);
        resolve();
      }
    };
    servers[0].child.send({ op: "flood", rooms, count: P.flood, from });
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  waiter = null;
  close();
  for (const s of servers) s.child.kill();
  await cleanup(prefix);
  return {
    name: contender.name,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rate: expected / seconds,
  };
}

async function cleanup(prefix) {
  const { createClient } = require("redis");
  const c = createClient({ url: URL });
  await c.connect();
  for await (const keys of c.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
    const list = [].concat(keys);
    if (list.length) await c.del(list);
  }
  await c.quit();
}

async function main() {
  const P = args.quick
    ? { conns: 400, roomSize: 100, warm: 20, messages: 100, flood: 200 }
    : { conns: 2000, roomSize: 100, warm: 100, messages: 400, flood: 1000 };
  const contenders = [
    { name: "Hub, 1 process, no adapter", kind: "local", client: "ws", processes: 1 },
    { name: "Hub + redisAdapter, 2 processes", kind: "redis", client: "ws", processes: 2 },
    { name: "socket.io + redis-adapter, 2 processes", kind: "sio", client: "sio", processes: 2 },
  ];
  const rows = [];
  for (const c of contenders) {
    process.stderr.write(`${c.name} ...\n`);
    rows.push(await measure(c, P));
  }
  const local = rows[0];
  const sio = rows[2];
  const fmt = (x, d = 2) => x.toFixed(d);
  console.log(
    `\n${P.conns} clients in rooms of ${P.roomSize}; latency over ${P.messages} messages, throughput over ${P.flood}; Redis ${URL}\n`,
  );
  console.log(
    "| contender | p50 ms | p99 ms | p99 / 1 process | room msgs delivered/s | throughput / socket.io |",
  );
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.p99 / local.p99)}x | ${Math.round(r.rate)} | ${fmt(r.rate / sio.rate)}x |`,
    );
  }
  console.log(
    `\nload average at the end: ${require("node:os")
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  process.exit(0);
}
