// What the garbage collector does under echo load: a benchmark server run with --trace-gc, 100
// connections each keeping 8 messages in flight for 3 s, then the count of scavenges and
// mark-compacts in that window, why incremental marking started, the new space's size, and the
// server's CPU time per echoed message.
//
//   node bench/gc-trace.js <server file> [server args...]
//   node bench/gc-trace.js bench/servers/ws.js
//   node bench/gc-trace.js bench/servers/ws.js --ballast=100   (raw ws with per-connection state)
//   node bench/gc-trace.js bench/servers/express-sockets.js --mode=bytes
//
// Environment: SIZE=<bytes> (default 16384), FLAGS=<extra node flags for the server>.
// Not part of `npm run bench`: a tool for explaining a server CPU figure (see bench/README.md).
"use strict";

const path = require("node:path");
const { WebSocket } = require("ws");
const { start } = require("./child");

const [serverFile, ...serverArgs] = process.argv.slice(2);
if (!serverFile) {
  console.error("usage: node bench/gc-trace.js <server file> [server args...]");
  process.exit(2);
}
const SIZE = Number(process.env.SIZE ?? 16384);
const CONNECTIONS = 100;
const IN_FLIGHT = 8;
const WINDOW_MS = 3000;

// The server also prints its new space's size every 100 ms on stderr (a preloaded sampler).
const flags = [
  "--trace-gc",
  "--trace-incremental-marking",
  ...(process.env.FLAGS ?? "").split(" "),
];
const sampler = path.join(__dirname, "load", "new-space-sampler.js");
// Forked like the orchestrator does (bench/child.js); its stdout (the trace) and stderr (the
// sampler) are kept for reading.
const server = start(path.resolve(serverFile), serverArgs, {
  execArgv: [...flags.filter(Boolean), "-r", sampler],
  label: path.basename(serverFile),
  capture: true,
});
const hardStop = setTimeout(() => {
  console.error("gave up after 30 s");
  server.proc.kill();
  process.exit(1);
}, 30_000);

const payload = JSON.stringify({ p: "x".repeat(Math.max(0, SIZE - 8)) });

/** The server's CPU time so far (user + system), asked over IPC. */
const cpuMicros = async () => (await server.request("cpu")).cpuMicros;

async function main() {
  const { port } = await server.ready;
  const clients = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/echo`, {
      origin: `http://127.0.0.1:${port}`,
      generateMask: (mask) => mask.fill(0),
    });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    clients.push(ws);
  }
  const cpuBefore = await cpuMicros();
  const { output } = server;
  const outMark = output.stdout.length;
  const errMark = output.stderr.length;
  const started = Date.now();
  const end = started + WINDOW_MS;
  let echoed = 0;
  for (const ws of clients) {
    ws.on("message", () => {
      echoed++;
      if (Date.now() < end) ws.send(payload);
    });
    for (let k = 0; k < IN_FLIGHT; k++) ws.send(payload);
  }
  await new Promise((r) => setTimeout(r, WINDOW_MS + 100));
  const cpuUsed = (await cpuMicros()) - cpuBefore;
  const trace = output.stdout.slice(outMark);
  const starts = {};
  for (const m of trace.matchAll(/\[IncrementalMarking\] Start \(([^)]+)\)/g)) {
    starts[m[1]] = (starts[m[1]] ?? 0) + 1;
  }
  const newSpace = [...output.stderr.slice(errMark).matchAll(/newspace (\d+)/g)].map((m) =>
    Number(m[1]),
  );
  console.log(
    JSON.stringify({
      server: [path.basename(serverFile), ...serverArgs].join(" "),
      messageBytes: Buffer.byteLength(payload),
      messagesPerSec: Math.round(echoed / ((Date.now() - started) / 1000)),
      serverCpuMicrosPerMsg: Number((cpuUsed / echoed).toFixed(1)),
      scavenges: (trace.match(/: Scavenge/g) ?? []).length,
      markCompacts: (trace.match(/: Mark-Compact/g) ?? []).length,
      markingStarts: starts,
      newSpaceMaxMB: newSpace.length ? Math.max(...newSpace) / 2 ** 20 : null,
    }),
  );
  for (const ws of clients) ws.terminate();
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(async () => {
    clearTimeout(hardStop);
    await server.stop();
  });
