// broadcast(): one encode and one frame for many real connections, each connection's send
// order and backpressure respected, slow clients skipped (and counted) rather than waited for.

import { Channel } from "../lib/channels/channel";
import { broadcast } from "../lib/websocket/broadcast";
import { bytesCodec, jsonCodec, textCodec, type Codec } from "../lib/core/codec";
import { BROADCAST_BACKLOG, type Connection } from "../lib/websocket/connection";
import type { CloseInfo, DisconnectRequest, Socket } from "../lib/core/socket";
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

async function serve<In, Out>(codec: Codec<In, Out>, overrides = {}) {
  const s = await startServer(codec, overrides);
  servers.push(s as unknown as BoundServer<unknown, unknown>);
  return s;
}

async function clientsOf<In, Out>(s: BoundServer<In, Out>, n: number) {
  const cs: TestClient[] = [];
  const conns: Connection<In, Out>[] = [];
  for (let i = 0; i < n; i++) {
    const c = await connect(s.url);
    clients.push(c);
    cs.push(c);
    conns.push(await s.nextConnection());
  }
  return { cs, conns };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("broadcast", () => {
  it("sends one message to every connection, encoding it once", async () => {
    let encodes = 0;
    const base = textCodec();
    const counting: Codec<string, string> = {
      transport: "messages",
      decode: (d, b) => base.decode(d, b),
      encode: (v) => {
        encodes++;
        return base.encode(v);
      },
    };
    const s = await serve(counting);
    const { cs, conns } = await clientsOf(s, 20);
    const result = broadcast(new Set(conns), "héllo everyone");
    expect(result).toEqual({ delivered: 20, closed: 0, dropped: 0 });
    expect(encodes).toBe(1);
    await Promise.all(cs.map((c) => c.received(1)));
    for (const c of cs) {
      expect(c.messages[0]!.isBinary).toBe(false);
      expect(c.messages[0]!.data.toString()).toBe("héllo everyone");
    }
  });

  it("frames per codec when json, messages and bytes connections are mixed", async () => {
    const json = await serve(jsonCodec());
    const text = await serve(textCodec());
    const bytes = await serve(bytesCodec());
    const j = await clientsOf(json, 2);
    const t = await clientsOf(text, 2);
    const b = await clientsOf(bytes, 1);
    const all: Socket<unknown, string>[] = [
      ...j.conns,
      ...t.conns,
      ...(b.conns as unknown as Socket<unknown, string>[]),
    ];
    // A bytes route takes a Uint8Array: a string there is refused by its codec.
    expect(() => broadcast(all, "x")).toThrow(TypeError);
    const r = broadcast([...j.conns, ...t.conns], "same");
    expect(r.delivered).toBe(4);
    await Promise.all([...j.cs, ...t.cs].map((c) => c.received(1)));
    expect(j.cs.map((c) => c.messages.at(-1)!.data.toString())).toEqual(['"same"', '"same"']);
    expect(t.cs.map((c) => c.messages.at(-1)!.data.toString())).toEqual(["same", "same"]);
    broadcast(b.conns, new Uint8Array([1, 2, 3]));
    await b.cs[0]!.received(1);
    expect(b.cs[0]!.messages.at(-1)!.isBinary).toBe(true);
    expect([...b.cs[0]!.messages.at(-1)!.data]).toEqual([1, 2, 3]);
  });

  it("delivers after a connection's queued sends, and before its later ones", async () => {
    const s = await serve(textCodec(), { sendChannelBuffer: 100 });
    const { cs, conns } = await clientsOf(s, 2);
    const [slow, fast] = [cs[0]!, cs[1]!];
    slow.ws.pause();
    const big = "q".repeat(200_000);
    let queued = 0;
    while (conns[0]!.stats.sendPending === 0 && queued < 200) {
      conns[0]!.sender.trySend(`${queued++}:${big}`);
      await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 3; i++) conns[0]!.sender.trySend(`${queued++}:${big}`);
    expect(conns[0]!.stats.sendPending).toBeGreaterThan(0);
    expect(broadcast(conns, "BCAST")).toEqual({ delivered: 2, closed: 0, dropped: 0 });
    await conns[0]!.sender.send("after");
    await fast.received(1);
    expect(fast.messages[0]!.data.toString()).toBe("BCAST");
    slow.ws.resume();
    await slow.received(queued + 2);
    const texts = slow.messages.map((m) => m.data.toString());
    expect(texts[queued]).toBe("BCAST");
    expect(texts[queued + 1]).toBe("after");
    for (let i = 0; i < queued; i++) expect(texts[i]!.startsWith(`${i}:`)).toBe(true);
  });

  it("never waits for a client that stopped reading: it misses messages, counted and logged", async () => {
    const s = await serve(textCodec(), { sendChannelBuffer: 4 });
    const { cs, conns } = await clientsOf(s, 2);
    const [stuck, ok] = [cs[0]!, cs[1]!];
    stuck.ws.pause();
    const payload = "m".repeat(50_000);
    let dropped = 0;
    const N = 400;
    for (let i = 0; i < N; i++) {
      const r = broadcast(conns, `${i}:${payload}`);
      dropped += r.dropped;
      if (i % 20 === 0) await sleep(1);
    }
    expect(dropped).toBeGreaterThan(0);
    expect(conns[0]!.stats.broadcastsDropped).toBe(dropped);
    expect(conns[1]!.stats.broadcastsDropped).toBe(0);
    expect(s.logs.some((l) => l.includes("client too slow"))).toBe(true);
    // What the stuck client holds server side is bounded by its backlog.
    expect(conns[0]!.stats.sendPending).toBeLessThanOrEqual(4);
    await ok.received(N);
    expect(ok.messages.map((m) => Number(m.data.toString().split(":")[0]))).toEqual(
      Array.from({ length: N }, (_, i) => i),
    );
    // The stuck client, once it reads, gets an in-order prefix plus what came after its gap.
    stuck.ws.resume();
    const expected = N - dropped;
    await stuck.received(expected);
    const got = stuck.messages.map((m) => Number(m.data.toString().split(":")[0]));
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(BROADCAST_BACKLOG).toBeGreaterThan(0);
  });

  it("counts closed connections and gives other transports their sender.trySend", async () => {
    const s = await serve(textCodec());
    const { cs, conns } = await clientsOf(s, 2);
    cs[1]!.ws.close();
    await conns[1]!.closed;
    const other = new Channel<string>(1);
    const fake: Socket<unknown, string> = {
      receiver: new Channel<unknown>(),
      sender: other,
      done: new Channel<CloseInfo>(),
      disconnect: new Channel<DisconnectRequest>(),
      error: new Channel<Error>(),
      id: "sse-1",
      transport: "sse",
      data: {},
    };
    expect(broadcast([conns[0]!, conns[1]!, fake], "hi")).toEqual({
      delivered: 2,
      closed: 1,
      dropped: 0,
    });
    expect(other.tryRecv()).toEqual({ value: "hi", done: false });
    expect(broadcast([fake, fake], "a")).toEqual({ delivered: 1, closed: 0, dropped: 1 });
    await cs[0]!.received(1);
  });

  it("flushes queued broadcasts before the close frame", async () => {
    const s = await serve(textCodec(), { sendChannelBuffer: 2 });
    const { cs, conns } = await clientsOf(s, 1);
    cs[0]!.ws.pause();
    const payload = "f".repeat(100_000);
    let delivered = 0;
    for (let i = 0; i < 60; i++) delivered += broadcast(conns, `${i}:${payload}`).delivered;
    const closing = conns[0]!.close(1001, "bye", 5000);
    cs[0]!.ws.resume();
    await closing;
    expect((await cs[0]!.closed).code).toBe(1001);
    expect(cs[0]!.messages.length).toBe(delivered);
  });
});
