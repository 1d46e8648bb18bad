// Room broadcast benchmark: express-sockets' Hub against a raw ws loop over Map<room, Set<ws>>
// and socket.io's rooms, in the same run.
//
// 5,000 clients in 50 rooms of 100 (quick: 1,000 in 50 rooms of 20). Two measurements, one
// broadcast at a time, 64-byte payload:
//   one room      one message to one room (100 members): `hub.to(room).emit`
//   all but one   one message to every room but one (4,900 members): `hub.except(room).emit`
// For each: the time from the trigger until the last member has the message (p50, p99 over
// every broadcast of every round), and the server's CPU time per broadcast (process.cpuUsage()
// over the same broadcasts), from which server throughput: messages delivered per second of
// server CPU. Then the heap per membership: the server's heapUsed after full GCs with every
// socket in its room, minus the same once every socket has left every room (the sockets stay
// open), divided by the number of sockets. For the Hub that also counts its registry entry and
// id room (it forgets the sockets entirely: `hub.close()`); for ws only the Set entries; for
// socket.io the named room only (its id room stays).
//
// Each contender gets a fresh server (bench/servers/rooms.js) and a fresh load generator
// (bench/load/generator.js, `ws` client for hub and ws, socket.io-client for socket.io) per
// round; the order rotates every round.
//
//   node bench/rooms.js [--quick] [--rounds=N]     (needs dist/: npm run build)
//   npm run bench -- --scenarios=rooms             (the same, inside the full report)
"use strict";

const path = require("node:path");
const { start } = require("./child");
const { parseArgs } = require("./servers/common");

const CONTENDERS = [
  { name: "express-sockets Hub", kind: "hub", client: "ws", route: "/rooms" },
  { name: "ws Map<room, Set<ws>> loop", kind: "ws", client: "ws", route: "/rooms" },
  { name: "socket.io rooms", kind: "socket.io", client: "sio", route: "/" },
];
const SIZE = 64;
/** What a ws or hub client receives: the event's JSON text around the 64-byte payload. */
const WS_SIZE = JSON.stringify({ event: "b", data: "x".repeat(SIZE) }).length;

function params(quick, rounds) {
  return quick
    ? { rounds: rounds ?? 1, conns: 1000, rooms: 50, one: 40, but: 10, warmOne: 40, warmBut: 5 }
    : { rounds: rounds ?? 3, conns: 5000, rooms: 50, one: 100, but: 30, warmOne: 100, warmBut: 10 };
}

function percentile(xs, p) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const median = (xs) => percentile(xs, 50);

async function measureOne(c, P) {
  const server = start(
    path.join(__dirname, "servers", "rooms.js"),
    [`--kind=${c.kind}`, `--bcast-size=${SIZE}`],
    { execArgv: ["--expose-gc"], label: c.name },
  );
  const gen = start(path.join(__dirname, "load", "generator.js"), [`--client=${c.client}`], {
    label: `${c.name} clients`,
  });
  try {
    const { port } = await server.ready;
    await gen.ready;
    await gen.request(
      "connect",
      {
        port,
        route: c.route,
        conns: P.conns,
        rooms: P.rooms,
        size: c.client === "sio" ? SIZE : WS_SIZE,
        timeoutMs: 10000,
        concurrency: 100,
      },
      200000,
    );
    for (let i = 0; i < 100; i++) {
      const { connections } = await server.request("connections");
      if (connections >= P.conns) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Two full collections first: the garbage of 5,000 handshakes (much more behind Express
    // routing than behind a bare upgrade listener) is connection cost, not broadcast cost, and
    // would otherwise be collected during the first measured broadcasts.
    await server.request("mem");
    const out = {};
    let seq = 1;
    for (const mode of ["one", "but"]) {
      const times = mode === "one" ? P.one : P.but;
      // Warm-up: as many deliveries as the measurement makes, so that the JIT has compiled
      // every contender's send path before it is timed (with 10 one-room broadcasts of warm-up
      // the Hub's first 100 measured broadcasts cost 1.7x its next 100: compilation).
      const warm = mode === "one" ? P.warmOne : P.warmBut;
      await gen.request(
        "room-broadcast",
        { mode, rooms: P.rooms, times: warm, first: seq, timeoutMs: 10000, budgetMs: 60000 },
        70000,
      );
      seq += warm;
      const c0 = (await server.request("cpu")).cpuMicros;
      const { samples } = await gen.request(
        "room-broadcast",
        { mode, rooms: P.rooms, times, first: seq, timeoutMs: 10000, budgetMs: 120000 },
        130000,
      );
      const cpu = (await server.request("cpu")).cpuMicros - c0;
      seq += times;
      const members = mode === "one" ? P.conns / P.rooms : P.conns - P.conns / P.rooms;
      out[mode] = { samples, cpuPerBroadcast: cpu / samples.length, members };
    }
    const before = (await server.request("mem")).mem.heapUsed;
    const { memberships } = await server.request("unjoin");
    const after = (await server.request("mem")).mem.heapUsed;
    out.bytesPerMembership = (before - after) / memberships;
    return out;
  } finally {
    await gen.request("close-all", { timeoutMs: 10000 }, 20000).catch(() => {});
    await Promise.all([gen.stop(), server.stop()]);
  }
}

async function run(options = {}) {
  const P = params(Boolean(options.quick), options.rounds);
  const got = new Map(
    CONTENDERS.map((c) => [
      c.name,
      { one: [], but: [], cpuOne: [], cpuBut: [], heap: [], errors: [] },
    ]),
  );
  for (let r = 0; r < P.rounds; r++) {
    const order = CONTENDERS.map((_, i) => CONTENDERS[(i + r) % CONTENDERS.length]);
    for (const c of order) {
      const g = got.get(c.name);
      try {
        const m = await measureOne(c, P);
        g.one.push(...m.one.samples);
        g.but.push(...m.but.samples);
        g.cpuOne.push(m.one.cpuPerBroadcast);
        g.cpuBut.push(m.but.cpuPerBroadcast);
        g.heap.push(m.bytesPerMembership);
        g.members = { one: m.one.members, but: m.but.members };
      } catch (err) {
        g.errors.push(err.message);
        process.stderr.write(`  rooms: ${c.name} round ${r + 1} failed: ${err.message}\n`);
      }
    }
  }
  const rows = [];
  const summary = {};
  for (const c of CONTENDERS) {
    const g = got.get(c.name);
    if (!g.one.length) {
      rows.push({ contender: c.name, error: g.errors.join("; ") || "no samples" });
      continue;
    }
    const s = (summary[c.name] = {
      oneP50: percentile(g.one, 50),
      oneP99: percentile(g.one, 99),
      butP50: percentile(g.but, 50),
      butP99: percentile(g.but, 99),
      cpuOne: median(g.cpuOne),
      cpuBut: median(g.cpuBut),
      heap: median(g.heap),
    });
    s.throughputBut = g.members.but / (s.cpuBut / 1e6);
    s.throughputOne = g.members.one / (s.cpuOne / 1e6);
  }
  const raw = summary["ws Map<room, Set<ws>> loop"];
  const sio = summary["socket.io rooms"];
  for (const c of CONTENDERS) {
    const s = summary[c.name];
    if (!s) continue;
    rows.push({
      contender: c.name,
      "one room p50 ms": round(s.oneP50),
      "one room p99 ms": round(s.oneP99),
      "one room server CPU µs": round(s.cpuOne),
      "all but one p50 ms": round(s.butP50),
      "all but one p99 ms": round(s.butP99),
      "all but one server CPU µs": round(s.cpuBut),
      "msgs/s per server CPU s": Math.round(s.throughputBut),
      "p50 ÷ ws (one / all-but-one)": raw
        ? `${ratio(s.oneP50 / raw.oneP50)} / ${ratio(s.butP50 / raw.butP50)}`
        : "n/a",
      "throughput ÷ socket.io": sio ? ratio(s.throughputBut / sio.throughputBut) : "n/a",
      "heap B per membership": Math.round(s.heap),
    });
  }
  return rows;
}

const round = (x) => (Number.isFinite(x) ? Number(x.toFixed(x < 10 ? 2 : 1)) : "n/a");
const ratio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "n/a");

module.exports = { run };

if (require.main === module) {
  const args = parseArgs();
  run({ quick: args.quick === "true", rounds: args.rounds ? Number(args.rounds) : undefined }).then(
    (rows) => {
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      const line = (cells) => `| ${cells.join(" | ")} |`;
      process.stdout.write(
        [
          line(keys),
          line(keys.map(() => "---")),
          ...rows.map((r) => line(keys.map((k) => String(r[k] ?? "")))),
        ].join("\n") + "\n",
      );
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
