// Property tests: random programs of producers, consumers, select loops that break at random
// points, aborts and closes over two channels of random capacities, interleaved by random
// microtask and macrotask delays. Whatever the interleaving:
// - every value sent successfully is received exactly once, and no failed send is received;
// - each consumer sees each producer's values in the order they were sent;
// - once a consumer has seen a channel closed and drained, no operation started later gets a
//   value from it;
// - no promise is left pending at the end.

import fc from "fast-check";
import { Channel, ChannelClosedError, select } from "../lib";

type Key = "a" | "b";

/** A pause before an operation: some microtask hops, or a macrotask turn. */
const delayArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: fc.constant(-1) }, // -1: one setImmediate turn
);

const sendOpArb = fc.record({
  delay: delayArb,
  kind: fc.constantFrom("send", "send", "trySend", "abortableSend"),
  abortAfter: fc.integer({ min: 0, max: 4 }),
});

const producerArb = fc.record({
  channel: fc.constantFrom<Key>("a", "b"),
  // await: each send awaited before the next; pump: trySend + whenWritable (the socket
  // binding's pattern); burst: sends started without waiting for the earlier ones
  mode: fc.constantFrom("await", "pump", "burst"),
  ops: fc.array(sendOpArb, { maxLength: 8 }),
});

const consumerArb = fc.oneof(
  fc.record({
    kind: fc.constant("recv" as const),
    channel: fc.constantFrom<Key>("a", "b"),
    ops: fc.array(
      fc.record({
        delay: delayArb,
        abortAfter: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
        tryOnly: fc.boolean(),
      }),
      { maxLength: 12 },
    ),
  }),
  fc.record({
    kind: fc.constant("select" as const),
    breakAfter: fc.integer({ min: 0, max: 12 }),
    abortAfter: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    delay: delayArb,
    rounds: fc.integer({ min: 1, max: 3 }), // start a new select loop after leaving one
    // leave with return() while the last step may still be pending, after this many hops
    interruptAfter: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant("iterate" as const),
    channel: fc.constantFrom<Key>("a", "b"),
    breakAfter: fc.integer({ min: 0, max: 12 }),
    delay: delayArb,
  }),
);

const programArb = fc.record({
  capacity: fc.record({
    a: fc.constantFrom(0, 1, 2, 3, 8),
    b: fc.constantFrom(0, 1, 2, 3, 8),
  }),
  producers: fc.array(producerArb, { minLength: 1, maxLength: 3 }),
  consumers: fc.array(consumerArb, { minLength: 1, maxLength: 3 }),
  closeAfter: fc.record({
    a: fc.integer({ min: 0, max: 40 }),
    b: fc.integer({ min: 0, max: 40 }),
  }),
});

type Program = typeof programArb extends fc.Arbitrary<infer P> ? P : never;

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function pause(delay: number): Promise<void> {
  if (delay < 0) return macrotask();
  for (let i = 0; i < delay; i++) await null;
}

interface Value {
  producer: number;
  seq: number;
}

async function run(program: Program): Promise<void> {
  const channels: Record<Key, Channel<Value>> = {
    a: new Channel<Value>(program.capacity.a),
    b: new Channel<Value>(program.capacity.b),
  };
  const sentOk = new Set<string>();
  const sendFailed = new Set<string>();
  const received = new Map<string, number>();
  const problems: string[] = [];
  // Operation clock: an op that starts after a channel was seen drained must not get a value.
  let clock = 0;
  const drainedAt: Record<Key, number> = { a: Infinity, b: Infinity };
  let pending = 0;

  /** Counts a promise as pending until it settles. */
  function tracked<T>(promise: Promise<T>): Promise<T> {
    pending++;
    return promise.finally(() => pending--);
  }

  const id = (v: Value): string => `${v.producer}:${v.seq}`;

  /** Records a receive; `perConsumer` tracks the last seq seen from each producer. */
  function got(key: Key, v: Value, startedAt: number, perConsumer: Map<number, number>): void {
    const k = id(v);
    received.set(k, (received.get(k) ?? 0) + 1);
    if (startedAt > drainedAt[key]) problems.push(`${k} received from ${key} after drain`);
    const last = perConsumer.get(v.producer) ?? -1;
    if (v.seq <= last) problems.push(`producer ${v.producer} out of order: ${v.seq} after ${last}`);
    perConsumer.set(v.producer, v.seq);
  }

  function sawDone(key: Key): void {
    if (!channels[key].closed) problems.push(`done on open channel ${key}`);
    drainedAt[key] = Math.min(drainedAt[key], clock++);
  }

  const abortLater = (ac: AbortController, after: number): Promise<void> =>
    tracked(
      (async () => {
        await pause(after);
        ac.abort(new Error("aborted by test"));
      })(),
    );

  const producers = program.producers.map((p, producer) =>
    tracked(
      (async () => {
        const ch = channels[p.channel];
        const bursts: Promise<void>[] = [];
        for (let seq = 0; seq < p.ops.length; seq++) {
          const op = p.ops[seq];
          const v: Value = { producer, seq };
          await pause(op.delay);
          if (p.mode === "pump") {
            // The socket binding's pattern: trySend, and wait for room without polling.
            let sent = ch.trySend(v);
            while (!sent && !ch.closed) {
              try {
                await tracked(ch.whenWritable());
              } catch (error) {
                if (!(error instanceof ChannelClosedError)) problems.push(`whenWritable: ${error}`);
              }
              sent = ch.trySend(v);
            }
            (sent ? sentOk : sendFailed).add(id(v));
            continue;
          }
          if (op.kind === "trySend") {
            (ch.trySend(v) ? sentOk : sendFailed).add(id(v));
            continue;
          }
          const ac = op.kind === "abortableSend" ? new AbortController() : undefined;
          if (ac !== undefined) void abortLater(ac, op.abortAfter);
          const sending = tracked(ch.send(v, { signal: ac?.signal })).then(
            () => void sentOk.add(id(v)),
            (error: unknown) => {
              sendFailed.add(id(v));
              const expected =
                error instanceof ChannelClosedError ||
                (error instanceof Error && error.message === "aborted by test");
              if (!expected) problems.push(`send rejected with ${String(error)}`);
            },
          );
          if (p.mode === "burst") bursts.push(sending);
          else await sending;
        }
        await Promise.all(bursts);
      })(),
    ),
  );

  const consumers = program.consumers.map((c) =>
    tracked(
      (async () => {
        const perConsumer = new Map<number, number>();
        if (c.kind === "recv") {
          const ch = channels[c.channel];
          for (const op of c.ops) {
            await pause(op.delay);
            const startedAt = clock++;
            if (op.tryOnly) {
              const r = ch.tryRecv();
              if (r === undefined) continue;
              if (r.done) sawDone(c.channel);
              else got(c.channel, r.value, startedAt, perConsumer);
              continue;
            }
            const ac = op.abortAfter === undefined ? undefined : new AbortController();
            if (ac !== undefined) void abortLater(ac, op.abortAfter as number);
            try {
              const r = await tracked(ch.recv({ signal: ac?.signal }));
              if (r.done) {
                sawDone(c.channel);
                return;
              }
              got(c.channel, r.value, startedAt, perConsumer);
            } catch (error) {
              if (!(error instanceof Error && error.message === "aborted by test")) {
                problems.push(`recv rejected with ${String(error)}`);
              }
            }
          }
        } else if (c.kind === "iterate") {
          await pause(c.delay);
          let n = 0;
          let startedAt = clock++;
          for await (const v of channels[c.channel]) {
            got(c.channel, v, startedAt, perConsumer);
            if (++n > c.breakAfter) return;
            startedAt = clock++;
          }
          sawDone(c.channel);
        } else {
          for (let round = 0; round < c.rounds; round++) {
            await pause(c.delay);
            const ac = c.abortAfter === undefined ? undefined : new AbortController();
            if (ac !== undefined) void abortLater(ac, c.abortAfter as number);
            const loop = select(channels, { signal: ac?.signal });
            let n = 0;
            let startedAt = clock++;
            try {
              let step = await tracked(loop.next());
              while (!step.done) {
                got(step.value.from, step.value.value, startedAt, perConsumer);
                if (++n > c.breakAfter) break;
                startedAt = clock++;
                if (c.interruptAfter !== undefined && n === c.breakAfter) {
                  // Leave while the step may be pending: it must settle, and a value it
                  // already took is delivered to it, not lost.
                  const last = tracked(loop.next());
                  await pause(c.interruptAfter);
                  await tracked(loop.return());
                  const lastStep = await last;
                  if (!lastStep.done) {
                    got(lastStep.value.from, lastStep.value.value, startedAt, perConsumer);
                  }
                  break;
                }
                step = await tracked(loop.next());
              }
              if (step.done) {
                sawDone("a");
                sawDone("b");
                return;
              }
            } catch (error) {
              if (!(error instanceof Error && error.message === "aborted by test")) {
                problems.push(`select rejected with ${String(error)}`);
              }
            } finally {
              await tracked(loop.return());
            }
          }
        }
      })(),
    ),
  );

  const closers = (["a", "b"] as const).map((key) =>
    tracked(
      (async () => {
        await pause(-1);
        for (let i = 0; i < program.closeAfter[key]; i++) await null;
        channels[key].close();
      })(),
    ),
  );

  // Let everything run to its end; a bug that leaves a promise pending shows as `pending > 0`.
  for (let turn = 0; turn < 50 && pending > 0; turn++) await macrotask();
  expect(pending).toBe(0);
  void producers;
  void consumers;
  void closers;

  // Drain what is left, as a last consumer that starts after everything else.
  const finalConsumer = new Map<number, number>();
  for (const key of ["a", "b"] as const) {
    const startedAt = clock++;
    for (let r = channels[key].tryRecv(); r !== undefined; r = channels[key].tryRecv()) {
      if (r.done) break;
      got(key, r.value, startedAt, finalConsumer);
    }
    expect(channels[key].tryRecv()).toEqual({ value: undefined, done: true });
  }

  expect(problems).toEqual([]);
  for (const [k, count] of received) {
    if (count !== 1) problems.push(`${k} received ${count} times`);
    if (!sentOk.has(k)) problems.push(`${k} received but its send failed`);
  }
  for (const k of sentOk) if (!received.has(k)) problems.push(`${k} sent but never received`);
  for (const k of sendFailed) if (sentOk.has(k)) problems.push(`${k} both sent and failed`);
  expect(problems).toEqual([]);
}

describe("channels under random programs", () => {
  it("deliver every successful send exactly once, in order, and leave nothing pending", async () => {
    await fc.assert(fc.asyncProperty(programArb, run), { numRuns: 1000 });
  });
});
