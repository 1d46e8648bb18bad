// The browser client (express-sockets/client) run in Node with `ws` as its WebSocket: against a
// real sockets.json() route, and against a server that speaks the events protocol frame by frame
// (crafted frames: positions, duplicates, gaps, replays, server requests, final close codes).

import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import express from "express";
import { attach, sockets, type Attachment } from "../lib/index";
import {
  ClientError,
  TimeoutError,
  isFinal,
  type EventsClient,
  type PositionStorage,
} from "../client/index";
import { startProtocolServer, type ProtocolServer } from "./helpers/protocol-server";
import { closeAll, connect, node, reach, record, sleep, until } from "./helpers/client-utils";
import { failOnUnhandledRejections } from "./helpers/no-unhandled";

failOnUnhandledRejections();
afterEach(closeAll);

type Echo = { echo: string; n: number };
type Say = { text: string };

/** An Express app with a json echo route, attached. */
async function startJsonApp(): Promise<{
  url: string;
  upgrades: Attachment;
  server: http.Server;
  close(): Promise<void>;
}> {
  const app = express();
  let n = 0;
  app.get("/echo", sockets.json(undefined, { skipLogging: true }), async (_req, res) => {
    const { receiver, sender } = res.locals.socket;
    for await (const m of receiver) await sender.send({ echo: (m as Say).text, n: ++n });
  });
  const server = http.createServer(app);
  const upgrades = attach(server, app, { skipLogging: true });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/echo`,
    upgrades,
    server,
    async close() {
      await upgrades.close({ timeout: 0 });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe("connect() to a sockets.json() route", () => {
  it("sends values and iterates the server's values, typed", async () => {
    const app = await startJsonApp();
    const client = connect<Echo, Say>(app.url, { ...node, json: true });
    try {
      expect(client.status).toBe("connecting");
      client.send({ text: "a" }); // queued until open
      await reach(client, "open");
      client.send({ text: "b" });
      const got: Echo[] = [];
      for await (const v of client) {
        got.push(v);
        if (got.length === 2) break;
      }
      expect(got.map((v) => v.echo)).toEqual(["a", "b"]);
    } finally {
      client.close();
      await app.close();
    }
  });

  it("reconnects after the server terminates every socket, and works again", async () => {
    const app = await startJsonApp();
    const client = connect<Echo, Say>(app.url, { ...node, json: true });
    const log = record(client);
    try {
      await reach(client, "open");
      for (const s of app.upgrades) void s.disconnect.trySend(1006); // terminate: no close frame
      await reach(client, "reconnecting");
      await reach(client, "open");
      const got = new Promise<Echo>((resolve) => {
        const off = client.onMessage((v) => {
          off();
          resolve(v);
        });
      });
      client.send({ text: "again" });
      expect((await got).echo).toBe("again");
      expect(log.statuses).toEqual(["connecting", "open", "reconnecting", "open"]);
    } finally {
      client.close();
      await app.close();
    }
  });

  it("resolves a relative URL against the page, http: becoming ws:", async () => {
    const app = await startJsonApp();
    const port = new URL(app.url).port;
    const g = globalThis as { location?: { href: string } };
    g.location = { href: `http://127.0.0.1:${port}/some/page.html` };
    const client = connect<Echo, Say>("/echo", { ...node, json: true });
    delete g.location;
    try {
      await reach(client, "open");
      expect(app.upgrades.size).toBe(1);
    } finally {
      client.close();
      await app.close();
    }
  });

  it("throws at once for a URL that is not http(s)/ws(s), and for bad options", () => {
    expect(() => connect("ftp://x/", node)).toThrow(TypeError);
    expect(() => connect("ws://x/", { ...node, queueSize: -1 })).toThrow(RangeError);
    expect(() => connect("ws://x/", { ...node, heartbeat: 2 ** 31 })).toThrow(/heartbeat/);
    expect(() => connect("ws://x/", { storage: null })).toThrow(/WebSocket/);
  });
});

describe("reconnecting", () => {
  let server: ProtocolServer;
  beforeEach(async () => {
    server = await startProtocolServer();
  });
  afterEach(() => server.close());

  it.each([1000, 1002, 1003, 1007, 1008, 1009, 1010, 4000, 4099])(
    "stops for good on close code %i",
    async (code) => {
      const client = connect(server.url, node);
      const log = record(client);
      (await server.next()).ws.close(code);
      await reach(client, "closed");
      await sleep(600); // longer than the largest backoff (400 ms)
      expect(server.conns).toHaveLength(1);
      expect(log.statuses).toEqual(["connecting", "open", "closed"]);
    },
  );

  it.each([1001, 1011, 1012, 1013, 4100, 4999])("retries after close code %i", async (code) => {
    const client = connect(server.url, node);
    (await server.next()).ws.close(code);
    await server.next();
    await reach(client, "open");
    client.close();
  });

  it("documents the final codes in isFinal()", () => {
    const final = [];
    for (let c = 1000; c < 5000; c++) if (isFinal(c)) final.push(c);
    expect(final.slice(0, 7)).toEqual([1000, 1002, 1003, 1007, 1008, 1009, 1010]);
    expect(final.slice(7)).toEqual(Array.from({ length: 100 }, (_, i) => 4000 + i));
  });

  it("keeps retrying while nothing listens, then connects when the server comes", async () => {
    const port = await freePort();
    const client = connect(`ws://127.0.0.1:${port}/`, node);
    const log = record(client);
    await sleep(700);
    expect(client.status).toBe("reconnecting");
    const later = await startProtocolServer(port);
    try {
      await reach(client, "open");
      expect(log.statuses).toEqual(["connecting", "reconnecting", "open"]);
    } finally {
      client.close();
      await later.close();
    }
  });

  it("close() stops for good and rejects pending requests with ERR_CLOSED", async () => {
    const client = connect(server.url, node);
    const conn = await server.next();
    const pending = client.request("slow", 1);
    await conn.received(1);
    client.close();
    await expect(pending).rejects.toMatchObject({ code: "ERR_CLOSED" });
    expect(await conn.closed).toBe(1000);
    expect(client.status).toBe("closed");
    await expect(client.request("late", 1)).rejects.toBeInstanceOf(ClientError);
  });

  it("refuses a close code a browser cannot send, and a bad request timeout", async () => {
    const client = connect(server.url, node);
    await reach(client, "open");
    expect(() => client.close(1006)).toThrow(RangeError);
    await expect(client.request("x", 1, { timeout: -5 })).rejects.toBeInstanceOf(RangeError);
    expect(client.status).toBe("open");
    client.close(4321, "bye");
    expect(await server.conns[0]!.closed).toBe(4321);
  });
});

describe("emits and requests while disconnected", () => {
  it("queues emits up to queueSize, drops the oldest with ERR_QUEUE_FULL, sends the rest in order", async () => {
    const port = await freePort();
    const client = connect(`ws://127.0.0.1:${port}/`, { ...node, queueSize: 3 });
    const log = record(client);
    for (let i = 1; i <= 5; i++) client.emit("n", i);
    expect(log.errors.map((e) => [e.code, JSON.parse(e.data as string).data])).toEqual([
      ["ERR_QUEUE_FULL", 1],
      ["ERR_QUEUE_FULL", 2],
    ]);
    const server = await startProtocolServer(port);
    try {
      const conn = await server.next();
      const frames = await conn.received(3);
      expect(frames).toEqual([3, 4, 5].map((data) => ({ event: "n", data })));
    } finally {
      client.close();
      await server.close();
    }
  });

  it("a request in flight when the link drops rejects at once with TimeoutError ERR_DISCONNECTED", async () => {
    const server = await startProtocolServer();
    const client = connect(server.url, node);
    try {
      const conn = await server.next();
      const started = Date.now();
      const pending = client.request("slow", 1, { timeout: 8000 });
      await conn.received(1);
      conn.ws.terminate();
      const err = await pending.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TimeoutError);
      expect(err).toMatchObject({ code: "ERR_DISCONNECTED" });
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      client.close();
      await server.close();
    }
  });

  it("a request made while disconnected goes out after reconnecting, or times out queued", async () => {
    const port = await freePort();
    const client = connect(`ws://127.0.0.1:${port}/`, node);
    const expired = client.request("never", 0, { timeout: 150 });
    const answered = client.request("add", [1, 2], { timeout: 8000 });
    await expect(expired).rejects.toMatchObject({ name: "TimeoutError", code: "ERR_TIMEOUT" });
    const server = await startProtocolServer(port);
    try {
      const conn = await server.next();
      const [frame] = await conn.received(1);
      expect(frame).toMatchObject({ event: "add", data: [1, 2] }); // the expired one never went out
      conn.send({ ack: frame!.ack, data: 3 });
      expect(await answered).toBe(3);
    } finally {
      client.close();
      await server.close();
    }
  });

  it("a request with no answer times out; an error answer rejects with the server's code; abort works", async () => {
    const server = await startProtocolServer();
    const client = connect(server.url, node);
    try {
      const conn = await server.next();
      await expect(client.request("x", 1, { timeout: 100 })).rejects.toMatchObject({
        code: "ERR_TIMEOUT",
      });
      const bad = client.request("say", { text: 1 });
      const [, frame] = await conn.received(2);
      conn.send({ ack: frame!.ack, error: { code: "ERR_INVALID_MESSAGE", message: "text" } });
      await expect(bad).rejects.toMatchObject({ code: "ERR_INVALID_MESSAGE", message: "text" });
      const ac = new AbortController();
      const aborted = client.request("y", 1, { signal: ac.signal });
      ac.abort(new Error("user left"));
      await expect(aborted).rejects.toThrow("user left");
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe("events", () => {
  let server: ProtocolServer;
  beforeEach(async () => {
    server = await startProtocolServer();
  });
  afterEach(() => server.close());

  type In = { said: { from: string; text: string }; add: [number, number]; fail: null };
  type Out = { say: { text: string }; typing: boolean };

  it("on() gets its event's data, emit() sends {event,data}, iteration yields every event", async () => {
    const client = connect<In, Out>(server.url, node);
    const conn = await server.next();
    const said: string[] = [];
    const off = client.on("said", ({ text }) => said.push(text));
    const iter = client[Symbol.asyncIterator]();
    client.emit("typing", true);
    expect(await conn.received(1)).toEqual([{ event: "typing", data: true }]);
    conn.send({ event: "said", data: { from: "x", text: "hi" } });
    expect(await iter.next()).toEqual({
      done: false,
      value: { event: "said", data: { from: "x", text: "hi" } },
    });
    off();
    conn.send({ event: "said", data: { from: "x", text: "again" } });
    expect((await iter.next()).value).toMatchObject({ data: { text: "again" } });
    expect(said).toEqual(["hi"]);
    client.close();
    expect(await iter.next()).toEqual({ done: true, value: undefined });
  });

  it("handle() answers the server's requests: value, thrown error, no handler", async () => {
    const client = connect<In, Out>(server.url, node);
    const conn = await server.next();
    client.handle("add", async ([a, b]) => a + b);
    client.handle("fail", () => {
      throw Object.assign(new Error("nope"), { code: "ERR_APP" });
    });
    conn.send({ event: "add", data: [2, 3], ack: 7 });
    conn.send({ event: "fail", data: null, ack: 8 });
    conn.send({ event: "said", data: {}, ack: 9 });
    const frames = await conn.received(3);
    expect(frames).toEqual(
      expect.arrayContaining([
        { ack: 7, data: 5 },
        { ack: 8, error: { code: "ERR_APP", message: "nope" } },
        { ack: 9, error: { code: "ERR_NO_HANDLER", message: 'no handler for "said"' } },
      ]),
    );
    client.close();
  });

  it("reports frames it cannot read on onError and stays open", async () => {
    const client = connect<In, Out>(server.url, node);
    const log = record(client);
    const conn = await server.next();
    conn.ws.send("not json");
    conn.ws.send("42");
    conn.send({ event: "said", data: { from: "a", text: "ok" } });
    await until(() => log.errors.length === 2);
    expect(log.errors.map((e) => e.code)).toEqual(["ERR_BAD_FRAME", "ERR_BAD_FRAME"]);
    expect(client.status).toBe("open");
    client.close();
  });

  it("sends $ping every heartbeat; a server that stops answering is left and reconnected", async () => {
    const client = connect(server.url, { ...node, heartbeat: 200, heartbeatTimeout: 400 });
    const log = record(client);
    const first = await server.next();
    await until(() => first.pings >= 3, 5000, "three pings");
    server.pong = false;
    const started = Date.now();
    await reach(client, "reconnecting");
    const took = Date.now() - started;
    expect(took).toBeLessThan(600 + 1000); // the bound, and a margin for a loaded machine
    expect(log.errors.map((e) => e.code)).toContain("ERR_HEARTBEAT");
    server.pong = true;
    await server.next();
    await reach(client, "open");
    client.close();
  });
});

describe("recovery: positions, duplicates, gaps", () => {
  let server: ProtocolServer;
  beforeEach(async () => {
    server = await startProtocolServer();
  });
  afterEach(() => server.close());

  type In = { m: number };

  function collect(client: EventsClient<In, Record<string, unknown>>): number[] {
    const got: number[] = [];
    client.on("m", (n) => got.push(n));
    return got;
  }

  it("drops duplicates, resumes a gap with its last position and takes the replay once", async () => {
    const client = connect<In>(server.url, node);
    const got = collect(client);
    const joined: [string, boolean][] = [];
    client.onJoined(({ room, recovered }) => joined.push([room, recovered]));
    const c1 = await server.next();
    expect(c1.resume).toBeUndefined();
    c1.send({ event: "$session", data: { id: "s1", token: "tok1" } });
    c1.send({ event: "$joined", data: { room: "a", epoch: "E", seq: 5, recovered: false } });
    c1.send({ event: "m", data: 6, at: { a: ["E", 6] } });
    c1.send({ event: "m", data: 6, at: { a: ["E", 6] } }); // duplicate
    c1.send({ event: "m", data: 7, at: { a: ["E", 7] } });
    c1.send({ event: "m", data: 9, at: { a: ["E", 9] } }); // 8 is missing: a gap
    c1.send({ event: "m", data: 10, at: { a: ["E", 10] } }); // nothing more from a until resumed
    const c2 = await server.next();
    expect(c2.resume).toEqual({ token: "tok1", rooms: { a: { epoch: "E", seq: 7 } } });
    expect(client.id).toBe("s1");
    c2.send({ event: "$joined", data: { room: "a", epoch: "E", seq: 10, recovered: true } });
    for (const n of [8, 9, 10]) c2.send({ event: "m", data: n, at: { a: ["E", n] } });
    c2.send({ event: "m", data: 10, at: { a: ["E", 10] } });
    c2.send({ event: "m", data: 11, at: { a: ["E", 11] } });
    await until(() => got.length === 6);
    await sleep(50);
    expect(got).toEqual([6, 7, 8, 9, 10, 11]);
    expect(joined).toEqual([
      ["a", false],
      ["a", true],
    ]);
    client.close();
  });

  it("an epoch change on live traffic is a gap; recovered:false resets the position", async () => {
    const client = connect<In>(server.url, node);
    const got = collect(client);
    const c1 = await server.next();
    c1.send({ event: "$joined", data: { room: "a", epoch: "E1", seq: 0, recovered: false } });
    c1.send({ event: "m", data: 1, at: { a: ["E1", 1] } });
    c1.send({ event: "m", data: 100, at: { a: ["E2", 1] } }); // history was lost
    const c2 = await server.next();
    expect(c2.resume?.rooms).toEqual({ a: { epoch: "E1", seq: 1 } });
    c2.send({ event: "$joined", data: { room: "a", epoch: "E2", seq: 4, recovered: false } });
    c2.send({ event: "m", data: 5, at: { a: ["E2", 5] } });
    await until(() => got.length === 2);
    expect(got).toEqual([1, 5]);
    client.close();
  });

  it("a message of two rooms, one with a gap, advances neither and comes once, in order, in the replay", async () => {
    const client = connect<In>(server.url, node);
    const got = collect(client);
    const c1 = await server.next();
    c1.send({ event: "$joined", data: { room: "a", epoch: "A", seq: 0, recovered: false } });
    c1.send({ event: "$joined", data: { room: "b", epoch: "B", seq: 0, recovered: false } });
    c1.send({ event: "m", data: 1, at: { a: ["A", 1], b: ["B", 1] } });
    c1.send({ event: "m", data: 3, at: { a: ["A", 3], b: ["B", 2] } }); // gap in a, new in b
    const c2 = await server.next();
    expect(c2.resume?.rooms).toEqual({ a: { epoch: "A", seq: 1 }, b: { epoch: "B", seq: 1 } });
    // The hub replays room by room, each after its $joined: 3 comes in a's replay, then in b's.
    c2.send({ event: "$joined", data: { room: "a", epoch: "A", seq: 3, recovered: true } });
    c2.send({ event: "m", data: 2, at: { a: ["A", 2] } });
    c2.send({ event: "m", data: 3, at: { a: ["A", 3], b: ["B", 2] } }); // b not joined yet here
    c2.send({ event: "$joined", data: { room: "b", epoch: "B", seq: 2, recovered: true } });
    c2.send({ event: "m", data: 3, at: { a: ["A", 3], b: ["B", 2] } }); // b's replay: seen in a
    c2.send({ event: "m", data: 4, at: { a: ["A", 4], b: ["B", 3] } });
    await until(() => got.length === 4);
    await sleep(50);
    expect(got).toEqual([1, 2, 3, 4]);
    client.close();
  });

  it("delivers messages with no `at`, or whose rooms it has not joined", async () => {
    const client = connect<In>(server.url, node);
    const got = collect(client);
    const c1 = await server.next();
    c1.send({ event: "$joined", data: { room: "a", epoch: "A", seq: 0, recovered: false } });
    c1.send({ event: "m", data: 1 });
    c1.send({ event: "m", data: 2, at: { other: ["X", 50] } });
    c1.send({ event: "$left", data: { room: "a" } });
    c1.send({ event: "m", data: 3, at: { a: ["A", 9] } }); // a was left: no gap
    await until(() => got.length === 3);
    expect(got).toEqual([1, 2, 3]);
    expect(server.conns).toHaveLength(1);
    client.close();
  });

  it("keeps the positions in the given storage, so a new client (a reloaded page) resumes", async () => {
    const store = new Map<string, string>();
    const storage: PositionStorage = {
      getItem: (k) => store.get(k) ?? null,
      setItem: (k, v) => void store.set(k, v),
    };
    const first = connect<In>(server.url, { ...node, storage });
    const c1 = await server.next();
    c1.send({ event: "$session", data: { id: "s", token: "T" } });
    c1.send({ event: "$joined", data: { room: "r", epoch: "E", seq: 3, recovered: false } });
    c1.send({ event: "m", data: 4, at: { r: ["E", 4] } });
    await until(() => store.size === 1 && store.values().next().value!.includes('"seq":4'));
    expect([...store.keys()]).toEqual([`express-sockets:${server.url}`]);
    first.close();
    const second = connect<In>(server.url, { ...node, storage });
    const c2 = await server.next();
    expect(c2.resume).toEqual({ token: "T", rooms: { r: { epoch: "E", seq: 4 } } });
    second.close();
  });

  it("bounds es_resume: at most 100 rooms, the most recent kept", async () => {
    const client = connect<In>(server.url, node);
    const c1 = await server.next();
    for (let i = 0; i < 120; i++) {
      c1.send({ event: "$joined", data: { room: `r${i}`, epoch: "E", seq: i, recovered: false } });
    }
    c1.send({ event: "m", data: 1, at: { r119: ["E", 120] } });
    c1.send({ event: "m", data: 1, at: { r119: ["E", 122] } }); // gap: resume
    const c2 = await server.next();
    const rooms = Object.keys(c2.resume?.rooms ?? {});
    expect(rooms).toHaveLength(100);
    expect(rooms).toContain("r119");
    expect(rooms).not.toContain("r0");
    expect(c2.url.searchParams.get("es_resume")!.length).toBeLessThanOrEqual(4096);
    client.close();
  });
});
