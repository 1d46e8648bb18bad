// Adversarial review of channels, select and timers: the edge cases a demanding user reaches
// first (the same channel twice in a select, closes during a wait, already-aborted signals,
// reuse after `break`, huge capacities) and the scale a busy server reaches (tens of thousands
// of waiting senders or receivers must cost linear time, not quadratic).

import { Channel } from "../lib/channels/channel";
import { select } from "../lib/channels/select";
import { after } from "../lib/channels/timers";
import { failOnUnhandledRejections } from "./helpers/no-unhandled";

failOnUnhandledRejections();

describe("waiting at scale", () => {
  const N = 100_000;

  it(`hands ${N} waiting senders' values over in order, in linear time`, async () => {
    const ch = new Channel<number>(0);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < N; i++) sends.push(ch.send(i));
    const started = performance.now();
    let inOrder = true;
    for (let i = 0; i < N; i++) if (ch.tryRecv()?.value !== i) inOrder = false;
    const ms = performance.now() - started;
    await Promise.all(sends);
    expect(inOrder).toBe(true);
    expect(ch.tryRecv()).toBeUndefined();
    // Array#shift on a queue this long is O(n) per call: that took ~10 s here.
    expect(ms).toBeLessThan(1000);
  });

  it(`serves ${N} parked receivers in order, in linear time`, async () => {
    const ch = new Channel<number>(0);
    const recvs: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) recvs.push(ch.recv().then((r) => r.value));
    const started = performance.now();
    let taken = 0;
    for (let i = 0; i < N; i++) if (ch.trySend(i)) taken++;
    const ms = performance.now() - started;
    expect(taken).toBe(N);
    const got = await Promise.all(recvs);
    expect(got.every((v, i) => v === i)).toBe(true);
    expect(ms).toBeLessThan(1000);
  });

  it("withdraws aborted senders from anywhere in the queue and keeps the others in order", async () => {
    const ch = new Channel<number>(2);
    ch.trySend(-2);
    ch.trySend(-1);
    const controllers = Array.from({ length: 2000 }, () => new AbortController());
    const sends = controllers.map((c, i) => ch.send(i, { signal: c.signal }).then(() => i));
    // Abort every third, from the back and the middle first.
    for (let i = controllers.length - 1; i >= 0; i--) if (i % 3 === 0) controllers[i]!.abort();
    const settled = await Promise.allSettled(sends.filter((_, i) => i % 3 === 0));
    expect(settled.every((s) => s.status === "rejected")).toBe(true);
    const got: number[] = [];
    for (let r = ch.tryRecv(); r !== undefined && !r.done; r = ch.tryRecv()) got.push(r.value);
    const kept = controllers.map((_, i) => i).filter((i) => i % 3 !== 0);
    expect(got).toEqual([-2, -1, ...kept]);
    await Promise.all(sends.filter((_, i) => i % 3 !== 0));
  });
});

describe("select edge cases", () => {
  it("takes each value once when the same channel is under two keys", async () => {
    const ch = new Channel<number>(4);
    const producer = (async () => {
      for (let i = 0; i < 100; i++) await ch.send(i);
      ch.close();
    })();
    const got: number[] = [];
    const from = new Set<string>();
    for await (const c of select({ a: ch, b: ch })) {
      got.push(c.value);
      from.add(c.from);
    }
    await producer;
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(from).toEqual(new Set(["a", "b"]));
  });

  it("ends a waiting select when the same channel under two keys is closed", async () => {
    const ch = new Channel<number>();
    const loop = select({ a: ch, b: ch });
    const step = loop.next();
    ch.close();
    expect(await step).toEqual({ done: true, value: undefined });
  });

  it("keeps waiting on the others when one channel is closed during the wait", async () => {
    const a = new Channel<string>();
    const b = new Channel<string>();
    const loop = select({ a, b });
    const step = loop.next();
    a.close();
    await Promise.resolve();
    expect(b.trySend("b1")).toBe(true);
    expect(await step).toEqual({ done: false, value: { from: "b", value: "b1" } });
    b.close();
    expect(await loop.next()).toEqual({ done: true, value: undefined });
  });

  it("after(0) fires once inside a select, then leaves the set", async () => {
    const never = new Channel<string>();
    const seen: string[] = [];
    const loop = select({ never, timeout: after(0) });
    const first = await loop.next();
    if (!first.done) seen.push(first.value.from);
    never.close();
    const second = await loop.next();
    expect(seen).toEqual(["timeout"]);
    expect(second.done).toBe(true);
  });

  it("an already-aborted signal rejects the first step and takes nothing", async () => {
    const ch = new Channel<number>(1);
    ch.trySend(7);
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    await expect(select({ ch }, { signal: ac.signal }).next()).rejects.toThrow("stop");
    expect(ch.tryRecv()).toEqual({ value: 7, done: false });
  });
});

describe("channel edge cases", () => {
  it("send and recv with an already-aborted signal reject with its reason and change nothing", async () => {
    const ch = new Channel<number>(1);
    const reason = new Error("aborted before");
    const signal = AbortSignal.abort(reason);
    await expect(ch.send(1, { signal })).rejects.toBe(reason);
    expect(ch.length).toBe(0);
    ch.trySend(2);
    await expect(ch.recv({ signal })).rejects.toBe(reason);
    expect(ch.length).toBe(1);
    await expect(ch.whenWritable({ signal })).rejects.toBe(reason);
    expect(ch.tryRecv()).toEqual({ value: 2, done: false });
  });

  it("a for-await loop left with break loses nothing and the channel can be read again", async () => {
    const ch = new Channel<number>(10);
    for (let i = 0; i < 5; i++) ch.trySend(i);
    const first: number[] = [];
    for await (const v of ch) {
      first.push(v);
      if (v === 1) break;
    }
    ch.close();
    const rest: number[] = [];
    for await (const v of ch) rest.push(v);
    expect(first).toEqual([0, 1]);
    expect(rest).toEqual([2, 3, 4]);
  });

  it("accepts a huge capacity without allocating it up front", () => {
    const ch = new Channel<number>(Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < 1000; i++) expect(ch.trySend(i)).toBe(true);
    expect(ch.length).toBe(1000);
    expect(() => new Channel(Infinity)).toThrow(RangeError);
    expect(() => new Channel(-1)).toThrow(RangeError);
    expect(() => new Channel(1.5)).toThrow(RangeError);
  });
});
