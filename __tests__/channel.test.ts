// Channel: the rules of API.md section 3 and issue #2, one behaviour per test.

import { Channel, ChannelClosedError, SocketsError, select } from "../lib";
import type { ReadChannel, RecvResult, WriteChannel } from "../lib";
import { kPark, kUnpark } from "../lib/channels/channel";

/** Lets every queued microtask and promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Tracks whether a promise has settled, and how. */
function track<T>(promise: Promise<T>): {
  state: "pending" | "resolved" | "rejected";
  value?: T;
  error?: unknown;
} {
  const t: { state: "pending" | "resolved" | "rejected"; value?: T; error?: unknown } = {
    state: "pending",
  };
  promise.then(
    (value) => {
      t.state = "resolved";
      t.value = value;
    },
    (error: unknown) => {
      t.state = "rejected";
      t.error = error;
    },
  );
  return t;
}

describe("new Channel(capacity)", () => {
  it("defaults to capacity 0 (unbuffered)", () => {
    const ch = new Channel<number>();
    expect(ch.capacity).toBe(0);
    expect(ch.length).toBe(0);
    expect(ch.closed).toBe(false);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    "throws a RangeError for capacity %p",
    (capacity) => {
      expect(() => new Channel(capacity)).toThrow(RangeError);
    },
  );
});

describe("unbuffered (capacity 0)", () => {
  it("a send resolves only when a receiver takes the value", async () => {
    const ch = new Channel<string>();
    const sent = track(ch.send("a"));
    await settle();
    expect(sent.state).toBe("pending");
    expect(ch.length).toBe(0);
    await expect(ch.recv()).resolves.toEqual({ value: "a", done: false });
    await settle();
    expect(sent.state).toBe("resolved");
  });

  it("a receiver waiting first gets the value, and the send resolves at once", async () => {
    const ch = new Channel<string>();
    const received = ch.recv();
    await expect(ch.send("b")).resolves.toBeUndefined();
    await expect(received).resolves.toEqual({ value: "b", done: false });
  });

  it("trySend succeeds only when a receiver is waiting", async () => {
    const ch = new Channel<number>();
    expect(ch.trySend(1)).toBe(false);
    const received = ch.recv();
    expect(ch.trySend(2)).toBe(true);
    expect(ch.trySend(3)).toBe(false);
    await expect(received).resolves.toEqual({ value: 2, done: false });
  });

  it("tryRecv takes from a waiting sender and returns undefined when nothing waits", async () => {
    const ch = new Channel<number>();
    expect(ch.tryRecv()).toBeUndefined();
    const sent = ch.send(7);
    expect(ch.tryRecv()).toEqual({ value: 7, done: false });
    await expect(sent).resolves.toBeUndefined();
    expect(ch.tryRecv()).toBeUndefined();
  });

  it("waiting senders are served in order", async () => {
    const ch = new Channel<number>();
    const sends = [ch.send(1), ch.send(2), ch.send(3)];
    const got = [await ch.recv(), await ch.recv(), await ch.recv()].map((r) => r.value);
    expect(got).toEqual([1, 2, 3]);
    await Promise.all(sends);
  });

  it("waiting receivers are served in order", async () => {
    const ch = new Channel<number>();
    const receives = [ch.recv(), ch.recv(), ch.recv()];
    await ch.send(1);
    await ch.send(2);
    await ch.send(3);
    expect((await Promise.all(receives)).map((r) => r.value)).toEqual([1, 2, 3]);
  });
});

describe("buffered (capacity n)", () => {
  it("a send resolves at once while there is room, then waits", async () => {
    const ch = new Channel<number>(2);
    await ch.send(1);
    await ch.send(2);
    expect(ch.length).toBe(2);
    const third = track(ch.send(3));
    await settle();
    expect(third.state).toBe("pending");
    expect(await ch.recv()).toEqual({ value: 1, done: false });
    await settle();
    expect(third.state).toBe("resolved");
    expect(ch.length).toBe(2);
  });

  it("is FIFO, and waiting senders enter the buffer in order", async () => {
    const ch = new Channel<number>(2);
    const sends = [1, 2, 3, 4, 5].map((v) => ch.send(v));
    const got: number[] = [];
    for (let i = 0; i < 5; i++) got.push((await ch.recv()).value as number);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    await Promise.all(sends);
  });

  it("trySend returns false when full and never waits", () => {
    const ch = new Channel<number>(1);
    expect(ch.trySend(1)).toBe(true);
    expect(ch.trySend(2)).toBe(false);
    expect(ch.length).toBe(1);
  });

  it("a value sent to a waiting receiver skips the buffer", async () => {
    const ch = new Channel<number>(3);
    const r = ch.recv();
    expect(ch.trySend(9)).toBe(true);
    expect(ch.length).toBe(0);
    await expect(r).resolves.toEqual({ value: 9, done: false });
  });

  it("keeps order across a wrap-around of its ring buffer", async () => {
    const ch = new Channel<number>(5);
    const got: number[] = [];
    for (let i = 0; i < 100; i++) {
      expect(ch.trySend(i)).toBe(true);
      if (i % 3 === 0) got.push(ch.tryRecv()?.value as number);
      if (ch.length === 5) while (ch.length > 0) got.push(ch.tryRecv()?.value as number);
    }
    while (ch.length > 0) got.push(ch.tryRecv()?.value as number);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe("#close", () => {
  it("is idempotent and sets closed", () => {
    const ch = new Channel<number>();
    ch.close();
    ch.close();
    expect(ch.closed).toBe(true);
  });

  it("send on a closed channel rejects with ChannelClosedError (code ERR_CHANNEL_CLOSED)", async () => {
    const ch = new Channel<number>(4);
    ch.close();
    const error = await ch.send(1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelClosedError);
    expect(error).toBeInstanceOf(SocketsError);
    expect((error as ChannelClosedError).code).toBe("ERR_CHANNEL_CLOSED");
    expect((error as ChannelClosedError).name).toBe("ChannelClosedError");
    expect(ch.trySend(1)).toBe(false);
    expect(ch.length).toBe(0);
  });

  it("rejects every waiting sender, and their values are never received", async () => {
    const ch = new Channel<number>(1);
    await ch.send(1);
    const a = ch.send(2);
    const b = ch.send(3);
    ch.close();
    await expect(a).rejects.toBeInstanceOf(ChannelClosedError);
    await expect(b).rejects.toBeInstanceOf(ChannelClosedError);
    expect(await ch.recv()).toEqual({ value: 1, done: false });
    expect(await ch.recv()).toEqual({ value: undefined, done: true });
  });

  it("keeps buffered values receivable; done only once drained", async () => {
    const ch = new Channel<number>(3);
    ch.trySend(1);
    ch.trySend(2);
    ch.close();
    expect(ch.length).toBe(2);
    expect(await ch.recv()).toEqual({ value: 1, done: false });
    expect(ch.tryRecv()).toEqual({ value: 2, done: false });
    expect(await ch.recv()).toEqual({ value: undefined, done: true });
    expect(ch.tryRecv()).toEqual({ value: undefined, done: true });
  });

  it("wakes every waiting receiver with done", async () => {
    const ch = new Channel<number>();
    const a = ch.recv();
    const b = ch.recv();
    ch.close();
    expect(await a).toEqual({ value: undefined, done: true });
    expect(await b).toEqual({ value: undefined, done: true });
  });

  it("ends async iteration after the buffered values", async () => {
    const ch = new Channel<number>(3);
    ch.trySend(1);
    ch.trySend(2);
    ch.trySend(3);
    ch.close();
    const got: number[] = [];
    for await (const v of ch) got.push(v);
    expect(got).toEqual([1, 2, 3]);
  });
});

describe("abort signals", () => {
  it("send with an already aborted signal rejects with its reason and delivers nothing", async () => {
    const ch = new Channel<number>(1);
    const reason = new Error("stop");
    await expect(ch.send(1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(ch.length).toBe(0);
    expect(ch.tryRecv()).toBeUndefined();
  });

  it("a waiting send that aborts is withdrawn: nothing delivered, later senders keep order", async () => {
    const ch = new Channel<number>();
    const ac = new AbortController();
    const first = ch.send(1);
    const aborted = ch.send(2, { signal: ac.signal });
    const last = ch.send(3);
    ac.abort(new Error("gone"));
    await expect(aborted).rejects.toThrow("gone");
    expect(ch.tryRecv()).toEqual({ value: 1, done: false });
    expect(ch.tryRecv()).toEqual({ value: 3, done: false });
    expect(ch.tryRecv()).toBeUndefined();
    await Promise.all([first, last]);
  });

  it("a send already taken is not undone by a later abort", async () => {
    const ch = new Channel<number>();
    const ac = new AbortController();
    const sent = ch.send(1, { signal: ac.signal });
    expect(ch.tryRecv()).toEqual({ value: 1, done: false });
    ac.abort();
    await expect(sent).resolves.toBeUndefined();
  });

  it("recv with an already aborted signal rejects and takes nothing", async () => {
    const ch = new Channel<number>(1);
    ch.trySend(5);
    const reason = new Error("no");
    await expect(ch.recv({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(ch.length).toBe(1);
    expect(ch.tryRecv()).toEqual({ value: 5, done: false });
  });

  it("a waiting recv that aborts is withdrawn: the next value goes to the next receiver", async () => {
    const ch = new Channel<number>();
    const ac = new AbortController();
    const aborted = ch.recv({ signal: ac.signal });
    const other = ch.recv();
    ac.abort(new Error("late"));
    await expect(aborted).rejects.toThrow("late");
    expect(ch.trySend(1)).toBe(true);
    await expect(other).resolves.toEqual({ value: 1, done: false });
    // and with no receiver left, an unbuffered trySend fails again
    expect(ch.trySend(2)).toBe(false);
  });

  it("a recv that was delivered to is not undone by a later abort", async () => {
    const ch = new Channel<number>();
    const ac = new AbortController();
    const r = ch.recv({ signal: ac.signal });
    expect(ch.trySend(4)).toBe(true);
    ac.abort();
    await expect(r).resolves.toEqual({ value: 4, done: false });
  });

  it("removes its abort listener once settled", async () => {
    const ch = new Channel<number>();
    const ac = new AbortController();
    const signal = ac.signal;
    const removeSpy = jest.spyOn(signal, "removeEventListener");
    const r = ch.recv({ signal });
    ch.trySend(1);
    await r;
    const s = ch.send(2, { signal });
    ch.tryRecv();
    await s;
    expect(removeSpy.mock.calls.map((call) => call[0])).toEqual(["abort", "abort"]);
  });
});

describe("#whenWritable", () => {
  it("resolves at once while a send would not wait", async () => {
    const ch = new Channel<number>(1);
    await expect(ch.whenWritable()).resolves.toBeUndefined();
    expect(ch.length).toBe(0); // it sends nothing
  });

  it("waits while the buffer is full and resolves when a receiver makes room", async () => {
    const ch = new Channel<number>(2);
    ch.trySend(1);
    ch.trySend(2);
    const writable = track(ch.whenWritable());
    await settle();
    expect(writable.state).toBe("pending");
    ch.tryRecv();
    await settle();
    expect(writable.state).toBe("resolved");
    expect(ch.trySend(3)).toBe(true);
  });

  it("stays pending while waiting senders will take the room first", async () => {
    const ch = new Channel<number>(1);
    ch.trySend(1);
    const queued = ch.send(2);
    const writable = track(ch.whenWritable());
    ch.tryRecv(); // 2 moves into the buffer: still full
    await settle();
    expect(writable.state).toBe("pending");
    ch.tryRecv();
    await settle();
    expect(writable.state).toBe("resolved");
    await queued;
  });

  it("on an unbuffered channel, resolves when a receiver starts waiting", async () => {
    const ch = new Channel<number>();
    const writable = track(ch.whenWritable());
    await settle();
    expect(writable.state).toBe("pending");
    const r = ch.recv();
    await settle();
    expect(writable.state).toBe("resolved");
    expect(ch.trySend(1)).toBe(true);
    await r;
  });

  it("rejects with ChannelClosedError when closed, and on a closed channel", async () => {
    const ch = new Channel<number>(1);
    ch.trySend(1);
    const writable = ch.whenWritable();
    ch.close();
    await expect(writable).rejects.toBeInstanceOf(ChannelClosedError);
    await expect(ch.whenWritable()).rejects.toBeInstanceOf(ChannelClosedError);
  });

  it("is withdrawn by its signal", async () => {
    const ch = new Channel<number>(1);
    ch.trySend(1);
    const ac = new AbortController();
    const writable = ch.whenWritable({ signal: ac.signal });
    ac.abort(new Error("enough"));
    await expect(writable).rejects.toThrow("enough");
  });

  it("drives a producer that pauses and resumes its source without polling", async () => {
    const ch = new Channel<number>(4);
    const source = Array.from({ length: 50 }, (_, i) => i);
    let pauses = 0;
    const producer = (async () => {
      for (const v of source) {
        while (!ch.trySend(v)) {
          pauses++;
          await ch.whenWritable();
        }
      }
      ch.close();
    })();
    const got: number[] = [];
    for await (const v of ch) got.push(v);
    await producer;
    expect(got).toEqual(source);
    expect(pauses).toBeGreaterThan(0);
  });
});

describe("async iteration", () => {
  it("yields values in order and ends when closed and drained", async () => {
    const ch = new Channel<number>();
    const producer = (async () => {
      for (let i = 0; i < 5; i++) await ch.send(i);
      ch.close();
    })();
    const got: number[] = [];
    for await (const v of ch) got.push(v);
    await producer;
    expect(got).toEqual([0, 1, 2, 3, 4]);
  });

  it("breaking out takes nothing more", async () => {
    const ch = new Channel<number>(5);
    for (let i = 0; i < 5; i++) ch.trySend(i);
    for await (const v of ch) {
      if (v === 1) break;
    }
    expect(ch.length).toBe(3);
    expect(ch.tryRecv()).toEqual({ value: 2, done: false });
  });
});

describe("ReadChannel and WriteChannel views", () => {
  it("a Channel is both; each view hides the other side (checked by tsc)", () => {
    const ch = new Channel<number>(1);
    const w: WriteChannel<number> = ch;
    const r: ReadChannel<number> = ch;
    // @ts-expect-error a WriteChannel cannot close
    expect(typeof w.close).toBe("function");
    // @ts-expect-error a WriteChannel cannot receive
    expect(typeof w.recv).toBe("function");
    // @ts-expect-error a ReadChannel cannot send
    expect(typeof r.send).toBe("function");
    // @ts-expect-error a ReadChannel cannot close
    expect(typeof r.close).toBe("function");
    expect(w.trySend(1)).toBe(true);
    const result: RecvResult<number> | undefined = r.tryRecv();
    expect(result).toEqual({ value: 1, done: false });
  });
});

describe("#readOnly / #writeOnly (run-time views)", () => {
  it("the read view receives, iterates and works in select, but cannot send or close", async () => {
    const ch = new Channel<number>(2);
    const r = ch.readOnly();
    expect(ch.readOnly()).toBe(r);
    expect("send" in r).toBe(false);
    expect("close" in r).toBe(false);
    expect("trySend" in r).toBe(false);
    ch.trySend(1);
    expect(r.length).toBe(1);
    expect(r.capacity).toBe(2);
    expect(await r.recv()).toEqual({ value: 1, done: false });
    const step = select({ r }).next();
    ch.trySend(2);
    expect(await step).toEqual({ done: false, value: { from: "r", value: 2 } });
    ch.trySend(3);
    ch.close();
    expect(r.closed).toBe(true);
    const rest: number[] = [];
    for await (const v of r) rest.push(v);
    expect(rest).toEqual([3]);
  });

  it("the write view sends and waits for room, but cannot receive or close", async () => {
    const ch = new Channel<string>(1);
    const w = ch.writeOnly();
    expect(ch.writeOnly()).toBe(w);
    expect("recv" in w).toBe(false);
    expect("tryRecv" in w).toBe(false);
    expect("close" in w).toBe(false);
    expect(w.trySend("a")).toBe(true);
    expect(w.trySend("b")).toBe(false);
    const room = w.whenWritable();
    const sent = w.send("c");
    expect(ch.tryRecv()).toEqual({ value: "a", done: false });
    await sent;
    expect(w.length).toBe(1); // "c" moved into the buffer: still full
    expect(ch.tryRecv()).toEqual({ value: "c", done: false });
    await expect(room).resolves.toBeUndefined();
    expect(w.capacity).toBe(1);
    ch.close();
    expect(w.closed).toBe(true);
    await expect(w.send("d")).rejects.toBeInstanceOf(ChannelClosedError);
  });
});

describe("[kPark] / [kUnpark] (select's hooks)", () => {
  it("kPark returns a ready value without parking", () => {
    const ch = new Channel<number>(1);
    ch.trySend(3);
    const deliver = jest.fn();
    expect(ch[kPark]({ deliver })).toEqual({ value: 3, done: false });
    expect(ch.trySend(4)).toBe(true); // the buffer had room: nothing was parked
    expect(deliver).not.toHaveBeenCalled();
  });

  it("delivers synchronously to a parked waiter, once", () => {
    const ch = new Channel<number>();
    const deliver = jest.fn();
    expect(ch[kPark]({ deliver })).toBeUndefined();
    expect(ch.trySend(8)).toBe(true);
    expect(deliver).toHaveBeenCalledTimes(1);
    expect(deliver).toHaveBeenCalledWith({ value: 8, done: false });
    expect(ch.trySend(9)).toBe(false);
  });

  it("kUnpark withdraws a waiter, and is a no-op after delivery", () => {
    const ch = new Channel<number>();
    const waiter = { deliver: jest.fn() };
    ch[kPark](waiter);
    ch[kUnpark](waiter);
    ch[kUnpark](waiter);
    expect(ch.trySend(1)).toBe(false);
    ch.close();
    expect(waiter.deliver).not.toHaveBeenCalled();
  });

  it("a lone waiter, then more: served in order, and any of them can be withdrawn", () => {
    // The first parked receiver is held alone; a second one moves it into a list.
    const ch = new Channel<number>();
    const got: string[] = [];
    const waiter = (name: string) => ({
      deliver: (r: RecvResult<number>) => got.push(`${name}:${String(r.value)}`),
    });
    const a = waiter("a");
    const b = waiter("b");
    const c = waiter("c");
    ch[kPark](a);
    ch[kPark](b);
    ch[kPark](c);
    ch[kUnpark](a); // the one that was alone, now first in the list
    expect(ch.trySend(1)).toBe(true);
    ch[kPark](a);
    ch[kUnpark](c);
    expect(ch.trySend(2)).toBe(true);
    expect(ch.trySend(3)).toBe(false); // nobody left
    expect(got).toEqual(["b:1", "a:2"]);
  });

  it("a lone waiter withdrawn leaves the channel with no receiver", async () => {
    const ch = new Channel<number>();
    const w = { deliver: jest.fn() };
    ch[kPark](w);
    ch[kUnpark](w);
    expect(ch.trySend(1)).toBe(false);
    const r = ch.recv(); // a bare recv parks alone after it
    expect(ch.trySend(2)).toBe(true);
    expect(await r).toEqual({ value: 2, done: false });
    expect(w.deliver).not.toHaveBeenCalled();
  });

  it("a parked waiter gets done when the channel closes", () => {
    const ch = new Channel<number>();
    const deliver = jest.fn();
    ch[kPark]({ deliver });
    ch.close();
    expect(deliver).toHaveBeenCalledWith({ value: undefined, done: true });
  });
});
