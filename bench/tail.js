// File following benchmark: sockets.tail over WebSocket against the seed broadcaster's method
// (seed 002: poll `stat` once a second, read the whole delta into memory, send it to every
// client), both serving the same file to the same ws clients in this process.
//
// Measured for 1 and 100 clients:
//   latency     a line carrying performance.now() is appended every 10 ms; each client computes
//               now - stamp for every line it gets (p50, p99 over all clients' lines)
//   throughput  a burst of lines is appended as fast as the disk takes it; time from the first
//               append until every client has every byte. MB/s per client, and all clients
//               together (MB delivered / s).
//
// Usage: `node bench/tail.js [--quick]` prints a Markdown table; `require("./tail").run({ quick })`
// returns the rows. It benchmarks `../dist` (run `npm run build` first), or BENCH_DIST.
"use strict";

const fs = require("node:fs");
const fsp = require("node:fs/promises");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const { performance } = require("node:perf_hooks");
const express = require("express");
const { WebSocket, WebSocketServer } = require("ws");

const dist = process.env.BENCH_DIST
  ? path.resolve(process.env.BENCH_DIST)
  : path.join(__dirname, "..", "dist");
const lib = require(dist);
const tail = (lib.sockets && lib.sockets.tail) || require(path.join(dist, "tail")).tail;

const OURS = "express-sockets tail";
const BASELINE = "1 s stat poll (seed 002)";

// ---------------------------------------------------------------- servers

async function listen(server) {
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server.address().port;
}

/** sockets.messages() + sockets.tail(file, { lines: 0 }) behind attach(). */
async function startOurs(file) {
  const app = express();
  app.get(
    "/tail",
    lib.sockets.messages({ skipLogging: true }),
    tail(file, { lines: 0, skipLogging: true }),
  );
  const server = http.createServer(app);
  const upgrades = lib.attach(server, app, { skipLogging: true });
  const port = await listen(server);
  return {
    url: `ws://127.0.0.1:${port}/tail`,
    close: async () => {
      await upgrades.close({ timeout: 1000 });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The seed broadcaster: stat every second, read the whole delta, send it to each client. */
async function startBaseline(file) {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  let offset = fs.statSync(file).size;
  const timer = setInterval(() => {
    const { size } = fs.statSync(file);
    if (size < offset) offset = 0;
    if (size === offset) return;
    const buf = Buffer.alloc(size - offset);
    const fd = fs.openSync(file, "r");
    fs.readSync(fd, buf, 0, buf.length, offset);
    fs.closeSync(fd);
    offset = size;
    const text = buf.toString("utf8");
    for (const client of wss.clients) client.send(text);
  }, 1000);
  const port = await listen(server);
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: async () => {
      clearInterval(timer);
      for (const c of wss.clients) c.terminate();
      await new Promise((resolve) => wss.close(resolve));
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// ---------------------------------------------------------------- clients

/** A client that counts bytes and measures the latency of stamped lines. */
function connect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const c = { ws, bytes: 0, latencies: [], partial: "" };
    ws.on("message", (data) => {
      const now = performance.now();
      c.bytes += data.length;
      const text = c.partial + data.toString("utf8");
      const lines = text.split("\n");
      c.partial = lines.pop();
      for (const line of lines) {
        if (line.startsWith("t=")) c.latencies.push(now - Number(line.slice(2, line.indexOf(" "))));
      }
    });
    ws.once("open", () => resolve(c));
    ws.once("error", reject);
  });
}

async function until(predicate, ms) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the clients");
    await new Promise((r) => setTimeout(r, 2));
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round = (x, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------- one measurement

async function measure(contender, start, clients, sizes) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "bench-tail-"));
  const file = path.join(dir, "app.log");
  await fsp.writeFile(file, "");
  const server = await start(file);
  const conns = await Promise.all(Array.from({ length: clients }, () => connect(server.url)));
  try {
    await new Promise((r) => setTimeout(r, 100)); // let every subscription go live

    // Latency: one stamped line every 10 ms.
    const pad = "x".repeat(60);
    let written = 0;
    for (let i = 0; i < sizes.latencyLines; i++) {
      const line = `t=${performance.now()} ${pad}\n`;
      await fsp.appendFile(file, line);
      written += Buffer.byteLength(line);
      await new Promise((r) => setTimeout(r, 10));
    }
    await until(() => conns.every((c) => c.bytes >= written), 10_000);
    const latencies = conns.flatMap((c) => c.latencies).sort((a, b) => a - b);

    // Throughput: a burst of 100-byte lines in 256 KiB appends.
    const line = "y".repeat(99) + "\n";
    const block = line.repeat(2621); // 262100 bytes
    const total = Math.ceil(sizes.burstBytes / block.length) * block.length;
    const before = conns.map((c) => c.bytes);
    const t0 = performance.now();
    for (let n = 0; n < total; n += block.length) await fsp.appendFile(file, block);
    await until(() => conns.every((c, i) => c.bytes - before[i] >= total), 60_000);
    const seconds = (performance.now() - t0) / 1000;
    const mb = total / 1e6;
    return {
      contender,
      clients,
      latencyP50Ms: round(percentile(latencies, 50)),
      latencyP99Ms: round(percentile(latencies, 99)),
      burstMB: round(mb),
      mbPerSecPerClient: round(mb / seconds),
      totalMbPerSec: round((mb * clients) / seconds),
    };
  } finally {
    for (const c of conns) c.ws.terminate();
    await server.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

async function run({ quick = false } = {}) {
  const rows = [];
  for (const clients of [1, 100]) {
    const sizes = {
      latencyLines: quick ? 50 : 200,
      burstBytes: (quick ? 16e6 : 64e6) / (clients === 1 ? 1 : 10),
    };
    rows.push(await measure(OURS, startOurs, clients, sizes));
    rows.push(await measure(BASELINE, startBaseline, clients, sizes));
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
  run({ quick: process.argv.includes("--quick") }).then(
    (rows) => {
      process.stdout.write(table(rows) + "\n");
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
