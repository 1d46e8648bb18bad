// select: one value per step from a ready channel, fairly; nothing taken that is not delivered;
// leaving early withdraws; drained channels leave the set. Plus the type-level narrowing check.

import { Channel, after, select } from "../lib";
import type { ReadChannel, SelectResult } from "../lib";

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("select(cases)", () => {
  it("yields { from, value } from whichever channel is ready", async () => {
    const a = new Channel<number>(1);
    const b = new Channel<string>(1);
    const it = select({ a, b });
    b.trySend("x");
    expect(await it.next()).toEqual({ done: false, value: { from: "b", value: "x" } });
    a.trySend(1);
    expect(await it.next()).toEqual({ done: false, value: { from: "a", value: 1 } });
    await it.return();
  });

  it("waits when nothing is ready and takes the first value sent", async () => {
    const a = new Channel<number>();
    const b = new Channel<number>();
    const it = select({ a, b });
    const step = it.next();
    await settle();
    expect(b.trySend(2)).toBe(true);
    expect(await step).toEqual({ done: false, value: { from: "b", value: 2 } });
    // the losing wait on `a` was withdrawn: an unbuffered trySend finds no receiver
    expect(a.trySend(1)).toBe(false);
    await it.return();
  });

  it("takes exactly one value per step: the other ready channels keep theirs", async () => {
    const a = new Channel<number>(3);
    const b = new Channel<number>(3);
    a.trySend(1);
    b.trySend(2);
    const it = select({ a, b });
    await it.next();
    expect(a.length + b.length).toBe(1);
    await it.return();
  });

  it("serves a sender waiting on an unbuffered channel (rendezvous)", async () => {
    const a = new Channel<number>();
    const sent = a.send(5);
    const it = select({ a });
    expect(await it.next()).toEqual({ done: false, value: { from: "a", value: 5 } });
    await expect(sent).resolves.toBeUndefined();
    await it.return();
  });

  it("drops a closed and drained channel and ends when none is left", async () => {
    const a = new Channel<number>(2);
    const b = new Channel<number>();
    a.trySend(1);
    a.close();
    const got: string[] = [];
    const loop = (async () => {
      for await (const c of select({ a, b })) got.push(`${c.from}:${c.value}`);
    })();
    await settle();
    expect(got).toEqual(["a:1"]);
    await b.send(2);
    b.close();
    await loop;
    expect(got).toEqual(["a:1", "b:2"]);
  });

  it("a channel closed while select waits leaves the set; the others are still served", async () => {
    const a = new Channel<number>();
    const b = new Channel<number>();
    const it = select({ a, b });
    const step = it.next();
    await settle();
    a.close();
    await settle();
    expect(b.trySend(7)).toBe(true);
    expect(await step).toEqual({ done: false, value: { from: "b", value: 7 } });
    b.close();
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it("with no cases ends at once", async () => {
    expect(await select({}).next()).toEqual({ done: true, value: undefined });
  });

  it("throws a TypeError for a case that is not a channel", () => {
    expect(() => select({ a: 1 as unknown as ReadChannel<number> })).toThrow(TypeError);
    expect(() => select(null as unknown as Record<string, ReadChannel<number>>)).toThrow(TypeError);
  });

  it("a next() called while a step is pending waits for it", async () => {
    const a = new Channel<number>();
    const it = select({ a });
    const first = it.next();
    const second = it.next();
    expect(a.trySend(1)).toBe(true);
    expect(a.trySend(2)).toBe(false); // only one waiter parked at a time
    expect(await first).toEqual({ done: false, value: { from: "a", value: 1 } });
    await settle();
    expect(a.trySend(2)).toBe(true);
    expect(await second).toEqual({ done: false, value: { from: "a", value: 2 } });
    await it.return();
  });
});

describe("select fairness", () => {
  it("alternates between channels that are both always ready", async () => {
    const a = new Channel<string>(100);
    const b = new Channel<string>(100);
    for (let i = 0; i < 100; i++) {
      a.trySend("a");
      b.trySend("b");
    }
    const order: string[] = [];
    for await (const c of select({ a, b })) {
      order.push(c.from);
      if (order.length === 20) break;
    }
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "a" : "b")));
  });

  it("an always-full channel does not starve a rarely ready one", async () => {
    const busy = new Channel<number>(10);
    const rare = new Channel<number>(1);
    let n = 0;
    const refill = (): void => {
      while (busy.trySend(n)) n++;
    };
    refill();
    const served = { busy: 0, rare: 0 };
    let rareSentAt = -1;
    const delays: number[] = [];
    for await (const c of select({ busy, rare })) {
      const step = served.busy + served.rare;
      served[c.from]++;
      if (c.from === "rare") delays.push(step - rareSentAt);
      refill(); // busy is full again before every step
      if (step % 25 === 0 && rare.trySend(step)) rareSentAt = step;
      if (step === 999) break;
    }
    expect(served.rare).toBe(40);
    expect(served.busy).toBe(960);
    // each rare value is taken by the very next step
    expect(Math.max(...delays)).toBe(1);
  });

  it("rotates the starting case, so three ready channels are served round robin", async () => {
    const chans = {
      x: new Channel<number>(9),
      y: new Channel<number>(9),
      z: new Channel<number>(9),
    };
    for (const ch of Object.values(chans)) {
      for (let i = 0; i < 9; i++) ch.trySend(i);
      ch.close();
    }
    const order: string[] = [];
    for await (const c of select(chans)) order.push(c.from);
    expect(order.join("")).toBe("xyz".repeat(9));
  });
});

describe("leaving a select loop early", () => {
  it("break withdraws the waits: a later send goes to the next receiver", async () => {
    const a = new Channel<number>();
    const b = new Channel<number>();
    const stop = new Channel<void>();
    const loop = (async () => {
      for await (const c of select({ a, b, stop })) {
        if (c.from === "stop") break;
      }
    })();
    await settle();
    await stop.send();
    await loop;
    expect(a.trySend(1)).toBe(false);
    expect(b.trySend(1)).toBe(false);
  });

  it("return() while a step is pending ends it with done and takes nothing", async () => {
    const a = new Channel<number>();
    const it = select({ a });
    const step = it.next();
    await settle();
    await it.return();
    expect(await step).toEqual({ done: true, value: undefined });
    const sent = a.send(1);
    expect(a.tryRecv()).toEqual({ value: 1, done: false });
    await sent;
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it("a throw inside the loop withdraws the waits", async () => {
    const a = new Channel<number>(1);
    const b = new Channel<number>();
    a.trySend(1);
    await expect(
      (async () => {
        for await (const c of select({ a, b })) throw new Error(`boom ${c.value}`);
      })(),
    ).rejects.toThrow("boom 1");
    expect(b.trySend(2)).toBe(false);
  });

  it("a signal stops the loop: the pending step rejects with its reason, nothing is taken", async () => {
    const a = new Channel<number>();
    const ac = new AbortController();
    const reason = new Error("shutdown");
    const it = select({ a }, { signal: ac.signal });
    const step = it.next();
    await settle();
    ac.abort(reason);
    await expect(step).rejects.toBe(reason);
    expect(a.trySend(1)).toBe(false);
    await expect(it.next()).rejects.toBe(reason);
  });

  it("an already aborted signal rejects the first step and takes nothing", async () => {
    const a = new Channel<number>(1);
    a.trySend(1);
    const reason = new Error("before");
    await expect(select({ a }, { signal: AbortSignal.abort(reason) }).next()).rejects.toBe(reason);
    expect(a.length).toBe(1);
  });

  it("removes its abort listener when the loop ends", async () => {
    const ac = new AbortController();
    const remove = jest.spyOn(ac.signal, "removeEventListener");
    const a = new Channel<number>(1);
    a.trySend(1);
    for await (const c of select({ a }, { signal: ac.signal })) {
      expect(c.value).toBe(1);
      break;
    }
    expect(remove).toHaveBeenCalledWith("abort", expect.any(Function));
  });

  it("breaking out of select over after() leaves the timer unreferenced", async () => {
    const timeout = after(60_000);
    const stop = new Channel<void>(1);
    const referenced = (): boolean | undefined =>
      (timeout as unknown as { timer?: NodeJS.Timeout }).timer?.hasRef();
    expect(referenced()).toBe(false);
    const loop = (async () => {
      for await (const c of select({ stop, timeout })) if (c.from === "stop") break;
    })();
    await settle();
    expect(referenced()).toBe(true); // referenced while select waits on it
    stop.trySend();
    await loop;
    expect(referenced()).toBe(false); // released when the loop left
    timeout.close();
  });
});

describe("select types", () => {
  it("narrows { from, value } by key (checked by tsc)", async () => {
    const receiver = new Channel<string>(1);
    const count = new Channel<number>(1);
    const done = new Channel<{ code: number }>(1);
    receiver.trySend("hi");
    count.trySend(3);
    done.trySend({ code: 1000 });
    const seen: string[] = [];
    for await (const c of select({ receiver, count, done })) {
      switch (c.from) {
        case "receiver": {
          const s: string = c.value;
          // @ts-expect-error a string is not a number
          const wrong: number = c.value;
          seen.push(s, typeof wrong);
          break;
        }
        case "count": {
          const n: number = c.value;
          seen.push(String(n + 1));
          break;
        }
        case "done": {
          const code: number = c.value.code;
          seen.push(String(code));
          break;
        }
        default: {
          const never: never = c;
          throw new Error(`unreachable ${String(never)}`);
        }
      }
      if (seen.length === 4) break;
    }
    expect(seen.sort()).toEqual(["1000", "4", "hi", "string"].sort());

    // timer channels and read-only views narrow the same way; unknown keys do not compile
    const ticks = after(0);
    const view = new Channel<bigint>(1);
    view.trySend(5n);
    for await (const c of select({ timeout: ticks, big: view.readOnly() })) {
      if (c.from === "timeout") {
        const at: number = c.value;
        expect(typeof at).toBe("number");
      } else {
        const b: bigint = c.value;
        expect(b).toBe(5n);
        // @ts-expect-error "nope" is not a case
        expect(c.from === "nope").toBe(false);
      }
      if (view.length === 0 && ticks.closed && ticks.length === 0) break;
    }

    type R = SelectResult<{ a: ReadChannel<number>; b: ReadChannel<boolean> }>;
    const r: R = { from: "b", value: true };
    // @ts-expect-error the value of "a" is a number
    const bad: R = { from: "a", value: true };
    expect([r, bad]).toHaveLength(2);
  });
});
