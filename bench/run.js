// The benchmark orchestrator: `npm run bench` (full, ~10 min) or `npm run bench -- --quick`
// (under a minute). For every scenario it runs every contender in the same run, alternating
// their order round by round; each measurement gets a fresh server process and a fresh
// load-generator process on loopback, so nothing carries over between contenders. It prints a
// Markdown table with each contender's ratio to raw ws and, for full runs, writes
// bench/results/latest.json and bench/results/latest.md.
//
// Options: --quick, --rounds=N, --only=ws,socket.io (contender names), --scenarios=echo,acks,
// fanout,handshake,sections, --out=<path prefix> (default bench/results/latest for full runs, none
// for --quick), --profile[=dir] (servers run with --cpu-prof, profiles written to dir, default
// $TMPDIR/express-sockets-profiles).
// --render=<report.json> rebuilds the Markdown of a recorded run.
// --compare=<dist dir>[,...] adds the express-sockets contenders built from those directories.
// Environment: BENCH_DIST=<dir> benchmarks that build of express-sockets instead of dist/, and
// BENCH_DIST_LABEL=<text> names it in the report.
"use strict";

const { fork, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { setTimeout: sleep } = require("node:timers/promises");

const root = path.resolve(__dirname, "..");
const args = require("./servers/common").parseArgs();
const { start, TIMEOUT_MS } = require("./child");
const quick = args.quick === "true";

// ---------------------------------------------------------------- parameters

const P = quick
  ? {
      rounds: 1,
      echo: { conns: 100, depth: 8, warmMs: 150, measureMs: 400 },
      acks: { conns: 100, depth: 8, warmMs: 300, measureMs: 400 },
      fanout: { conns: 500, times: 5, warmConns: 20, concurrency: 100 },
      handshake: { warmMs: 100, durationMs: 300, concurrency: 16, max: 20000 },
      sectionTimeoutMs: 20000,
    }
  : {
      rounds: 5,
      echo: { conns: 100, depth: 8, warmMs: 500, measureMs: 2000 },
      acks: { conns: 100, depth: 8, warmMs: 1000, measureMs: 2000 },
      // 5,000 connections take seconds to open on a busy 2-core machine: fewer, longer rounds.
      fanout: { rounds: 3, conns: 5000, times: 50, warmConns: 20, concurrency: 100 },
      handshake: { warmMs: 300, durationMs: 2000, concurrency: 16, max: 50000 },
      sectionTimeoutMs: 180000,
    };
if (args.rounds) P.rounds = P.fanout.rounds = Number(args.rounds);
const ECHO_SIZES = [64, 16384];
const BCAST_SIZE = 64;

const distEntry = process.env.BENCH_DIST
  ? require.resolve(path.resolve(process.env.BENCH_DIST))
  : path.join(root, "dist", "index.js");

/** Every contender; `available()` says whether it can run in this checkout. */
const CONTENDERS = [
  {
    name: "ws",
    server: "ws.js",
    client: "ws",
    heldRoute: true,
    note: "raw ws on the Express app's http server: path check in the upgrade listener, Origin via verifyClient; echo returns the received Buffer; broadcast is a naive send loop",
  },
  {
    name: "ws (text)",
    server: "ws.js",
    serverArgs: ["--echo=text"],
    client: "ws",
    echoOnly: true,
    fullOnly: true,
    note: "the floor of `sockets.messages()` in the echo scenarios, not a library: raw ws that turns each message into a string and sends the string back (`ws.send(data.toString())`)",
  },
  {
    name: "ws (JSON)",
    server: "ws.js",
    serverArgs: ["--echo=json"],
    client: "ws",
    echoOnly: true,
    fullOnly: true,
    note: "the floor of `sockets.json()` in the echo scenarios, not a library: raw ws that parses each message and sends it back re-serialised (`ws.send(JSON.stringify(JSON.parse(data.toString())))`)",
  },
  {
    name: "express-sockets messages",
    family: "express-sockets",
    server: "express-sockets.js",
    serverArgs: ["--mode=messages"],
    client: "ws",
    heldRoute: true,
    note: "sockets.messages(): routed through Express before the handshake, default allowedOrigin; echo is `for await (m of receiver) await sender.send(m)`; broadcast via broadcast() when exported",
    available: bindingAvailable,
  },
  {
    name: "express-sockets json",
    family: "express-sockets",
    server: "express-sockets.js",
    serverArgs: ["--mode=json"],
    client: "ws",
    heldRoute: true,
    note: "sockets.json(): every message parsed and re-serialised",
    available: bindingAvailable,
  },
  {
    name: "express-sockets bytes",
    family: "express-sockets",
    server: "express-sockets.js",
    serverArgs: ["--mode=bytes"],
    client: "ws",
    echoOnly: true,
    fullOnly: true,
    note: "sockets.bytes() in the echo scenarios: the binding with no text conversion (the receiver yields the frame's Buffer and the sender writes it back)",
    available: bindingAvailable,
  },
  {
    name: "ws + Express routing",
    server: "ws-routed.js",
    client: "ws",
    fullOnly: true,
    note: "the floor of this design, not a library: upgrades run through Express before the handshake, a route middleware checks the Origin and calls ws's handleUpgrade, and the async route handler stays pending for the connection's life (so Express's req/res/next stay alive, as with express-sockets); no channels, timers, backpressure or logging",
  },
  {
    name: "express-ws",
    server: "express-ws.js",
    client: "ws",
    note: "app.ws(): handshake before Express routing; Origin via wsOptions.verifyClient (it has no check of its own)",
  },
  {
    name: "socket.io",
    server: "socket.io.js",
    client: "sio",
    note: "websocket transport only, socket.io-client; Origin via allowRequest; broadcast is namespace emit()",
  },
];

/**
 * The contenders of the "acks" scenario (server requests answered by the client's acks), with
 * their own notes: raw ws (by hand, the floor), sockets.events and socket.io's emitWithAck.
 */
const ACK_CONTENDERS = [
  {
    name: "ws",
    server: "ws.js",
    client: "ws",
    note: "acks scenario: requests written by hand on raw ws, the floor: {event, data, ack} out, answers matched by id in a Map, no timeouts and no validation",
  },
  {
    name: "express-sockets events",
    family: "express-sockets",
    server: "express-sockets.js",
    serverArgs: ["--mode=json"],
    client: "ws",
    note: 'acks scenario: sockets.events(); each connection runs `await socket.request("echo", payload)` loops (default 10 s timeout, bounded pending map); the ws client parses each request and answers {ack, data}',
    available: () => bindingAvailable() && typeof require(distEntry).sockets.events === "function",
  },
  {
    name: "socket.io",
    server: "socket.io.js",
    client: "sio",
    note: 'acks scenario: `await socket.timeout(10000).emitWithAck("echo", payload)` loops, answered by socket.io-client\'s ack callback',
  },
];
const ACK_SIZE = 64;

function bindingAvailable() {
  if (!fs.existsSync(path.join(__dirname, "servers", "express-sockets.js"))) return false;
  try {
    const lib = require(distEntry);
    return typeof lib.attach === "function" && typeof lib.sockets === "object";
  } catch {
    return false;
  }
}

/** One server and one load generator for `contender`; `body` runs the scenario with them. */
async function session(contender, body) {
  const execArgv = ["--expose-gc"];
  if (args.profile) {
    const dir =
      args.profile === "true"
        ? path.join(os.tmpdir(), "express-sockets-profiles")
        : path.resolve(args.profile);
    fs.mkdirSync(dir, { recursive: true });
    execArgv.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
  }
  const server = start(
    path.join(__dirname, "servers", contender.server),
    [...(contender.serverArgs || []), `--bcast-size=${BCAST_SIZE}`],
    { execArgv, label: `${contender.name} server`, env: contender.env },
  );
  const gen = start(
    path.join(__dirname, "load", "generator.js"),
    [`--client=${contender.client}`],
    {
      label: `${contender.name} load`,
    },
  );
  try {
    const [{ port }] = await withDeadline(Promise.all([server.ready, gen.ready]), TIMEOUT_MS);
    return await body({ server, gen, port, origin: `http://127.0.0.1:${port}` });
  } finally {
    await Promise.all([gen.stop(), server.stop()]);
  }
}

function withDeadline(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------- scenarios

async function echoRound(contender, size) {
  const o = P.echo;
  return session(contender, async ({ server, gen, port, origin }) => {
    const started = await gen.request(
      "echo-start",
      { port, route: "/echo", conns: o.conns, depth: o.depth, size, origin, timeoutMs: 5000 },
      30000,
    );
    await sleep(o.warmMs);
    const [g0, s0] = await Promise.all([gen.request("snapshot"), server.request("cpu")]);
    await sleep(o.measureMs);
    const [g1, s1] = await Promise.all([gen.request("snapshot"), server.request("cpu")]);
    const stopped = await gen.request("echo-stop", { timeoutMs: 5000 }, 20000);
    if (stopped.bad) throw new Error(`${stopped.bad} echoes of the wrong size`);
    const messages = g1.received - g0.received;
    const ms = g1.t - g0.t;
    return {
      msgsPerSec: (messages / ms) * 1000,
      serverCpuMicrosPerMsg: (s1.cpuMicros - s0.cpuMicros) / messages,
      serverCpu: (s1.cpuMicros - s0.cpuMicros) / (ms * 1000),
      loadCpu: (g1.cpuMicros - g0.cpuMicros) / (ms * 1000),
      connections: started.opened,
      bytes: started.bytes,
      drained: stopped.drained,
    };
  });
}

/**
 * Server requests answered by acks: `conns` clients, the server keeping `depth` requests of
 * ACK_SIZE bytes in flight on each; requests answered per second, and server CPU per request.
 */
async function acksRound(contender, direction) {
  const o = P.acks;
  const [start, stop, route] =
    direction === "in"
      ? ["acks-in-start", "acks-in-stop", "/acks-in"]
      : ["acks-start", "acks-stop", "/acks"];
  return session(contender, async ({ server, gen, port, origin }) => {
    const started = await gen.request(
      start,
      {
        port,
        route,
        conns: o.conns,
        depth: o.depth,
        size: ACK_SIZE,
        origin,
        timeoutMs: 5000,
      },
      30000,
    );
    await sleep(o.warmMs);
    const [g0, s0] = await Promise.all([gen.request("snapshot"), server.request("cpu")]);
    await sleep(o.measureMs);
    const [g1, s1] = await Promise.all([gen.request("snapshot"), server.request("cpu")]);
    const stopped = await gen.request(stop, { timeoutMs: 5000 }, 20000);
    if (stopped.bad) throw new Error(`${stopped.bad} requests with the wrong data`);
    const answered = g1.received - g0.received;
    if (answered === 0) throw new Error("no request was answered");
    const ms = g1.t - g0.t;
    return {
      msgsPerSec: (answered / ms) * 1000,
      serverCpuMicrosPerMsg: (s1.cpuMicros - s0.cpuMicros) / answered,
      serverCpu: (s1.cpuMicros - s0.cpuMicros) / (ms * 1000),
      loadCpu: (g1.cpuMicros - g0.cpuMicros) / (ms * 1000),
      connections: started.opened,
    };
  });
}

async function fanoutRound(contender) {
  const o = P.fanout;
  return session(contender, async ({ server, gen, port, origin }) => {
    const common = { port, route: "/bcast", size: BCAST_SIZE, origin, timeoutMs: 5000 };
    // Warm the code paths (lazy requires, JIT) so the baseline below is not charged to them.
    await gen.request("connect", { ...common, conns: o.warmConns, concurrency: 10 }, 30000);
    await gen.request("broadcast", { times: 5, timeoutMs: 5000, budgetMs: 5000 }, 10000);
    await gen.request("close-all", { timeoutMs: 5000 }, 10000);
    await waitForConnections(server, 0);
    const before = await server.request("mem");
    const connected = await gen.request(
      "connect",
      { ...common, conns: o.conns, concurrency: o.concurrency },
      120000,
    );
    await waitForConnections(server, o.conns);
    await sleep(200);
    const after = await server.request("mem");
    // The server's own CPU per broadcast (receiving the trigger, framing, one write per client):
    // the time until the last client has it also counts the clients' library, in one process.
    const cpuBefore = await server.request("cpu");
    const { samples } = await gen.request(
      "broadcast",
      { times: o.times, timeoutMs: 10000, budgetMs: 60000 },
      90000,
    );
    const cpuAfter = await server.request("cpu");
    await gen.request("close-all", { timeoutMs: 10000 }, 30000);
    const per = (k) => (after.mem[k] - before.mem[k]) / o.conns;
    return {
      samples,
      serverCpuMsPerBroadcast:
        samples.length > 0
          ? (cpuAfter.cpuMicros - cpuBefore.cpuMicros) / 1000 / samples.length
          : NaN,
      connectMs: connected.ms,
      rssPerConn: per("rss"),
      heapPerConn: per("heapUsed"),
      externalPerConn: per("external"),
      rssBefore: before.mem.rss,
      rssAfter: after.mem.rss,
      serverConnections: after.connections,
    };
  });
}

/**
 * Memory per connection held in a registry with nothing reading it (route /held): what the
 * library itself costs per open connection, without the reader (a listener, an event handler, a
 * parked loop) that the broadcast route gives each one. Only for contenders with that route.
 */
async function heldRound(contender) {
  const o = P.fanout;
  return session(contender, async ({ server, gen, port, origin }) => {
    const route = { port, route: "/held", origin, timeoutMs: 5000 };
    await gen.request("connect", { ...route, conns: o.warmConns, concurrency: 10 }, 30000);
    await gen.request("close-all", { timeoutMs: 5000 }, 10000);
    await waitForConnections(server, 0);
    const before = await server.request("mem");
    await gen.request("connect", { ...route, conns: o.conns, concurrency: o.concurrency }, 120000);
    await waitForConnections(server, o.conns);
    await sleep(200);
    const after = await server.request("mem");
    await gen.request("close-all", { timeoutMs: 10000 }, 30000);
    const per = (k) => (after.mem[k] - before.mem[k]) / o.conns;
    return { rssPerConn: per("rss"), heapPerConn: per("heapUsed") };
  });
}

/** Waits (bounded) until the server reports `n` open connections. */
async function waitForConnections(server, n) {
  const stopAt = Date.now() + 10000;
  for (;;) {
    const { connections } = await server.request("connections");
    if (connections === n) return;
    if (Date.now() > stopAt) throw new Error(`server holds ${connections} connections, want ${n}`);
    await sleep(20);
  }
}

async function handshakeRound(contender) {
  const o = P.handshake;
  return session(contender, async ({ server, gen, port, origin }) => {
    const common = { port, route: "/echo", origin, concurrency: o.concurrency, timeoutMs: 5000 };
    await gen.request("handshake", { ...common, durationMs: o.warmMs, max: o.max }, 30000);
    const s0 = await server.request("cpu");
    const r = await gen.request(
      "handshake",
      { ...common, durationMs: o.durationMs, max: o.max },
      60000,
    );
    const s1 = await server.request("cpu");
    return {
      perSec: (r.count / r.elapsedMs) * 1000,
      count: r.count,
      errors: r.errors,
      serverCpuMicrosPerConn: (s1.cpuMicros - s0.cpuMicros) / r.count,
      loadCpu: r.cpuMicros / (r.elapsedMs * 1000),
    };
  });
}

/** Runs `round(contender)` for every contender, rounds times, rotating the order each round. */
async function alternate(title, contenders, round, rounds = P.rounds) {
  const results = new Map(contenders.map((c) => [c.name, { rounds: [], errors: [] }]));
  for (let r = 0; r < rounds; r++) {
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
    for (const c of order) {
      const t0 = Date.now();
      try {
        results.get(c.name).rounds.push(await round(c));
        log(`  ${title} round ${r + 1}/${rounds} ${c.name}: ${Date.now() - t0} ms`);
      } catch (err) {
        results.get(c.name).errors.push(err.message);
        log(`  ${title} round ${r + 1}/${rounds} ${c.name}: FAILED ${err.message}`);
      }
    }
  }
  return results;
}

async function runSection(name) {
  const file = path.join(__dirname, `${name}.js`);
  if (!fs.existsSync(file)) return { skipped: `bench/${name}.js is not there` };
  const child = fork(
    path.join(__dirname, "load", "section.js"),
    [file, ...(quick ? ["--quick"] : [])],
    {
      cwd: root,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    },
  );
  try {
    const msg = await withDeadline(
      new Promise((resolve, reject) => {
        child.on("message", (m) => m.type === "rows" && resolve(m));
        child.on("exit", (code) => reject(new Error(`exited with ${code} before sending rows`)));
      }),
      P.sectionTimeoutMs,
    );
    return msg.error ? { error: msg.error } : { rows: msg.rows };
  } catch (err) {
    return { error: err.message };
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

// ---------------------------------------------------------------- statistics

function median(xs) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile. */
function percentile(xs, p) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

// ---------------------------------------------------------------- report

const fmt = {
  int: (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a"),
  ms: (x) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : "n/a"),
  kib: (x) => (Number.isFinite(x) ? (x / 1024).toFixed(1) : "n/a"),
  ratio: (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "n/a"),
  us: (x) => (Number.isFinite(x) ? x.toFixed(1) : "n/a"),
  pct: (x) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : "n/a"),
};

/**
 * Builds one Markdown table. `metrics` are { key, label, format, better: "higher"|"lower",
 * ratio: true }; each ratio column is the contender's value over raw ws's.
 */
function table(summary, metrics) {
  const head = ["contender"];
  for (const m of metrics) {
    head.push(m.label);
    if (m.ratio) head.push(`÷ ws (${m.better} is better)`);
  }
  const rows = [head, head.map(() => "---")];
  const ws = summary.ws || {};
  for (const [name, s] of Object.entries(summary)) {
    const row = [name];
    for (const m of metrics) {
      row.push(s.error ? "failed" : m.format(s[m.key]));
      if (m.ratio) row.push(s.error ? "" : fmt.ratio(s[m.key] / ws[m.key]));
    }
    rows.push(row);
  }
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

function summarise(results, fields) {
  const out = {};
  for (const [name, { rounds, errors }] of results) {
    if (!rounds.length) {
      out[name] = { error: errors.join("; ") || "no rounds" };
      continue;
    }
    out[name] = fields(rounds);
    out[name].rounds = rounds.length;
    if (errors.length) out[name].errors = errors;
  }
  return out;
}

/** What a target compares: value ÷ reference, checked against `limit` in the right direction. */
function check(label, value, reference, better, limit) {
  const ratio = value / reference;
  const pass = better === "higher" ? ratio >= limit : ratio <= limit;
  return { target: label, ratio, limit, pass: Number.isFinite(ratio) ? pass : null };
}

// Each target: [label, scenario, field, reference contender, better, limit]. The "server CPU"
// rows compare the server process's own CPU per operation: the end-to-end rates also count the
// load generator, which shares the machine and, for socket.io, runs socket.io's own client.
const SIO_TARGETS = [
  ["echo64 ≥ 2 × socket.io", "echo64", "msgsPerSec", "socket.io", "higher", 2],
  [
    "echo64 server CPU ≤ 0.5 × socket.io",
    "echo64",
    "serverCpuMicrosPerMsg",
    "socket.io",
    "lower",
    0.5,
  ],
  ["echo16k ≥ 2 × socket.io", "echo16k", "msgsPerSec", "socket.io", "higher", 2],
  [
    "echo16k server CPU ≤ 0.5 × socket.io",
    "echo16k",
    "serverCpuMicrosPerMsg",
    "socket.io",
    "lower",
    0.5,
  ],
  ["fan-out p50 ≤ 0.5 × socket.io", "fanout", "p50", "socket.io", "lower", 0.5],
  [
    "fan-out server CPU ≤ 0.5 × socket.io",
    "fanout",
    "serverCpuMsPerBroadcast",
    "socket.io",
    "lower",
    0.5,
  ],
  ["RSS/conn ≤ 0.5 × socket.io", "fanout", "rssPerConn", "socket.io", "lower", 0.5],
  ["handshakes ≥ 2 × socket.io", "handshake", "perSec", "socket.io", "higher", 2],
  [
    "handshake server CPU ≤ 0.5 × socket.io",
    "handshake",
    "serverCpuMicrosPerConn",
    "socket.io",
    "lower",
    0.5,
  ],
];
const ECHO_TARGETS = (sc, floor) => [
  [`${sc} ≥ 0.9 × ws`, sc, "msgsPerSec", "ws", "higher", 0.9],
  ...(floor !== "ws"
    ? [[`${sc} ≥ 0.9 × ${floor} (its floor)`, sc, "msgsPerSec", floor, "higher", 0.9]]
    : []),
  ...SIO_TARGETS.filter((t) => t[1] === sc),
];
const WS_TARGETS = [
  ["fan-out p50 ≤ 1 × ws", "fanout", "p50", "ws", "lower", 1],
  ["fan-out p99 ≤ 1 × ws", "fanout", "p99", "ws", "lower", 1],
  ["RSS/conn ≤ 1.3 × ws", "fanout", "rssPerConn", "ws", "lower", 1.3],
  ["heap/conn ≤ 1.3 × ws", "fanout", "heapPerConn", "ws", "lower", 1.3],
  ["held without a reader: heap/conn ≤ 1.3 × ws", "held", "heapPerConn", "ws", "lower", 1.3],
  ["handshakes ≥ 0.8 × ws", "handshake", "perSec", "ws", "higher", 0.8],
];
/** sockets.events' request() against socket.io's emitWithAck (issue 14). */
const ACK_TARGETS = (sc) => [
  [`${sc} ≥ 2 × socket.io`, sc, "msgsPerSec", "socket.io", "higher", 2],
  [`${sc} server CPU ≤ 0.5 × socket.io`, sc, "serverCpuMicrosPerMsg", "socket.io", "lower", 0.5],
  [`${sc} ≥ 0.5 × ws by hand (its floor)`, sc, "msgsPerSec", "ws", "higher", 0.5],
];
/** Raw ws against socket.io's targets: what the physical limit of this stack reaches. */
const LIMIT = "ws (the limit, for reference)";

function targets(summaries) {
  // The floor of each mode in the echo scenarios: raw ws doing the decoding that mode's types
  // require (a string; a parsed value), so the ratio shows what the binding itself costs.
  const floors = {
    "express-sockets messages": "ws (text)",
    "express-sockets json": "ws (JSON)",
    "express-sockets bytes": "ws",
  };
  const value = (sc, k, c) => (summaries[sc] && summaries[sc][c] ? summaries[sc][c][k] : NaN);
  const rows = (who, name, list) =>
    list.map(([label, sc, k, ref, better, limit]) => ({
      who,
      ...check(label, value(sc, k, name), value(sc, k, ref), better, limit),
    }));
  const out = [];
  for (const who of Object.keys(floors)) {
    if (!summaries.echo64 || !summaries.echo64[who]) continue;
    const other = SIO_TARGETS.filter((t) => !t[1].startsWith("echo"));
    out.push(
      ...rows(who, who, [
        ...ECHO_TARGETS("echo64", floors[who]),
        ...ECHO_TARGETS("echo16k", floors[who]),
        ...WS_TARGETS,
        ...other,
      ]),
    );
  }
  out.push(...rows(LIMIT, "ws", SIO_TARGETS));
  const events = "express-sockets events";
  if (summaries.acks64) out.push(...rows(events, events, ACK_TARGETS("acks64")));
  if (summaries.acksIn64) out.push(...rows(events, events, ACK_TARGETS("acksIn64")));
  return out;
}

function rowsTable(rows) {
  if (!Array.isArray(rows) || !rows.length) return "(no rows)";
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v) =>
    typeof v === "number" ? (Number.isInteger(v) ? fmt.int(v) : v.toFixed(2)) : String(v ?? "");
  return [keys, keys.map(() => "---"), ...rows.map((r) => keys.map((k) => cell(r[k])))]
    .map((r) => `| ${r.join(" | ")} |`)
    .join("\n");
}

function markdown(report) {
  const m = report.machine;
  const s = report.scenarios;
  const out = [];
  out.push(`# express-sockets benchmarks${report.quick ? " (quick run)" : ""}`);
  out.push("");
  out.push(
    `${report.date} · ${m.cpu} · ${m.cores} cores · ${m.memoryGiB} GiB · Node ${m.node} · ${m.os} · ws ${m.versions.ws} · express ${m.versions.express} · express-ws ${m.versions["express-ws"]} · socket.io ${m.versions["socket.io"]} · commit ${m.commit} · express-sockets from ${m.binding}`,
  );
  out.push("");
  out.push(
    `Server and load generator are separate processes on loopback; each figure is the median of ${report.parameters.rounds} rounds (fan-out and memory: ${report.parameters.fanout.rounds ?? report.parameters.rounds}), contenders alternating (order rotated every round), a fresh server process per measurement. Ratios are value ÷ raw ws from this run.`,
  );
  const la = (xs) => xs.map((x) => x.toFixed(2)).join(" ");
  out.push(
    "",
    `Load average (1/5/15 min) at start: ${la(m.loadavg.start)}, at end: ${la(m.loadavg.end)} (on ${m.cores} cores; anything above what this benchmark itself uses, about 2, is other work on the machine and makes rates noisy).`,
  );
  for (const [key, title, extra] of [
    ["echo64", "Echo throughput, 64-byte messages", ""],
    ["echo16k", "Echo throughput, 16 KiB messages", ""],
  ]) {
    if (!s[key]) continue;
    const e = report.parameters.echo;
    out.push("", `## ${title}${extra}`, "");
    out.push(
      `${e.conns} connections, ${e.depth} messages in flight each, ${e.measureMs} ms measured after ${e.warmMs} ms warm-up. Server CPU is the server process's CPU time per echoed message (independent of whether the load generator saturates).`,
      "",
    );
    out.push(
      table(s[key], [
        { key: "msgsPerSec", label: "messages/s", format: fmt.int, better: "higher", ratio: true },
        {
          key: "serverCpuMicrosPerMsg",
          label: "server CPU µs/msg",
          format: fmt.us,
          better: "lower",
          ratio: true,
        },
        { key: "serverCpu", label: "server CPU", format: fmt.pct },
        { key: "loadCpu", label: "load-gen CPU", format: fmt.pct },
      ]),
    );
  }
  const acksText = {
    acks64: [
      "Server requests answered by acks, 64-byte data",
      "the server keeps %D requests in flight on each (`socket.request(event, data)` for express-sockets events, `socket.timeout(10000).emitWithAck(event, data)` for socket.io, by hand for raw ws), %S bytes of data each, answered at once by the client with the same data",
    ],
    acksIn64: [
      "Client requests answered by the server's acks, 64-byte data",
      "each client keeps %D requests in flight (`{event, data, ack}` by hand on the ws client, `emitWithAck` on socket.io-client), %S bytes of data each; the server answers each with its own data (`m.ack(m.data)` after a type guard for express-sockets events, the ack callback for socket.io, by hand for raw ws)",
    ],
  };
  for (const [key, [title, what]] of Object.entries(acksText)) {
    if (!s[key]) continue;
    const a = report.parameters.acks;
    out.push("", `## ${title}`, "");
    out.push(
      `${a.conns} connections; ${what.replace("%D", a.depth).replace("%S", ACK_SIZE)}; requests answered per second, ${a.measureMs} ms measured after ${a.warmMs} ms warm-up. Server CPU is the server process's CPU time per answered request.`,
      "",
    );
    out.push(
      table(s[key], [
        { key: "msgsPerSec", label: "requests/s", format: fmt.int, better: "higher", ratio: true },
        {
          key: "serverCpuMicrosPerMsg",
          label: "server CPU µs/request",
          format: fmt.us,
          better: "lower",
          ratio: true,
        },
        { key: "serverCpu", label: "server CPU", format: fmt.pct },
        { key: "loadCpu", label: "load-gen CPU", format: fmt.pct },
      ]),
    );
  }
  if (s.fanout) {
    const f = report.parameters.fanout;
    out.push("", "## Broadcast fan-out", "");
    out.push(
      `One ${BCAST_SIZE}-byte message to ${f.conns} connected clients, triggered by a message from one of them; time from sending the trigger until the last client has the broadcast. p50/p99 over all broadcasts of all rounds (${f.times} per round). Server CPU is the server process's CPU time per broadcast (median over rounds): what the server spends, whatever the clients' library costs.`,
      "",
    );
    out.push(
      table(s.fanout, [
        { key: "p50", label: "p50 ms", format: fmt.ms, better: "lower", ratio: true },
        { key: "p99", label: "p99 ms", format: fmt.ms, better: "lower", ratio: true },
        {
          key: "serverCpuMsPerBroadcast",
          label: "server CPU ms/broadcast",
          format: fmt.ms,
          better: "lower",
          ratio: true,
        },
        { key: "samples", label: "broadcasts", format: fmt.int },
      ]),
    );
    out.push("", "## Memory per idle connection", "");
    out.push(
      `${f.conns} open idle connections (the broadcast route, before any broadcast); server RSS and V8 heap after a full GC, minus the same after warm-up with no connections, divided by ${f.conns}. Median over rounds.`,
      "",
    );
    out.push(
      table(s.fanout, [
        { key: "rssPerConn", label: "RSS KiB/conn", format: fmt.kib, better: "lower", ratio: true },
        {
          key: "heapPerConn",
          label: "heap KiB/conn",
          format: fmt.kib,
          better: "lower",
          ratio: true,
        },
        { key: "externalPerConn", label: "external KiB/conn", format: fmt.kib },
        { key: "connectMs", label: `ms to open ${f.conns}`, format: fmt.int },
      ]),
    );
    const held = s.held || {};
    if (Object.keys(held).length > 0) {
      out.push("", "### Held without a reader", "");
      out.push(
        `The same measure, in fresh server processes, for ${f.conns} connections to a route that only keeps each connection in a registry until it closes, with nothing reading it: what the library holds per connection, without the per-connection reader of the broadcast route (ws: the server's client set; express-sockets: the registry of open connections that \`attach()\` returns, with a handler that does nothing).`,
        "",
      );
      out.push(
        table(held, [
          {
            key: "rssPerConn",
            label: "RSS KiB/conn",
            format: fmt.kib,
            better: "lower",
            ratio: true,
          },
          {
            key: "heapPerConn",
            label: "heap KiB/conn",
            format: fmt.kib,
            better: "lower",
            ratio: true,
          },
        ]),
      );
    }
  }
  if (s.handshake) {
    const h = report.parameters.handshake;
    out.push("", "## Handshake rate", "");
    out.push(
      `Open a connection to /echo (Express routing where the contender has it, and the Origin check), count it on open, close it, repeat; ${h.concurrency} at a time for ${h.durationMs} ms.`,
      "",
    );
    out.push(
      table(s.handshake, [
        { key: "perSec", label: "connections/s", format: fmt.int, better: "higher", ratio: true },
        {
          key: "serverCpuMicrosPerConn",
          label: "server CPU µs/conn",
          format: fmt.us,
          better: "lower",
          ratio: true,
        },
      ]),
    );
  }
  for (const [name, sec] of Object.entries(report.sections || {})) {
    out.push(
      "",
      `## ${name === "channels" ? "Channel micro-benchmark" : name === "tail" ? "File following (tail)" : name} (bench/${name}.js)`,
      "",
    );
    out.push(sec.rows ? rowsTable(sec.rows) : `Not run: ${sec.skipped || sec.error}`);
  }
  if (report.targets.length) {
    out.push("", "## Targets", "");
    out.push("| contender | target | ratio | result |", "| --- | --- | --- | --- |");
    for (const t of report.targets) {
      out.push(
        `| ${t.who} | ${t.target} | ${fmt.ratio(t.ratio)} | ${t.pass === null ? "n/a" : t.pass ? "met" : "**missed**"} |`,
      );
    }
  }
  const failures = [];
  for (const [sc, sum] of Object.entries(s)) {
    for (const [name, v] of Object.entries(sum)) {
      if (v.error) failures.push(`${sc} / ${name}: ${v.error}`);
      else if (v.errors)
        failures.push(
          `${sc} / ${name}: ${v.errors.length} failed round(s): ${v.errors.join("; ")}`,
        );
    }
  }
  if (failures.length) out.push("", "## Failures", "", ...failures.map((f) => `- ${f}`));
  out.push("", "## Contenders", "");
  for (const c of report.contenders) out.push(`- **${c.name}**: ${c.note}`);
  for (const c of report.skipped) out.push(`- **${c.name}**: not run (${c.why})`);
  return `${out.join("\n")}\n`;
}

function distBuilt() {
  try {
    return fs.statSync(distEntry).mtime.toISOString();
  } catch {
    return "never";
  }
}

function machine() {
  const version = (pkg) => {
    try {
      return JSON.parse(
        fs.readFileSync(path.join(root, "node_modules", pkg, "package.json"), "utf8"),
      ).version;
    } catch {
      return "missing";
    }
  };
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root }).toString().trim();
  } catch {
    // not a git checkout
  }
  return {
    cpu: os.cpus()[0].model,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    versions: {
      ws: version("ws"),
      express: version("express"),
      "express-ws": version("express-ws"),
      "socket.io": version("socket.io"),
      "socket.io-client": version("socket.io-client"),
    },
    commit,
    // BENCH_DIST_LABEL says what a BENCH_DIST build is (e.g. the commit it was built from).
    binding: process.env.BENCH_DIST
      ? process.env.BENCH_DIST_LABEL || `build in ${process.env.BENCH_DIST}`
      : `dist/ built ${distBuilt()}`,
  };
}

function log(line) {
  process.stderr.write(`${line}\n`);
}

// ---------------------------------------------------------------- main

/** Writes a report (markdown, JSON, README table) to the `out` prefix. */
async function save(report, md, out, readme) {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(`${out}.json`, await pretty(`${JSON.stringify(report, null, 2)}\n`, "json"));
  fs.writeFileSync(`${out}.md`, await pretty(md, "markdown"));
  log(`wrote ${path.relative(root, out)}.json and .md`);
  if (readme) await updateReadme(md);
}

async function main() {
  if (args.render) {
    // --render=<report.json>: rebuild the Markdown (and README table) of a recorded run.
    const file = path.resolve(args.render);
    const report = JSON.parse(fs.readFileSync(file, "utf8"));
    const md = markdown(report);
    process.stdout.write(md);
    await save(
      report,
      md,
      file.replace(/\.json$/, ""),
      file === path.join(__dirname, "results", "latest.json"),
    );
    return;
  }
  const t0 = Date.now();
  const loadStart = os.loadavg();
  if (!fs.existsSync(distEntry)) {
    log("dist/ is missing: running npm run build");
    execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
  }
  const only = args.only ? new Set(args.only.split(",")) : null;
  const wanted = new Set((args.scenarios || "echo,acks,fanout,handshake,sections").split(","));
  const contenders = [];
  const skipped = [];
  // --compare=<dir>[,<dir>...]: the express-sockets contenders again, from other builds
  // (prototype fixes), in the same run: before and after side by side.
  for (const dir of args.compare ? args.compare.split(",") : []) {
    for (const mode of ["messages", "json", "bytes"]) {
      CONTENDERS.push({
        name: `express-sockets ${mode} @${path.basename(path.dirname(path.resolve(dir)))}`,
        family: "express-sockets",
        server: "express-sockets.js",
        serverArgs: [`--mode=${mode}`],
        env: { BENCH_DIST: path.resolve(dir) },
        client: "ws",
        echoOnly: mode === "bytes",
        heldRoute: true,
        note: `as express-sockets ${mode}, built from ${dir}`,
      });
    }
  }
  for (const c of CONTENDERS) {
    if (only ? !only.has(c.name) && !only.has(c.family) : quick && c.fullOnly) continue;
    if (c.available && !c.available())
      skipped.push({ name: c.name, why: "the binding is not in dist/ yet" });
    else contenders.push(c);
  }
  log(
    `contenders: ${contenders.map((c) => c.name).join(", ")}; ${P.rounds} rounds${quick ? " (quick)" : ""}`,
  );

  const scenarios = {};
  /** Contenders that only the acks scenario ran, listed with the others in the report. */
  const reported = [];
  if (wanted.has("echo")) {
    for (const size of ECHO_SIZES) {
      const key = size === 64 ? "echo64" : "echo16k";
      const res = await alternate(key, contenders, (c) => echoRound(c, size));
      scenarios[key] = summarise(res, (rs) => ({
        msgsPerSec: median(rs.map((r) => r.msgsPerSec)),
        serverCpuMicrosPerMsg: median(rs.map((r) => r.serverCpuMicrosPerMsg)),
        serverCpu: median(rs.map((r) => r.serverCpu)),
        loadCpu: median(rs.map((r) => r.loadCpu)),
        perRound: rs.map((r) => Math.round(r.msgsPerSec)),
        bytes: rs[0].bytes,
      }));
    }
  }
  if (wanted.has("acks")) {
    const ackContenders = ACK_CONTENDERS.filter((c) => {
      if (only && !only.has(c.name) && !only.has(c.family)) return false;
      if (c.available && !c.available()) {
        skipped.push({ name: c.name, why: "sockets.events is not in dist/ yet" });
        return false;
      }
      return true;
    });
    for (const c of ackContenders) {
      if (!contenders.some((d) => d.name === c.name)) reported.push(c);
    }
    for (const [key, direction] of [
      ["acks64", "out"],
      ["acksIn64", "in"],
    ]) {
      const res = await alternate(key, ackContenders, (c) => acksRound(c, direction));
      scenarios[key] = summarise(res, (rs) => ({
        msgsPerSec: median(rs.map((r) => r.msgsPerSec)),
        serverCpuMicrosPerMsg: median(rs.map((r) => r.serverCpuMicrosPerMsg)),
        serverCpu: median(rs.map((r) => r.serverCpu)),
        loadCpu: median(rs.map((r) => r.loadCpu)),
        perRound: rs.map((r) => Math.round(r.msgsPerSec)),
      }));
    }
  }
  if (wanted.has("fanout")) {
    const res = await alternate(
      "fanout",
      contenders.filter((c) => !c.echoOnly),
      fanoutRound,
      P.fanout.rounds ?? P.rounds,
    );
    scenarios.fanout = summarise(res, (rs) => {
      const all = rs.flatMap((r) => r.samples);
      return {
        p50: percentile(all, 50),
        p99: percentile(all, 99),
        max: Math.max(...all),
        samples: all.length,
        serverCpuMsPerBroadcast: median(rs.map((r) => r.serverCpuMsPerBroadcast)),
        rssPerConn: median(rs.map((r) => r.rssPerConn)),
        heapPerConn: median(rs.map((r) => r.heapPerConn)),
        externalPerConn: median(rs.map((r) => r.externalPerConn)),
        connectMs: median(rs.map((r) => r.connectMs)),
        rssPerConnRounds: rs.map((r) => Math.round(r.rssPerConn)),
      };
    });
  }
  if (wanted.has("fanout")) {
    // Separate server processes: RSS does not shrink back once 5,000 connections have closed.
    const held = contenders.filter((c) => c.heldRoute);
    const res = await alternate("held", held, heldRound, P.fanout.rounds ?? P.rounds);
    scenarios.held = summarise(res, (rs) => ({
      rssPerConn: median(rs.map((r) => r.rssPerConn)),
      heapPerConn: median(rs.map((r) => r.heapPerConn)),
    }));
  }
  if (wanted.has("handshake")) {
    const res = await alternate(
      "handshake",
      contenders.filter((c) => !c.echoOnly),
      handshakeRound,
    );
    scenarios.handshake = summarise(res, (rs) => ({
      perSec: median(rs.map((r) => r.perSec)),
      serverCpuMicrosPerConn: median(rs.map((r) => r.serverCpuMicrosPerConn)),
      loadCpu: median(rs.map((r) => r.loadCpu)),
      perRound: rs.map((r) => Math.round(r.perSec)),
      errors: rs.reduce((n, r) => n + r.errors, 0) || undefined,
    }));
  }
  const sections = {};
  if (wanted.has("sections")) {
    for (const name of ["channels", "tail"]) {
      log(`  section ${name}`);
      sections[name] = await runSection(name);
    }
  }

  const report = {
    date: new Date().toISOString(),
    quick,
    durationSec: Math.round((Date.now() - t0) / 1000),
    machine: machine(),
    parameters: { ...P, echoSizes: ECHO_SIZES, broadcastSize: BCAST_SIZE },
    contenders: [...contenders, ...reported].map(({ name, note }) => ({ name, note })),
    skipped,
    scenarios,
    sections,
  };
  report.targets = targets(scenarios).filter((t) => t.pass !== null);
  report.machine.loadavg = { start: loadStart, end: os.loadavg() };
  report.ratiosToWs = ratios(scenarios);
  const md = markdown(report);
  process.stdout.write(md);
  const out =
    args.out ||
    (quick || only || args.rounds || args.scenarios
      ? null
      : path.join(__dirname, "results", "latest"));
  if (out) {
    await save(report, md, out, !args.out);
  }
  log(`done in ${report.durationSec} s`);
}

/** Formats as the repository's Prettier would (`npm run lint` checks these files too). */
async function pretty(text, parser) {
  try {
    const prettier = require("prettier");
    const config = (await prettier.resolveConfig(path.join(__dirname, "README.md"))) || {};
    return await prettier.format(text, { ...config, parser });
  } catch {
    return text;
  }
}

/** Copies the latest full run's tables into bench/README.md, between its markers. */
async function updateReadme(md) {
  const file = path.join(__dirname, "README.md");
  const text = fs.readFileSync(file, "utf8");
  const start = "<!-- latest:start -->";
  const end = "<!-- latest:end -->";
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return;
  const body = md
    .split("\n")
    .slice(1) // its own title
    .map((line) => (line.startsWith("#") ? `#${line}` : line))
    .join("\n")
    .trim();
  const next = `${text.slice(0, i + start.length)}\n\n${body}\n\n${text.slice(j)}`;
  fs.writeFileSync(file, await pretty(next, "markdown"));
}

/** Each contender's headline figures ÷ raw ws's, per scenario, for the JSON. */
function ratios(scenarios) {
  const keys = {
    echo64: ["msgsPerSec", "serverCpuMicrosPerMsg"],
    echo16k: ["msgsPerSec", "serverCpuMicrosPerMsg"],
    acks64: ["msgsPerSec", "serverCpuMicrosPerMsg"],
    acksIn64: ["msgsPerSec", "serverCpuMicrosPerMsg"],
    fanout: ["p50", "p99", "rssPerConn", "heapPerConn"],
    held: ["rssPerConn", "heapPerConn"],
    handshake: ["perSec", "serverCpuMicrosPerConn"],
  };
  const out = {};
  for (const [sc, sum] of Object.entries(scenarios)) {
    const ws = sum.ws;
    if (!ws || ws.error) continue;
    out[sc] = {};
    for (const [name, v] of Object.entries(sum)) {
      if (v.error) continue;
      out[sc][name] = Object.fromEntries(
        keys[sc].map((k) => [k, Number((v[k] / ws[k]).toFixed(3))]),
      );
    }
  }
  return out;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
