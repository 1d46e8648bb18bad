// Recovery benchmark (API.md section 6): how long a returning client takes to get 1,000 missed
// room messages, and how much memory the hub's history costs per kept message.
//
//   replay      a client of an events route in room "r" drops; 1,000 messages (64-byte data) are
//               published to the room; it reconnects presenting its token and position
//               (es_resume). Time from `new WebSocket` to the 1,000th replayed message.
//   raw ws      the same 1,000 frames (the same JSON text, pre-encoded) sent by a raw `ws`
//               server in a loop to a client that just connected: the floor for the same bytes.
//   join only   the same reconnect with nothing missed: time to its `$joined` (handshake + join).
//   memory      heapUsed after full GCs with 100,000 messages kept in one room's history
//               (LocalAdapter, size 100,000), minus before, per message; the data of each is
//               64 bytes (its JSON text is what a message costs at least).
//
// Median over the rounds; the ratios are replay / raw ws. Everything in one process, on loopback.
//
//   node --expose-gc bench/replay.js [--rounds=N]      (needs dist/: npm run build)
"use strict";

const http = require("node:http");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

if (typeof globalThis.gc !== "function") {
  const r = spawnSync(
    process.execPath,
    ["--expose-gc", process.argv[1], ...process.argv.slice(2)],
    {
      stdio: "inherit",
    },
  );
  process.exit(r.status ?? 1);
}

const express = require("express");
const { WebSocket, WebSocketServer } = require("ws");
const dist = process.env.BENCH_DIST ?? path.join(__dirname, "..", "dist");
const { Hub, LocalAdapter, attach, sockets } = require(dist);

const MISSED = 1000;
const KEPT = 100_000;
const DATA = { text: "x".repeat(52) }; // {"text":"xxx..."}: 64 bytes of JSON
const rounds = Number(
  (process.argv.find((a) => a.startsWith("--rounds=")) ?? "--rounds=20").slice(9),
);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const listen = (server) =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));

/** Opens a ws client; resolves after `count` messages (or the first `$joined` when count is 0). */
function receive(url, count) {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let n = 0;
    let token;
    let seq;
    ws.on("message", (data) => {
      const text = String(data);
      if (text.startsWith('{"event":"$session"')) token = JSON.parse(text).data.token;
      else if (text.startsWith('{"event":"$joined"')) {
        const d = JSON.parse(text).data;
        seq = { epoch: d.epoch, seq: d.seq };
        if (count === 0) done();
      } else if (!text.startsWith('{"event":"$') && ++n === count) done();
    });
    ws.on("error", reject);
    function done() {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolve({ ms, ws, token, seq });
    }
  });
}

async function main() {
  const hub = new Hub({ history: { size: 5000, ttl: 600_000 }, skipLogging: true });
  const app = express();
  app.get("/r", sockets.events({}, { skipLogging: true }), async (_req, res) => {
    await hub.join(res.locals.socket, "r");
  });
  const server = http.createServer(app);
  const upgrades = attach(server, app, { skipLogging: true });
  const port = await listen(server);

  const frame = JSON.stringify({ event: "m", data: DATA, at: { r: ["AAAAAAAAAAA", 100000] } });
  const raw = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((r) => raw.once("listening", r));
  raw.on("connection", (ws) => {
    for (let i = 0; i < MISSED; i++) ws.send(frame);
  });
  const rawUrl = `ws://127.0.0.1:${raw.address().port}/`;

  const replay = [];
  const floor = [];
  const joinOnly = [];
  let first = await receive(`ws://127.0.0.1:${port}/r`, 0);
  for (let i = 0; i < rounds + 2; i++) {
    first.ws.terminate();
    const resume = (p) =>
      Buffer.from(JSON.stringify({ token: p.token, rooms: { r: p.seq } })).toString("base64url");
    // Nothing missed: a reconnect's own cost.
    await new Promise((r) => setTimeout(r, 20));
    const j = await receive(`ws://127.0.0.1:${port}/r?es_resume=${resume(first)}`, 0);
    j.ws.terminate();
    await new Promise((r) => setTimeout(r, 20));
    for (let k = 0; k < MISSED; k++) await hub.to("r").emit("m", DATA);
    const r = await receive(`ws://127.0.0.1:${port}/r?es_resume=${resume(first)}`, MISSED);
    const f = await receive(rawUrl, MISSED);
    f.ws.terminate();
    first = {
      ws: r.ws,
      token: r.token,
      seq: { epoch: first.seq.epoch, seq: first.seq.seq + MISSED },
    };
    if (i >= 2) {
      replay.push(r.ms);
      floor.push(f.ms);
      joinOnly.push(j.ms);
    }
  }
  first.ws.terminate();
  await hub.close();
  await upgrades.close({ timeout: 1000 });
  server.closeAllConnections();
  server.close();
  raw.close();

  // Memory per kept message: the history alone, through the adapter seam.
  const counts = { delivered: 0, closed: 0, dropped: 0, failed: 0 };
  const adapter = new LocalAdapter();
  adapter.bind({
    deliver: () => counts,
    count: () => 0,
    fetch: () => [],
    disconnect: () => 0,
    addRooms: async () => 0,
    removeRooms: () => 0,
    rooms: () => [][Symbol.iterator](),
    history: { size: KEPT, ttl: 600_000 },
  });
  await adapter.subscribe("r");
  const heap = () => {
    for (let i = 0; i < 4; i++) globalThis.gc();
    return process.memoryUsage().heapUsed;
  };
  const before = heap();
  for (let i = 0; i < KEPT; i++) {
    const data = { text: `${i}`.padEnd(52, "x") }; // a distinct object per message, as in real use
    await adapter.publish({
      rooms: ["r"],
      except: [],
      message: { kind: "emit", event: "m", data, json: JSON.stringify(data) },
    });
  }
  const after = heap();
  const perMessage = (after - before) / KEPT;
  if (adapter.internals.kept !== KEPT) throw new Error(`kept ${adapter.internals.kept}`);
  await adapter.close();

  const rp = median(replay);
  const fl = median(floor);
  console.log(`replay of ${MISSED} missed messages (median of ${rounds} rounds)`);
  console.log(
    `  express-sockets replay     ${rp.toFixed(1)} ms   (${((MISSED / rp) * 1000).toFixed(0)} msg/s)`,
  );
  console.log(`  raw ws, same frames        ${fl.toFixed(1)} ms   ratio ${(rp / fl).toFixed(2)}x`);
  console.log(
    `  reconnect, nothing missed  ${median(joinOnly).toFixed(1)} ms (handshake + join + $joined)`,
  );
  console.log(
    `memory per kept message: ${perMessage.toFixed(0)} bytes (64-byte data, ${KEPT} kept)`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
