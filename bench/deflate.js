// Compressed against uncompressed broadcast: what `perMessageDeflate` costs the server.
//
// A server process (this file with --server) holds N connections from ws clients in this
// process and broadcasts on request: raw `ws` (`for (c of wss.clients) c.send(msg)`) and
// express-sockets (`broadcast(upgrades, msg)`, frame once and write many), each with
// permessage-deflate off and on (ws's defaults: context takeover), express-sockets with a small
// deflate setting (`SMALL`: no context takeover, 10-bit window, zlib memLevel 4), and
// express-sockets with half of the clients negotiating it. For a 64 B text and a 4 KiB JSON
// text (compressible like real JSON, different every time) it measures, one broadcast at a time:
//   cpu µs/bcast   the server's CPU time per broadcast (process.cpuUsage, the steady figure)
//   p50 ms         time from the request until the last client has the message
//   wire B/msg     bytes a client reads per message (TCP payload: frame header and body)
//   KB/conn        server RSS per connection after the broadcasts, above the empty server:
//                  the zlib contexts a compressed connection keeps
//
// Usage: `node bench/deflate.js [--quick]` prints a Markdown table; `require("./deflate")
// .run({ quick })` returns the rows (bench/run.js runs it as a section). It benchmarks
// `../dist` (run `npm run build` first), or BENCH_DIST.
"use strict";

const { fork } = require("node:child_process");
const http = require("node:http");
const path = require("node:path");
const { performance } = require("node:perf_hooks");
const { WebSocket, WebSocketServer } = require("ws");

const dist = process.env.BENCH_DIST
  ? path.resolve(process.env.BENCH_DIST)
  : path.join(__dirname, "..", "dist");

/** A JSON text of about `size` bytes, different for every `seq`. */
function payload(seq, size) {
  if (size <= 64) return `${seq}:`.padEnd(size, "b");
  const rows = [];
  let text = "";
  for (let i = 0; text.length < size - 80; i++) {
    rows.push({
      id: seq * 1000 + i,
      sym: `S${(seq + i) % 97}`,
      px: ((seq * 7 + i * 13) % 10007) / 100,
      up: i % 3 === 0,
    });
    text = JSON.stringify({ seq, rows });
  }
  return text;
}

// ---------------------------------------------------------------- server process

/** The small deflate setting: less memory per connection, a worse ratio. */
const SMALL = {
  serverNoContextTakeover: true,
  serverMaxWindowBits: 10,
  threshold: 0,
  zlibDeflateOptions: { memLevel: 4 },
};

async function server(lib, deflate) {
  const perMessageDeflate = deflate === "small" ? SMALL : deflate === "on";
  const httpServer = http.createServer();
  let sendToAll;
  let count;
  if (lib === "ws") {
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate });
    httpServer.on("upgrade", (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req)),
    );
    sendToAll = (msg) => {
      for (const c of wss.clients) c.send(msg);
    };
    count = () => wss.clients.size;
  } else {
    const express = require("express");
    const { attach, broadcast, sockets } = require(dist);
    const app = express();
    app.get("/", sockets.messages({ skipLogging: true, perMessageDeflate }), () => {});
    const upgrades = attach(httpServer, app, { skipLogging: true });
    sendToAll = (msg) => broadcast(upgrades, msg);
    count = () => upgrades.size;
  }
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  process.on("disconnect", () => process.exit(0));
  process.on("message", (m) => {
    const reply = (body) => process.send({ id: m.id, ...body });
    if (m.cmd === "bcast") {
      sendToAll(payload(m.seq, m.size));
      reply({});
    } else if (m.cmd === "cpu") {
      const { user, system } = process.cpuUsage();
      reply({ cpu: user + system, connections: count() });
    } else if (m.cmd === "mem") {
      globalThis.gc();
      globalThis.gc();
      reply({ mem: process.memoryUsage() });
    }
  });
  process.send({ ready: httpServer.address().port });
}

// ---------------------------------------------------------------- load (this process)

function startServer(lib, deflate /* "off" | "on" | "small" */) {
  const child = fork(
    path.join(__dirname, "deflate.js"),
    ["--server", `--lib=${lib}`, `--deflate=${deflate}`],
    {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    },
  );
  let next = 0;
  const waiting = new Map();
  child.on("message", (m) => {
    const w = waiting.get(m.id);
    if (w) {
      waiting.delete(m.id);
      w(m);
    }
  });
  const ask = (cmd, args = {}) =>
    new Promise((resolve) => {
      const id = ++next;
      waiting.set(id, resolve);
      child.send({ cmd, id, ...args });
    });
  const ready = new Promise((resolve, reject) => {
    child.once("message", (m) => (m.ready ? resolve(m.ready) : reject(new Error("no port"))));
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, ask, ready };
}

async function openClients(port, n, compressed) {
  const clients = [];
  while (clients.length < n) {
    const batch = Array.from({ length: Math.min(100, n - clients.length) }, (_, k) => {
      const i = clients.length + k;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: compressed(i) });
      const c = { ws, last: -1, waiter: null };
      ws.on("message", (data) => {
        const text = data.toString();
        c.last = Number(
          text.slice(text.startsWith("{") ? 7 : 0, text.indexOf(text.startsWith("{") ? "," : ":")),
        );
        if (c.waiter && c.last >= c.waiter.seq) {
          const w = c.waiter;
          c.waiter = null;
          w.resolve();
        }
      });
      return new Promise((resolve, reject) => {
        ws.once("open", () => resolve(c));
        ws.once("error", reject);
      });
    });
    clients.push(...(await Promise.all(batch)));
  }
  return clients;
}

function arrived(c, seq) {
  if (c.last >= seq) return Promise.resolve();
  return new Promise((resolve) => (c.waiter = { seq, resolve }));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
};
const bytesRead = (clients) => clients.reduce((n, c) => n + c.ws._socket.bytesRead, 0);

async function measure(label, lib, compressed, { conns, times, size }) {
  const server = startServer(
    lib,
    compressed === "off" ? "off" : compressed === "small" ? "small" : "on",
  );
  const port = await server.ready;
  try {
    const empty = (await server.ask("mem")).mem;
    const clients = await openClients(port, conns, (i) =>
      compressed === "off" ? false : compressed === "half" ? i % 2 === 0 : true,
    );
    let seq = 0;
    for (let i = 0; i < 5; i++) {
      seq++;
      await server.ask("bcast", { seq, size });
      await Promise.all(clients.map((c) => arrived(c, seq)));
    }
    const wire0 = bytesRead(clients);
    const cpu0 = (await server.ask("cpu")).cpu;
    const latencies = [];
    for (let i = 0; i < times; i++) {
      seq++;
      const t0 = performance.now();
      await server.ask("bcast", { seq, size });
      await Promise.all(clients.map((c) => arrived(c, seq)));
      latencies.push(performance.now() - t0);
    }
    const cpu1 = (await server.ask("cpu")).cpu;
    const wire = bytesRead(clients) - wire0;
    const mem = (await server.ask("mem")).mem;
    for (const c of clients) c.ws.terminate();
    return {
      contender: label,
      size,
      conns,
      cpuMicrosPerBcast: Math.round((cpu1 - cpu0) / times),
      p50Ms: Math.round(median(latencies) * 10) / 10,
      wireBytesPerMsg: Math.round(wire / (times * conns)),
      rssKBPerConn: Math.round((mem.rss - empty.rss) / conns / 102.4) / 10,
    };
  } finally {
    server.child.kill();
  }
}

const CONTENDERS = [
  ["ws", "ws", "off"],
  ["ws + deflate", "ws", "on"],
  ["express-sockets", "sockets", "off"],
  ["express-sockets + deflate", "sockets", "on"],
  ["express-sockets + deflate (half the clients)", "sockets", "half"],
  ["express-sockets + small deflate", "sockets", "small"],
];

async function run({ quick = false } = {}) {
  const conns = quick ? 200 : 1000;
  const times = quick ? 20 : 100;
  const rows = [];
  for (const size of [64, 4096]) {
    for (const [label, lib, compressed] of CONTENDERS) {
      rows.push(await measure(label, lib, compressed, { conns, times, size }));
    }
  }
  return rows;
}

function table(rows) {
  const keys = Object.keys(rows[0]);
  return [keys, keys.map(() => "---"), ...rows.map((r) => keys.map((k) => String(r[k])))]
    .map((r) => `| ${r.join(" | ")} |`)
    .join("\n");
}

module.exports = { run };

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args.includes("--server")) {
    const lib = (args.find((a) => a.startsWith("--lib=")) || "--lib=ws").slice(6);
    const deflate = (args.find((a) => a.startsWith("--deflate=")) || "--deflate=off").slice(10);
    server(lib, deflate).catch((err) => {
      console.error(err);
      process.exit(1);
    });
  } else {
    run({ quick: args.includes("--quick") }).then(
      (rows) => process.stdout.write(table(rows) + "\n"),
      (err) => {
        console.error(err);
        process.exitCode = 1;
      },
    );
  }
}
