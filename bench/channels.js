// Channel micro-benchmark: hand-off of numbers from one producer to one consumer through
// capacity 0, 10 and 1024, and a three-way `select`, each against @repeaterjs/repeater doing
// the same job in the same run (push/next through a FixedBuffer of the same size; `merge` of
// three repeaters for select). The buffered hand-off is also run against Node's `events.on`
// iterator, a leaner baseline with no backpressure.
//
// Usage: `node bench/channels.js [--quick]` prints a Markdown table; `require("./channels").run(
// { quick })` returns the rows `{ name, opsPerSec, baseline, baselineOpsPerSec, ratio }`.
// It benchmarks `../dist` (run `npm run build` first), or the build named by BENCH_DIST.
// Method: one warm-up run of each contender, then rounds that alternate which contender goes
// first; each figure is the median of the rounds. An op is one value handed over.
"use strict";

const path = require("node:path");
const { performance } = require("node:perf_hooks");
const { EventEmitter, on } = require("node:events");
const { Repeater, FixedBuffer } = require("@repeaterjs/repeater");

const dist = process.env.BENCH_DIST
  ? path.resolve(process.env.BENCH_DIST)
  : path.join(__dirname, "..", "dist");
const { Channel, select } = require(dist);

const BASELINE = "@repeaterjs/repeater";

// ---------------------------------------------------------------- contenders

/** One producer awaits `send` for each value; one consumer iterates until close. */
async function channelHandoff(capacity, n) {
  const ch = new Channel(capacity);
  const producer = (async () => {
    for (let i = 0; i < n; i++) await ch.send(i);
    ch.close();
  })();
  let sum = 0;
  for await (const v of ch) sum += v;
  await producer;
  return sum;
}

/** The same through a Repeater: `await push(i)` resolves when buffered (or taken, unbuffered). */
async function repeaterHandoff(capacity, n) {
  const buffer = capacity === 0 ? undefined : new FixedBuffer(capacity);
  const r = new Repeater(async (push, stop) => {
    for (let i = 0; i < n; i++) await push(i);
    stop();
  }, buffer);
  let sum = 0;
  for await (const v of r) sum += v;
  return sum;
}

/** Three producers on three channels of capacity 10; one select loop takes everything. */
async function channelSelect3(n) {
  const chans = { a: new Channel(10), b: new Channel(10), c: new Channel(10) };
  const per = Math.floor(n / 3);
  const producers = Object.values(chans).map(async (ch) => {
    for (let i = 0; i < per; i++) await ch.send(i);
    ch.close();
  });
  let sum = 0;
  for await (const step of select(chans)) sum += step.value;
  await Promise.all(producers);
  return sum;
}

/** The same with three Repeaters merged: `Repeater.merge` is its select loop. */
async function repeaterMerge3(n) {
  const per = Math.floor(n / 3);
  const make = () =>
    new Repeater(async (push, stop) => {
      for (let i = 0; i < per; i++) await push(i);
      stop();
    }, new FixedBuffer(10));
  let sum = 0;
  for await (const v of Repeater.merge([make(), make(), make()])) sum += v;
  return sum;
}

/**
 * Node's `events.on` iterator as a second baseline for the buffered hand-off: `emit` then a
 * microtask hop per value (what `await send()` with room costs), `for await` on the other side.
 * Its queue is unbounded: it has no backpressure, so it does less work than a channel.
 */
async function eventsOnHandoff(n) {
  const emitter = new EventEmitter();
  const producer = (async () => {
    await null; // let the consumer subscribe first
    for (let i = 0; i < n; i++) {
      emitter.emit("value", i);
      await null;
    }
  })();
  let sum = 0;
  let seen = 0;
  for await (const [v] of on(emitter, "value")) {
    sum += v;
    if (++seen === n) break; // return() removes the listener
  }
  await producer;
  return sum;
}

const SCENARIOS = [
  {
    name: "hand-off, capacity 0 (rendezvous)",
    contender: (n) => channelHandoff(0, n),
    baseline: (n) => repeaterHandoff(0, n),
    expected: (n) => (n * (n - 1)) / 2,
  },
  {
    name: "hand-off, capacity 10",
    contender: (n) => channelHandoff(10, n),
    baseline: (n) => repeaterHandoff(10, n),
    expected: (n) => (n * (n - 1)) / 2,
  },
  {
    name: "hand-off, capacity 1024",
    contender: (n) => channelHandoff(1024, n),
    baseline: (n) => repeaterHandoff(1024, n),
    expected: (n) => (n * (n - 1)) / 2,
  },
  {
    name: "hand-off, capacity 1024, vs events.on",
    contender: (n) => channelHandoff(1024, n),
    baseline: (n) => eventsOnHandoff(n),
    baselineName: "node:events on() (unbounded)",
    expected: (n) => (n * (n - 1)) / 2,
  },
  {
    name: "select over 3 channels (capacity 10)",
    contender: (n) => channelSelect3(n),
    baseline: (n) => repeaterMerge3(n),
    expected: (n) => {
      const per = Math.floor(n / 3);
      return (3 * per * (per - 1)) / 2;
    },
    ops: (n) => 3 * Math.floor(n / 3),
  },
];

// ---------------------------------------------------------------- measuring

/**
 * Runs `fn(n)` repeatedly for at least `minMs` and returns values handed over per second;
 * checks every result.
 */
async function measure(fn, n, expected, ops, minMs) {
  let runs = 0;
  const start = performance.now();
  let elapsed;
  do {
    const sum = await fn(n);
    if (sum !== expected) throw new Error(`wrong result ${sum}, expected ${expected}`);
    runs++;
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return (runs * ops) / (elapsed / 1000);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Runs every scenario, alternating contender and baseline round by round.
 * @param {{ quick?: boolean, rounds?: number, n?: number, minMs?: number }} [options]
 * @returns {Promise<Array<{ name: string, opsPerSec: number, baseline: string,
 *   baselineOpsPerSec: number, ratio: number }>>}
 */
async function run(options = {}) {
  const quick = Boolean(options.quick);
  // n values per run; runs repeat for at least minMs per measurement. The baseline moves
  // about 50k values/s here, so a quick run takes about 10 s and a full one under a minute.
  const n = options.n ?? 10_000;
  const minMs = options.minMs ?? (quick ? 150 : 500);
  const rounds = options.rounds ?? (quick ? 5 : 9);
  const rows = [];
  for (const s of SCENARIOS) {
    const expected = s.expected(n);
    const ops = s.ops ? s.ops(n) : n;
    await measure(s.contender, n, expected, ops, minMs / 2); // warm-up: let the JIT settle
    await measure(s.baseline, n, expected, ops, minMs / 2);
    const mine = [];
    const theirs = [];
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        mine.push(await measure(s.contender, n, expected, ops, minMs));
        theirs.push(await measure(s.baseline, n, expected, ops, minMs));
      } else {
        theirs.push(await measure(s.baseline, n, expected, ops, minMs));
        mine.push(await measure(s.contender, n, expected, ops, minMs));
      }
    }
    const opsPerSec = median(mine);
    const baselineOpsPerSec = median(theirs);
    rows.push({
      name: `Channel ${s.name}`,
      opsPerSec: Math.round(opsPerSec),
      baseline: s.baselineName ?? BASELINE,
      baselineOpsPerSec: Math.round(baselineOpsPerSec),
      ratio: Number((opsPerSec / baselineOpsPerSec).toFixed(2)),
    });
  }
  return rows;
}

function table(rows) {
  const fmt = (x) => x.toLocaleString("en-US");
  const lines = [
    "| benchmark | express-sockets ops/s | baseline | baseline ops/s | ratio |",
    "|---|---:|---|---:|---:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${fmt(r.opsPerSec)} | ${r.baseline} | ${fmt(r.baselineOpsPerSec)} | ${r.ratio.toFixed(2)}x |`,
    );
  }
  return lines.join("\n");
}

module.exports = { run, table };

if (require.main === module) {
  const quick = process.argv.includes("--quick");
  const started = performance.now();
  run({ quick }).then(
    (rows) => {
      console.log(table(rows));
      console.log(
        `\nNode ${process.version}, ${quick ? "quick" : "full"} run, ` +
          `median of rounds, ${((performance.now() - started) / 1000).toFixed(1)} s in all.`,
      );
    },
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
