// Backpressure both ways with real sockets: a client that floods a handler that does not read
// makes its own sends back up (the server pauses reading, its memory stays bounded); a handler
// that floods a client that does not read waits in `sender.send` (nothing piles up server side).

import { bytesCodec, textCodec } from "../lib/core/codec";
import { SEND_HIGH_WATER_MARK } from "../lib/websocket/connection";
import { ChannelClosedError } from "../lib/core/errors";
import {
  closeClient,
  connect,
  startServer,
  type BoundServer,
  type TestClient,
} from "./helpers/bound-server";

const servers: BoundServer<unknown, unknown>[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map(closeClient));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function track<In, Out>(s: BoundServer<In, Out>): Promise<BoundServer<In, Out>> {
  servers.push(s as unknown as BoundServer<unknown, unknown>);
  return s;
}

async function client(url: string) {
  const c = await connect(url);
  clients.push(c);
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A text connection whose client has stopped reading, with sends taken until the sender
 * refuses more (`sendChannelBuffer` as given): every further send or whenWritable waits.
 */
async function backedUp(sendChannelBuffer: number, fill: string) {
  const s = await track(await startServer(textCodec(), { sendChannelBuffer }));
  const c = await client(s.url);
  const conn = await s.nextConnection();
  c.ws.pause();
  const big = fill.repeat(100_000);
  while (conn.sender.trySend(big)) await new Promise((r) => setImmediate(r));
  return { c, conn };
}

describe("receive backpressure", () => {
  it("pauses reading when the handler does not read: 10,000 messages back up on the client", async () => {
    const s = await track(await startServer(textCodec(), { recvChannelBuffer: 10 }));
    const c = await client(s.url);
    const conn = await s.nextConnection();
    const N = 10_000;
    const payload = "p".repeat(1000);
    for (let i = 0; i < N; i++) c.ws.send(`${i}:${payload}`);
    // Let the kernel buffers fill and the server settle.
    let before = -1;
    for (let i = 0; i < 50 && conn.stats.receivedPending !== before; i++) {
      before = conn.stats.receivedPending;
      await sleep(20);
    }
    const pending = conn.stats.receivedPending;
    expect(conn.stats.paused).toBe(true);
    expect(conn.receiver.length).toBe(10);
    // Held server side: the receiver (10) plus what ws had parsed from its last read chunk
    // (64 KiB of ~1 KB messages), nowhere near the 10,000 sent (~10 MB).
    expect(pending).toBeLessThanOrEqual(10 + 2 * 66);
    // The rest waits on the client: in its own buffer (or in the kernel's).
    expect(c.ws.bufferedAmount).toBeGreaterThan(1_000_000);

    // Now read everything: all 10,000 arrive, in order.
    for (let i = 0; i < N; i++) {
      const r = await conn.receiver.recv();
      if (r.done) throw new Error("closed early");
      const n = Number(r.value.slice(0, r.value.indexOf(":")));
      if (n !== i) throw new Error(`message ${n} arrived where ${i} was expected`);
    }
    expect(conn.stats.receivedPending).toBe(0);
    expect(conn.stats.paused).toBe(false);
    expect(c.ws.bufferedAmount).toBe(0);
  });

  it("bounds what a flood of tiny messages leaves server side to about one read chunk", async () => {
    const s = await track(await startServer(bytesCodec(), { recvChannelBuffer: 10 }));
    const c = await client(s.url);
    const conn = await s.nextConnection();
    const N = 50_000;
    for (let i = 0; i < N; i++) c.ws.send(Buffer.from([i & 255, i >> 8]));
    let before = -1;
    for (let i = 0; i < 50 && conn.stats.receivedPending !== before; i++) {
      before = conn.stats.receivedPending;
      await sleep(20);
    }
    expect(conn.stats.paused).toBe(true);
    // A 2-byte message is an 8-byte masked frame: one 64 KiB read holds about 8,200 of them.
    expect(conn.stats.receivedPending).toBeLessThan(2 * 8200);
    // The rest (400 KB on the wire) waits in the kernel's socket buffers, not in our memory.
    for (let i = 0; i < N; i++) {
      const r = await conn.receiver.recv();
      if (r.done) throw new Error("closed early");
      if ((r.value[0]! | (r.value[1]! << 8)) !== i) throw new Error(`out of order at ${i}`);
    }
  });

  it("works unbuffered (recvChannelBuffer 0): each message waits for a reader", async () => {
    const s = await track(await startServer(bytesCodec(), { recvChannelBuffer: 0 }));
    const c = await client(s.url);
    const conn = await s.nextConnection();
    for (let i = 0; i < 1000; i++) c.ws.send(Buffer.from([i & 255, i >> 8]));
    await sleep(20);
    expect(conn.receiver.length).toBe(0);
    expect(conn.stats.paused).toBe(true);
    for (let i = 0; i < 1000; i++) {
      const r = await conn.receiver.recv();
      if (r.done) throw new Error("closed early");
      expect(r.value[0]! | (r.value[1]! << 8)).toBe(i);
    }
  });
});

describe("send backpressure", () => {
  it("makes sender.send wait while a client does not read: 10,000 messages, memory bounded", async () => {
    const s = await track(await startServer(textCodec(), { sendChannelBuffer: 10 }));
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.pause();
    const N = 10_000;
    const payload = "s".repeat(1000);
    let resolved = 0;
    const producing = (async () => {
      for (let i = 0; i < N; i++) {
        await conn.sender.send(`${i}:${payload}`);
        resolved++;
      }
    })();
    let before = -1;
    for (let i = 0; i < 50 && resolved !== before; i++) {
      before = resolved;
      await sleep(20);
    }
    // The producer is stuck, not racing ahead into memory.
    expect(resolved).toBeLessThan(N);
    expect(conn.stats.sendPending).toBe(10);
    expect(conn.sender.trySend("x")).toBe(false);
    expect(conn.stats.bufferedAmount).toBeLessThan(SEND_HIGH_WATER_MARK + 2 * 1024);
    expect(conn.stats.bufferedAmount).toBeGreaterThanOrEqual(SEND_HIGH_WATER_MARK);

    c.ws.resume();
    await producing;
    await c.received(N);
    c.messages.forEach((m, i) => {
      const s = m.data.toString();
      if (Number(s.slice(0, s.indexOf(":"))) !== i) throw new Error(`out of order at ${i}`);
    });
  });

  it("resolves an unbuffered send (sendChannelBuffer 0) only once ws has taken the message", async () => {
    const { c, conn } = await backedUp(0, "u");
    expect(conn.stats.sendPending).toBe(0);
    let done = false;
    const send = conn.sender.send("last").then(() => (done = true));
    await sleep(30);
    expect(done).toBe(false);
    expect(conn.stats.sendPending).toBe(0); // it waits in send(), not in a buffer
    c.ws.resume();
    await send;
    await new Promise<void>((resolve) => {
      const check = () =>
        c.messages.at(-1)?.data.toString() === "last" ? resolve() : setTimeout(check, 5);
      check();
    });
  });

  it("whenWritable waits for room and an aborted send delivers nothing", async () => {
    const { c, conn } = await backedUp(1, "a");
    let writable = false;
    const w = conn.sender.whenWritable().then(() => (writable = true));
    const ac = new AbortController();
    const before = conn.sender.send("before"); // the aborted send is withdrawn from between two
    const aborted = conn.sender.send("withdrawn", { signal: ac.signal });
    const kept = conn.sender.send("kept");
    ac.abort(new Error("changed my mind"));
    await expect(aborted).rejects.toThrow("changed my mind");
    await sleep(20);
    expect(writable).toBe(false);
    const sent = c.messages.length;
    c.ws.resume();
    await w;
    await before;
    await kept;
    await conn.sender.send("end");
    const texts = () => c.messages.slice(sent).map((m) => m.data.toString());
    while (!texts().includes("end")) await sleep(5);
    expect(texts()).not.toContain("withdrawn");
    expect(texts().filter((t) => t.length < 10)).toEqual(["before", "kept", "end"]);
  });

  it("a waiting whenWritable is withdrawn by its signal, and rejects when the connection closes", async () => {
    const { conn } = await backedUp(1, "w");
    const ac = new AbortController();
    const withdrawn = conn.sender.whenWritable({ signal: ac.signal });
    const waiting = conn.sender.whenWritable();
    const reason = new Error("no longer needed");
    ac.abort(reason);
    await expect(withdrawn).rejects.toBe(reason);
    let settled = false;
    void waiting.then(
      () => (settled = true),
      () => (settled = true),
    );
    await sleep(20);
    expect(settled).toBe(false); // still no room: the other waiter waits on
    void conn.close(1000, "", 50);
    await expect(waiting).rejects.toBeInstanceOf(ChannelClosedError);
  });
});
