// Where the heap per connection goes: heap snapshots of a benchmark server before and after N
// connections to one route, summed by object type and constructor, shown per connection.
//
//   node bench/heap-diff.js <server file> <route> <N> [server args...]
//   node bench/heap-diff.js bench/servers/express-sockets.js /bcast 2000 --mode=messages
//   node bench/heap-diff.js bench/servers/ws.js /held 2000
//
// Rows are bytes and objects per connection (rows under 4 B per connection are left out). The
// total includes native entries (a TCP handle, "synthetic" and "native" rows), which `heapUsed`
// does not count. Not part of `npm run bench`: a tool for finding what to shrink.
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { start } = require("./child");

const [serverFile, route, count, ...serverArgs] = process.argv.slice(2);
const N = Number(count);
if (!serverFile || !route || !(N > 0)) {
  console.error("usage: node bench/heap-diff.js <server file> <route> <N> [server args...]");
  process.exit(2);
}

/** Sums self sizes and counts by "type name" over a V8 heap snapshot file. */
function summarize(file) {
  const snap = JSON.parse(fs.readFileSync(file, "utf8"));
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf("type");
  const iName = fields.indexOf("name");
  const iSize = fields.indexOf("self_size");
  const out = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]];
    let name = snap.strings[snap.nodes[i + iName]];
    if (type.includes("string")) name = "(string)";
    if (type === "code") name = "(code)";
    const key = `${type} ${name.slice(0, 60)}`;
    const entry = out.get(key) || { count: 0, size: 0 };
    entry.count++;
    entry.size += snap.nodes[i + iSize];
    out.set(key, entry);
  }
  return out;
}

/** A child process that opens `n` ws clients to `url`; `opened` resolves when all are open. */
function clients(url, n) {
  const child = spawn(process.execPath, ["-e", openClientsSource(), url, String(n)], {
    cwd: path.join(__dirname, ".."),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const opened = new Promise((resolve) => child.once("message", resolve));
  return { child, opened };
}

function openClientsSource() {
  return `
    const { WebSocket } = require("ws");
    const [url, n] = [process.argv[1], Number(process.argv[2])];
    const origin = new URL(url).origin.replace("ws", "http");
    let open = 0;
    const all = [];
    for (let i = 0; i < n; i++) {
      const ws = new WebSocket(url, { origin });
      ws.on("open", () => { if (++open === n) process.send("open"); });
      ws.on("error", (err) => console.error(err.message));
      all.push(ws);
    }`;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "heap-diff-"));
  const server = start(path.resolve(serverFile), serverArgs, {
    execArgv: ["--expose-gc"],
    label: path.basename(serverFile),
  });
  const { port } = await server.ready;
  // A snapshot of a heap with thousands of connections takes seconds to write.
  const snapshot = async (name) =>
    summarize(
      (await server.request("heap-snapshot", { file: path.join(dir, name) }, 120_000)).file,
    );
  const url = `ws://127.0.0.1:${port}${route}`;
  // Warm the code paths so that the baseline is not charged for them.
  const warm = clients(url, 50);
  await warm.opened;
  warm.child.kill();
  await new Promise((r) => setTimeout(r, 500));
  const before = await snapshot("a.heapsnapshot");
  const load = clients(url, N);
  await load.opened;
  await new Promise((r) => setTimeout(r, 500));
  const after = await snapshot("b.heapsnapshot");
  load.child.kill();
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });

  const rows = [];
  for (const [key, b] of after) {
    const a = before.get(key) || { count: 0, size: 0 };
    const size = (b.size - a.size) / N;
    if (Math.abs(size) > 4) rows.push([key, (b.count - a.count) / N, size]);
  }
  rows.sort((x, y) => y[2] - x[2]);
  let total = 0;
  for (const [key, objects, size] of rows) {
    total += size;
    console.log(`${size.toFixed(1).padStart(8)} B ${objects.toFixed(2).padStart(6)}  ${key}`);
  }
  console.log(
    `${total.toFixed(0).padStart(8)} B per connection in all (${N} connections to ${route})`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
