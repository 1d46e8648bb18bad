// The load-generator process: opens client connections to one contender's server and runs one
// scenario phase per IPC command from bench/run.js. Every loop is bounded by a count and a
// deadline, so a stuck contender turns into an error, never a hung benchmark.
//
//   node bench/load/generator.js --client=ws|sio     (forked by bench/run.js, IPC required)
//
// Commands: echo-start / snapshot / echo-stop (throughput), acks-start / snapshot / acks-stop
// (server requests answered by acks), acks-in-start / snapshot / acks-in-stop (client requests
// answered by the server's acks), connect / broadcast / close-all (fan-out and idle
// memory), handshake (connection rate).
"use strict";

const { setImmediate: nextTurn } = require("node:timers/promises");
const adapters = { ws: require("./ws-adapter"), sio: require("./sio-adapter") };

const clientArg = /--client=(\w+)/.exec(process.argv.slice(2).join(" "));
const adapter = adapters[clientArg ? clientArg[1] : "ws"];
if (!adapter || !process.send) {
  console.error("usage: forked by bench/run.js with --client=ws|sio");
  process.exit(2);
}

const now = () => Number(process.hrtime.bigint()) / 1e6; // milliseconds, monotonic
const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** A JSON text of exactly `size` bytes: what every echo contender receives and returns. */
function echoText(size) {
  const head = '{"seq":1,"pad":"';
  const tail = '"}';
  return head + "x".repeat(Math.max(0, size - head.length - tail.length)) + tail;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Opens `n` connections, at most `concurrency` handshakes at a time, all within `deadlineMs`. */
async function openMany(n, concurrency, openOne, deadlineMs) {
  const conns = new Array(n);
  let next = 0;
  const stopAt = now() + deadlineMs;
  async function worker() {
    while (next < n) {
      if (now() > stopAt) throw new Error(`opened ${next} of ${n} within ${deadlineMs} ms`);
      const i = next++;
      conns[i] = await openOne(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return conns;
}

async function closeAll(conns, deadlineMs) {
  const live = conns.filter(Boolean);
  try {
    await withTimeout(
      Promise.all(live.map((c) => c.close())),
      deadlineMs,
      `closing ${live.length} connections`,
    );
  } catch {
    for (const c of live) c.terminate();
  }
}

// ---------------------------------------------------------------- state of the current phase

let conns = [];
const echo = { received: 0, sent: 0, bad: 0, stopping: false, drained: null };
const fan = { count: 0, bad: 0, expect: 0, size: 0, done: null };

// ---------------------------------------------------------------- echo throughput

async function echoStart({ port, route, conns: n, depth, size, origin, timeoutMs }) {
  const text = echoText(size);
  const payload = adapter.prepare(text);
  Object.assign(echo, { received: 0, sent: 0, bad: 0, stopping: false, drained: null });
  conns = await openMany(
    n,
    50,
    () => {
      const self = {};
      return adapter
        .open(adapter.url(port, route), {
          origin,
          timeoutMs,
          onMessage(data) {
            echo.received++;
            if (data.length !== size) echo.bad++;
            if (!echo.stopping) {
              echo.sent++;
              self.conn.send(payload);
            } else if (echo.received === echo.sent && echo.drained) echo.drained();
          },
        })
        .then((conn) => (self.conn = conn));
    },
    timeoutMs * 4,
  );
  for (const c of conns) {
    for (let i = 0; i < depth; i++) {
      echo.sent++;
      c.send(payload);
    }
  }
  return { opened: conns.length, bytes: Buffer.byteLength(text) };
}

async function echoStop({ timeoutMs }) {
  echo.stopping = true;
  let drained = true;
  if (echo.received !== echo.sent) {
    try {
      await withTimeout(new Promise((r) => (echo.drained = r)), timeoutMs, "echo drain");
    } catch {
      drained = false;
    }
  }
  await closeAll(conns, timeoutMs);
  conns = [];
  return { received: echo.received, sent: echo.sent, bad: echo.bad, drained };
}

// ---------------------------------------------------------------- requests answered by acks

/**
 * Opens `conns` connections to a route whose server keeps `depth` requests of `size` bytes of
 * data in flight on each (`request()` / `emitWithAck()`); every request is answered at once
 * with its own data. Counted in `echo.received`, so `snapshot` measures requests answered.
 */
async function acksStart({ port, route, conns: n, depth, size, origin, timeoutMs }) {
  Object.assign(echo, { received: 0, sent: 0, bad: 0, stopping: false, drained: null });
  const onRequest = (data) => {
    echo.received++;
    if (typeof data !== "string" || data.length !== size) echo.bad++;
  };
  const query = { depth: String(depth), size: String(size) };
  conns = await openMany(
    n,
    50,
    () => adapter.open(adapter.url(port, route), { origin, timeoutMs, onRequest, query }),
    timeoutMs * 4,
  );
  return { opened: conns.length, bytes: size };
}

async function acksStop({ timeoutMs }) {
  await closeAll(conns, timeoutMs);
  conns = [];
  return { received: echo.received, bad: echo.bad };
}

/**
 * The other direction: each of `conns` clients keeps `depth` requests of `size` bytes of data in
 * flight to the server (`request()` by hand on ws, `emitWithAck` on socket.io), which answers
 * each with its own data (`m.ack(m.data)`). Counted in `echo.received`.
 */
async function acksInStart({ port, route, conns: n, depth, size, origin, timeoutMs }) {
  Object.assign(echo, { received: 0, sent: 0, bad: 0, stopping: false, drained: null });
  const payload = "x".repeat(size);
  conns = await openMany(
    n,
    50,
    () => adapter.open(adapter.url(port, route), { origin, timeoutMs }),
    timeoutMs * 4,
  );
  echo.loops = [];
  for (const c of conns) {
    for (let i = 0; i < depth; i++) echo.loops.push(requestLoop(c, payload));
  }
  return { opened: conns.length, bytes: size };
}

async function requestLoop(conn, payload) {
  while (!echo.stopping) {
    const reply = await conn.request(payload);
    echo.received++;
    if (typeof reply !== "string" || reply.length !== payload.length) echo.bad++;
  }
}

async function acksInStop({ timeoutMs }) {
  echo.stopping = true;
  let drained = true;
  try {
    await withTimeout(Promise.all(echo.loops), timeoutMs, "request drain");
  } catch {
    drained = false;
  }
  await closeAll(conns, timeoutMs);
  conns = [];
  return { received: echo.received, bad: echo.bad, drained };
}

// ---------------------------------------------------------------- broadcast fan-out, idle memory

function onBroadcast(data) {
  fan.count++;
  if (data.length !== fan.size) fan.bad++;
  if (fan.count === fan.expect && fan.done) fan.done();
}

async function connect({ port, route, conns: n, size, origin, timeoutMs, concurrency }) {
  fan.size = size;
  const url = adapter.url(port, route);
  const started = now();
  conns = await openMany(
    n,
    concurrency,
    () => adapter.open(url, { origin, timeoutMs, onMessage: onBroadcast }),
    timeoutMs * 10,
  );
  return { opened: conns.length, ms: now() - started };
}

async function broadcast({ times, timeoutMs, budgetMs }) {
  const samples = [];
  const stopAt = now() + budgetMs;
  for (let seq = 1; seq <= times && now() < stopAt; seq++) {
    Object.assign(fan, { count: 0, bad: 0, expect: conns.length });
    const all = new Promise((r) => (fan.done = r));
    const t0 = now();
    conns[0].trigger(seq);
    await withTimeout(all, timeoutMs, `broadcast ${seq} (${fan.count} of ${fan.expect})`);
    samples.push(now() - t0);
    if (fan.bad) throw new Error(`broadcast ${seq}: ${fan.bad} messages of the wrong size`);
    await nextTurn();
  }
  return { samples };
}

async function closeConnections({ timeoutMs }) {
  await closeAll(conns, timeoutMs);
  const n = conns.length;
  conns = [];
  return { closed: n };
}

// ---------------------------------------------------------------- handshake rate

async function handshake({ port, route, origin, durationMs, concurrency, max, timeoutMs }) {
  const url = adapter.url(port, route);
  let count = 0;
  let errors = 0;
  let lastError;
  const t0 = now();
  const stopAt = t0 + durationMs;
  async function worker() {
    while (now() < stopAt && count + errors < max) {
      try {
        const conn = await adapter.open(url, { origin, timeoutMs });
        count++;
        await withTimeout(conn.close(), timeoutMs, "close").catch(() => conn.terminate());
      } catch (err) {
        errors++;
        lastError = err.message;
        if (errors > 10 && errors > count / 100) {
          throw new Error(`handshakes fail: ${lastError}`, { cause: err });
        }
      }
    }
  }
  const c0 = cpuMicros();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = now() - t0;
  return { count, errors, lastError, elapsedMs, cpuMicros: cpuMicros() - c0 };
}

// ---------------------------------------------------------------- IPC

const commands = {
  "echo-start": echoStart,
  "echo-stop": echoStop,
  "acks-start": acksStart,
  "acks-stop": acksStop,
  "acks-in-start": acksInStart,
  "acks-in-stop": acksInStop,
  snapshot: async () => ({ received: echo.received, t: now(), cpuMicros: cpuMicros() }),
  connect,
  broadcast,
  "close-all": closeConnections,
  handshake,
};

process.on("disconnect", () => process.exit(0));
process.on("message", async (msg) => {
  try {
    const body = await commands[msg.cmd](msg.args || {});
    process.send({ type: "reply", id: msg.id, ...body });
  } catch (err) {
    process.send({ type: "reply", id: msg.id, error: err.message });
  }
});
process.send({ type: "ready" });
