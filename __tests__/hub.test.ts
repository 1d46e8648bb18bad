// Hub: rooms, targets, the registry and delivery, on real Express apps with attach(), real ws
// clients and a real HTTP client for Server-Sent Events. Every transport of the package gets the
// message in its own encoding; a slow member never holds the others back; a closing socket
// leaves everything at once.

import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { WebSocket, type RawData } from "ws";
import { Channel } from "../lib/channels/channel";
import type { Codec } from "../lib/core/codec";
import { textCodec } from "../lib/core/codec";
import type { Socket } from "../lib/core/socket";
import { Hub, HubError, LocalAdapter, MAX_EVENT_NAME, type HubOptions } from "../lib/hub/index";
import type {
  Adapter,
  AdapterCallOptions,
  AdapterHost,
  DeliveryResult,
  Publication,
  Recovery,
  Selector,
  SocketInfo,
} from "../lib/hub/index";
import { sockets } from "../lib/sockets";
import { attach } from "../lib/websocket/upgrade";
import { failOnUnhandledRejections } from "./helpers/no-unhandled";
import { SseClient } from "./helpers/sse-client";
import { startServer } from "./helpers/bound-server";

failOnUnhandledRejections();

type AnySocket = Socket<unknown, unknown>;

interface Received {
  data: string;
  binary: boolean;
}

/** A real ws client that records every message. */
class Client {
  readonly got: Received[] = [];
  closeCode: number | null = null;
  readonly closed: Promise<number>;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: RawData, binary: boolean) => {
      this.got.push({ data: String(data), binary });
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code) => {
        this.closeCode = code;
        this.wake();
        resolve(code);
      }),
    );
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  get texts(): string[] {
    return this.got.map((m) => m.data);
  }

  /** Waits until `n` messages arrived (rejects after `ms`). */
  async until(n: number, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.got.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`client got ${this.got.length} of ${n} messages`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

interface Server {
  hub: Hub;
  base: string;
  logs: string[];
  /** The next socket the server bound (sockets arrive in connection order). */
  joined: Channel<AnySocket>;
  close(): Promise<void>;
}

const servers: Server[] = [];
const clients: Client[] = [];
const sses: SseClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const s of sses.splice(0)) s.req.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** An app whose routes join each socket to the rooms in `?rooms=a,b` and keep it open. */
async function start(
  options: HubOptions = {},
  socketOptions: { sendChannelBuffer?: number } = {},
): Promise<Server> {
  const logs: string[] = [];
  const sink = (line: string): void => {
    logs.push(line);
  };
  const logger = { error: sink, warn: sink, info: sink, debug: sink };
  const hub = new Hub({ logger, ...options });
  const joined = new Channel<AnySocket>(1000);
  const app = express();
  const o = { logger, logLevel: "warning" as const, ...socketOptions };
  const join = async (req: express.Request, socket: AnySocket): Promise<void> => {
    const rooms =
      typeof req.query.rooms === "string" && req.query.rooms !== ""
        ? req.query.rooms.split(",")
        : [];
    await hub.join(socket, ...rooms);
    joined.trySend(socket);
  };
  app.get("/json", sockets.json(undefined, o), (req, res) => join(req, res.locals.socket));
  app.get("/messages", sockets.messages(o), (req, res) => join(req, res.locals.socket));
  app.get("/bytes", sockets.bytes(o), (req, res) => join(req, res.locals.socket));
  app.get("/sse", sockets.sse({ logger, ...socketOptions }), (req, res) =>
    join(req, res.locals.socket),
  );
  const server = http.createServer(app);
  const upgrades = attach(server, app, { logger });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const s: Server = {
    hub,
    base: `127.0.0.1:${port}`,
    logs,
    joined,
    close: async () => {
      await hub.close();
      await upgrades.close({ timeout: 1000 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(s);
  return s;
}

/** Opens a client on `route` in `rooms`; resolves with it and its server socket once joined. */
async function open(
  s: Server,
  route: "json" | "messages" | "bytes",
  ...rooms: string[]
): Promise<[Client, AnySocket]> {
  const ws = new WebSocket(`ws://${s.base}/${route}?rooms=${rooms.join(",")}`);
  const client = new Client(ws);
  clients.push(client);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  const r = await s.joined.recv();
  return [client, r.value as AnySocket];
}

async function openSse(s: Server, ...rooms: string[]): Promise<[SseClient, AnySocket]> {
  const client = await SseClient.connect(`http://${s.base}/sse?rooms=${rooms.join(",")}`);
  sses.push(client);
  const r = await s.joined.recv();
  return [client, r.value as AnySocket];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const frame = (event: string, data: unknown) => JSON.stringify({ event, data });

describe("Hub rooms", () => {
  it("delivers a room's messages to its members only", async () => {
    const s = await start();
    const [a] = await open(s, "json", "red");
    const [b] = await open(s, "json", "red");
    const [c] = await open(s, "json", "blue");
    expect(await s.hub.to("red").emit("said", { text: "hi" })).toEqual({
      delivered: 2,
      closed: 0,
      dropped: 0,
      failed: 0,
    });
    await s.hub.to("blue").emit("said", { text: "blue only" });
    await Promise.all([a.until(1), b.until(1), c.until(1)]);
    expect(a.texts).toEqual([frame("said", { text: "hi" })]);
    expect(b.texts).toEqual([frame("said", { text: "hi" })]);
    expect(c.texts).toEqual([frame("said", { text: "blue only" })]); // never the red message
  });

  it("puts every socket in the room of its own id", async () => {
    const s = await start();
    const [a, sa] = await open(s, "json", "red");
    const [b] = await open(s, "json", "red");
    expect(s.hub.rooms(sa)).toEqual([sa.id, "red"]);
    await s.hub.to(sa.id).emit("private", 1);
    await s.hub.to("red").emit("public", 2);
    await Promise.all([a.until(2), b.until(1)]);
    expect(a.texts).toEqual([frame("private", 1), frame("public", 2)]);
    expect(b.texts).toEqual([frame("public", 2)]);
  });

  it("leaves out except(socket), and except(room), chained in any order", async () => {
    const s = await start();
    const [a, sa] = await open(s, "json", "red");
    const [b] = await open(s, "json", "red", "muted");
    const [c] = await open(s, "json", "red");
    const r1 = await s.hub.to("red").except(sa).emit("n", 1);
    const r2 = await s.hub.except("muted").to("red").except(sa.id).emit("n", 2);
    const r3 = await s.hub.except([sa, "muted"]).emit("n", 3); // everyone else in the hub
    expect([r1.delivered, r2.delivered, r3.delivered]).toEqual([2, 1, 1]);
    await s.hub.to("red").emit("end", null);
    await Promise.all([a.until(1), b.until(2), c.until(4)]);
    expect(a.texts).toEqual([frame("end", null)]);
    expect(b.texts).toEqual([frame("n", 1), frame("end", null)]);
    expect(c.texts).toEqual([frame("n", 1), frame("n", 2), frame("n", 3), frame("end", null)]);
  });

  it("gives a socket in several targeted rooms one copy", async () => {
    const s = await start();
    const [a] = await open(s, "json", "red", "blue", "green");
    const [b] = await open(s, "json", "blue");
    const result = await s.hub.to("red").to(["blue", "green"]).to("red").emit("once", true);
    expect(result.delivered).toBe(2);
    await s.hub.to("blue").emit("after", true);
    await Promise.all([a.until(2), b.until(2)]);
    expect(a.texts).toEqual([frame("once", true), frame("after", true)]);
    expect(b.texts).toEqual([frame("once", true), frame("after", true)]);
  });

  it("leaves rooms on leave(), and every named room on leave(socket)", async () => {
    const s = await start();
    const [a, sa] = await open(s, "json", "red", "blue", "green");
    s.hub.leave(sa, "red");
    expect(s.hub.rooms(sa)).toEqual([sa.id, "blue", "green"]);
    expect((await s.hub.to("red").emit("x", 1)).delivered).toBe(0);
    s.hub.leave(sa, sa.id, "not-a-member"); // its own room and rooms it is not in: ignored
    s.hub.leave(sa);
    expect(s.hub.rooms(sa)).toEqual([sa.id]);
    expect(s.hub.internals.rooms).toBe(0);
    expect((await s.hub.to(["blue", "green"]).emit("x", 2)).delivered).toBe(0);
    await s.hub.to(sa).emit("still", "mine");
    await a.until(1);
    expect(a.texts).toEqual([frame("still", "mine")]);
  });

  it("hub.emit and hub.send reach every socket of the hub", async () => {
    const s = await start();
    const [a] = await open(s, "json", "red");
    const [b] = await open(s, "json");
    expect((await s.hub.emit("all", [1])).delivered).toBe(2);
    expect((await s.hub.send({ plain: true })).delivered).toBe(2);
    await Promise.all([a.until(2), b.until(2)]);
    expect(b.texts).toEqual([frame("all", [1]), '{"plain":true}']);
  });
});

describe("Hub delivery", () => {
  it("gives each transport its own encoding of emit(): json, messages, bytes and SSE", async () => {
    const s = await start();
    const [j] = await open(s, "json", "mix");
    const [m] = await open(s, "messages", "mix");
    const [b] = await open(s, "bytes", "mix");
    const [e] = await openSse(s, "mix");
    const data = { text: "héllo\nworld", n: [1, 2] };
    expect(await s.hub.to("mix").emit("said", data)).toEqual({
      delivered: 4,
      closed: 0,
      dropped: 0,
      failed: 0,
    });
    await Promise.all([j.until(1), m.until(1), b.until(1), e.until(() => e.events.length >= 1)]);
    expect(j.got).toEqual([{ data: frame("said", data), binary: false }]);
    expect(m.got).toEqual([{ data: frame("said", data), binary: false }]);
    expect(b.got).toEqual([{ data: frame("said", data), binary: true }]);
    expect(e.events).toEqual([{ event: "said", data: JSON.stringify(data), id: "" }]);
  });

  it("sends send(message) as each socket's own sender would, counting those that cannot carry it", async () => {
    const s = await start();
    const [j] = await open(s, "json", "mix");
    const [m] = await open(s, "messages", "mix");
    const [b] = await open(s, "bytes", "mix");
    const [e] = await openSse(s, "mix");
    // A string: JSON text for json, itself for messages and SSE; bytes takes only Uint8Array.
    expect(await s.hub.to("mix").send("plain")).toEqual({
      delivered: 3,
      closed: 0,
      dropped: 0,
      failed: 1,
    });
    // An object: json and SSE only.
    expect(await s.hub.to("mix").send({ k: 1 })).toEqual({
      delivered: 2,
      closed: 0,
      dropped: 0,
      failed: 2,
    });
    // Bytes: bytes only (JSON of a Buffer is an object: json and SSE take it too).
    const r = await s.hub.to("mix").send(Buffer.from([0, 255]));
    expect(r).toEqual({ delivered: 3, closed: 0, dropped: 0, failed: 1 });
    await Promise.all([j.until(3), m.until(1), b.until(1), e.until(() => e.events.length >= 3)]);
    expect(j.texts).toEqual(['"plain"', '{"k":1}', JSON.stringify(Buffer.from([0, 255]))]);
    expect(m.texts).toEqual(["plain"]);
    expect(b.got[0]!.binary).toBe(true);
    expect([...Buffer.from(b.got[0]!.data, "latin1")].length).toBeGreaterThan(0);
    expect(e.events.map((x) => x.data)).toEqual([
      "plain",
      '{"k":1}',
      JSON.stringify(Buffer.from([0, 255])),
    ]);
    expect(
      s.logs.some((l) => /not sent to 1 socket\(s\) whose transport cannot carry it/.test(l)),
    ).toBe(true);
  });

  it("frames a message once per encoding, whatever the number of members", async () => {
    let encodes = 0;
    const base = textCodec();
    const counting: Codec<string, string> = {
      transport: "messages",
      decode: (d, bin) => base.decode(d, bin),
      encode: (v) => {
        encodes++;
        return base.encode(v);
      },
    };
    const srv = await startServer(counting);
    const hub = new Hub({ skipLogging: true });
    const ws = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const c = new Client(new WebSocket(srv.url));
        clients.push(c);
        await new Promise((resolve) => c.ws.once("open", resolve));
        return c;
      }),
    );
    for (let i = 0; i < 20; i++) await hub.join(await srv.nextConnection(), "all");
    expect((await hub.to("all").send("once")).delivered).toBe(20);
    expect(encodes).toBe(1);
    await Promise.all(ws.map((c) => c.until(1)));
    expect(ws.every((c) => c.texts[0] === "once")).toBe(true);
    await hub.close();
    await srv.close();
  });

  it("never waits on a member that stopped reading: it misses messages, the others get all", async () => {
    const s = await start({}, { sendChannelBuffer: 4 });
    const [slow, slowSocket] = await open(s, "messages", "room");
    const [fast] = await open(s, "messages", "room");
    // The slow client never reads again: the kernel buffers fill, then the server's backlog.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = { text: "x".repeat(64 * 1024) };
    const n = 300;
    let dropped = 0;
    const started = Date.now();
    for (let i = 0; i < n; i++) {
      const r: DeliveryResult = await s.hub.to("room").emit("big", big);
      expect(r.delivered + r.dropped).toBe(2);
      dropped += r.dropped;
      if (i % 20 === 0) await sleep(5); // let the fast client's socket drain as a real one would
    }
    await fast.until(n, 15000);
    expect(fast.got).toHaveLength(n); // the fast member got every one
    expect(dropped).toBeGreaterThan(0); // the slow one missed some
    expect(Date.now() - started).toBeLessThan(15000);
    const stats = (slowSocket as unknown as { stats: { broadcastsDropped: number } }).stats;
    expect(stats.broadcastsDropped).toBe(dropped);
    expect(s.logs.some((l) => /client too slow/.test(l))).toBe(true);
  });

  it("drops, counts and logs for an SSE member whose buffer is full", async () => {
    const s = await start({}, { sendChannelBuffer: 2 });
    const [sse] = await openSse(s, "room");
    sse.res.pause();
    const big = "y".repeat(256 * 1024);
    let dropped = 0;
    for (let i = 0; i < 60 && dropped === 0; i++)
      dropped += (await s.hub.to("room").emit("big", big)).dropped;
    expect(dropped).toBeGreaterThan(0);
    expect(s.logs.some((l) => /slow socket\(s\) missed a message/.test(l))).toBe(true);
  });
});

describe("Hub registry", () => {
  it("get, sockets, size, count and fetch see the hub's sockets, rooms and data", async () => {
    const s = await start();
    const [, sa] = await open(s, "json", "red", "blue");
    const [, sb] = await open(s, "messages", "red");
    const [, sc] = await openSse(s);
    sa.data.name = "ann";
    expect(s.hub.get(sa.id)).toBe(sa);
    expect(s.hub.get("nobody")).toBeUndefined();
    expect(s.hub.size).toBe(3);
    expect(s.hub.sockets()).toEqual([sa, sb, sc]);
    expect(s.hub.sockets("red")).toEqual([sa, sb]);
    expect(s.hub.sockets(sc.id)).toEqual([sc]);
    expect(await s.hub.count()).toBe(3);
    expect(await s.hub.count("red")).toBe(2);
    expect(await s.hub.count("nowhere")).toBe(0);
    expect(await s.hub.to("red").except(sa).count()).toBe(1);
    expect(await s.hub.fetch("blue")).toEqual([
      { id: sa.id, rooms: [sa.id, "red", "blue"], data: { name: "ann" } },
    ]);
    const all = await s.hub.fetch();
    expect(all.map((x) => x.id)).toEqual([sa.id, sb.id, sc.id]);
    expect(all[2]).toEqual({ id: sc.id, rooms: [sc.id], data: {} });
  });

  it("disconnects by id and by room with the given code, and says how many", async () => {
    const s = await start();
    const [a, sa] = await open(s, "json", "red");
    const [b] = await open(s, "json", "red");
    const [c] = await open(s, "json", "blue");
    const [e, se] = await openSse(s, "blue");
    expect(await s.hub.disconnect(sa.id, 4001)).toBe(1);
    expect(await a.closed).toBe(4001);
    expect(await s.hub.disconnect("red")).toBe(1); // a already left
    expect(await b.closed).toBe(1000);
    expect(await s.hub.disconnect("blue", 4002)).toBe(2);
    expect(await c.closed).toBe(4002);
    await e.closed;
    expect(e.ended).toBe(true);
    await se.done.recv();
    expect(await s.hub.disconnect("nobody")).toBe(0);
    // The server sees each close once the client's close frame (or FIN) arrives.
    for (let i = 0; i < 100 && s.hub.size > 0; i++) await sleep(10);
    expect(s.hub.size).toBe(0);
    expect(s.hub.internals).toEqual({ members: 0, ids: 0, rooms: 0 });
  });

  it("counts a member that is closing as closed, and skips it", async () => {
    const s = await start();
    const [a, sa] = await open(s, "json", "red");
    const [b] = await open(s, "json", "red");
    await sa.disconnect.send(4000);
    expect(await s.hub.to("red").emit("x", 1)).toEqual({
      delivered: 1,
      closed: 1,
      dropped: 0,
      failed: 0,
    });
    expect(await a.closed).toBe(4000);
    await b.until(1);
    expect(a.got).toEqual([]);
  });

  it("forgets a socket the moment it closes, on every transport", async () => {
    const s = await start();
    const [a, sa] = await open(s, "json", "red", "blue");
    const [, sb] = await open(s, "bytes", "red");
    const [e, se] = await openSse(s, "red");
    a.ws.close();
    await sa.done.recv();
    expect(s.hub.rooms(sa)).toEqual([]);
    expect(s.hub.get(sa.id)).toBeUndefined();
    expect(s.hub.sockets("red")).toEqual([sb, se]);
    e.req.destroy();
    await se.done.recv();
    expect(s.hub.sockets("red")).toEqual([sb]);
    expect(s.hub.internals).toEqual({ members: 1, ids: 1, rooms: 1 });
  });
});

describe("Hub targets joining and leaving", () => {
  it("puts every matching socket in rooms with to().join() and takes them out with leave()", async () => {
    const s = await start({ maxRoomsPerSocket: 2 });
    const [, sa] = await open(s, "json", "lobby");
    const [, sb] = await open(s, "json", "lobby", "x");
    const [, sc] = await open(s, "json", "elsewhere");
    // sb is in two rooms already: the join refuses it (logged), the others join.
    expect(await s.hub.to("lobby").join("game", ["game"])).toBe(1);
    expect(s.hub.rooms(sa)).toEqual([sa.id, "lobby", "game"]);
    expect(s.hub.rooms(sb)).toEqual([sb.id, "lobby", "x"]);
    expect(
      s.logs.some((l) => /to\(\)\.join: hub\.join: socket .* would be in 3 rooms/.test(l)),
    ).toBe(true);
    expect(await s.hub.except(sc).leave("lobby")).toBe(2);
    expect(s.hub.sockets("lobby")).toEqual([]);
    expect(s.hub.sockets("game")).toEqual([sa]);
    await expect(s.hub.to("game").join(5 as unknown as string)).rejects.toThrow(TypeError);
  });
});

describe("Hub and other hubs", () => {
  it("lets a socket be in several hubs; closing it leaves every one, and closing one hub leaves the others", async () => {
    const s = await start();
    const [a, sa] = await open(s, "json", "red");
    const [, sb] = await open(s, "json", "red");
    const other = new Hub({ skipLogging: true });
    const third = new Hub({ skipLogging: true });
    await other.join(sa, "blue");
    await other.join(sb, "blue");
    await third.join(sa, "green");
    await third.close(); // forgets sa there; sa stays in the other two
    expect(third.internals).toEqual({ members: 0, ids: 0, rooms: 0 });
    expect((await other.to("blue").emit("x", 1)).delivered).toBe(2);
    a.ws.close();
    await sa.done.recv();
    expect(s.hub.rooms(sa)).toEqual([]);
    expect(other.rooms(sa)).toEqual([]);
    expect(other.sockets("blue")).toEqual([sb]);
    expect(s.hub.sockets("red")).toEqual([sb]);
    await other.close();
  });
});

describe("Hub errors", () => {
  it("rejects a join of a socket that is closed", async () => {
    const s = await start();
    const [a, sa] = await open(s, "json");
    const hub2 = new Hub({ skipLogging: true });
    a.ws.close();
    await sa.done.recv();
    const err = await hub2.join(sa, "red").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubError);
    expect(err).toMatchObject({
      code: "ERR_HUB_SOCKET_CLOSED",
      message: `hub.join: socket ${sa.id} is closed`,
    });
    expect(hub2.internals).toEqual({ members: 0, ids: 0, rooms: 0 });
  });

  it("rejects a join of an object that is not a socket of this package", async () => {
    const hub = new Hub({ skipLogging: true });
    const fake = { id: "x", sender: new Channel(1), transport: "json" } as unknown as AnySocket;
    await expect(hub.join(fake, "red")).rejects.toThrow(
      new TypeError(
        "hub.join: expected a socket bound by express-sockets (res.locals.socket), got an object",
      ),
    );
    await expect(hub.join(null as unknown as AnySocket)).rejects.toThrow(TypeError);
    expect(hub.size).toBe(0);
  });

  it("rejects bad room names with what is wrong", async () => {
    const s = await start({ maxRoomNameLength: 8 });
    const [, sa] = await open(s, "json");
    await expect(s.hub.join(sa, 42 as unknown as string)).rejects.toThrow(
      new TypeError("hub.join: a room is a string or a socket, got number 42"),
    );
    await expect(s.hub.join(sa, "")).rejects.toThrow(
      new RangeError("hub.join: a room name must be 1 to 8 characters, got 0"),
    );
    await expect(s.hub.join(sa, "123456789")).rejects.toThrow(RangeError);
    expect(() => s.hub.to(undefined as unknown as string)).toThrow(
      new TypeError("hub.to(): a room is a string or a socket, got undefined undefined"),
    );
    expect(() => s.hub.except({} as unknown as string)).toThrow(/object without an id/);
    expect(() => s.hub.leave(sa, "")).toThrow(RangeError);
    expect(s.hub.rooms(sa)).toEqual([sa.id]);
  });

  it("refuses a join past maxRoomsPerSocket and joins none of its rooms", async () => {
    const s = await start({ maxRoomsPerSocket: 3 });
    const [, sa] = await open(s, "json", "a", "b");
    const err = await s.hub.join(sa, "b", "c", "d").catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "ERR_HUB_TOO_MANY_ROOMS",
      message: `hub.join: socket ${sa.id} would be in 4 rooms; maxRoomsPerSocket is 3`,
    });
    expect(s.hub.rooms(sa)).toEqual([sa.id, "a", "b"]);
    await s.hub.join(sa, "b", "c", sa.id); // rejoining and its own id do not count
    expect(s.hub.rooms(sa)).toEqual([sa.id, "a", "b", "c"]);
  });

  it("rejects bad event names and data that is not JSON", async () => {
    const hub = new Hub({ skipLogging: true });
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    await expect(hub.emit(7 as unknown as string, 1)).rejects.toThrow(
      new TypeError("hub emit: the event name must be a string, got number 7"),
    );
    await expect(hub.emit("", 1)).rejects.toThrow(RangeError);
    await expect(hub.emit("x".repeat(MAX_EVENT_NAME + 1), 1)).rejects.toThrow(RangeError);
    await expect(hub.emit("$ack", 1)).rejects.toThrow(/reserved/);
    await expect(hub.emit("a\nb", 1)).rejects.toThrow(/CR, LF or NUL/);
    await expect(hub.emit("e", loop)).rejects.toThrow(/not JSON-serialisable/);
    await expect(hub.emit("e", () => 1)).rejects.toThrow(/not JSON-serialisable \(function\)/);
    await expect(hub.to("r").disconnect(1006)).rejects.toThrow(RangeError);
  });

  it("rejects everything after close() with ERR_HUB_CLOSED", async () => {
    const s = await start();
    const [, sa] = await open(s, "json", "red");
    await s.hub.close();
    expect(s.hub.internals).toEqual({ members: 0, ids: 0, rooms: 0 });
    await expect(s.hub.join(sa, "red")).rejects.toMatchObject({ code: "ERR_HUB_CLOSED" });
    await expect(s.hub.emit("x", 1)).rejects.toMatchObject({ code: "ERR_HUB_CLOSED" });
    await expect(s.hub.count()).rejects.toMatchObject({ code: "ERR_HUB_CLOSED" });
    await s.hub.close(); // idempotent
  });

  it("checks its options and its adapter", () => {
    expect(() => new Hub({ maxRoomsPerSocket: -1 })).toThrow(RangeError);
    expect(() => new Hub({ timeout: "soon" as unknown as number })).toThrow(TypeError);
    expect(() => new Hub({ adapter: {} as Adapter })).toThrow(
      /options.adapter must implement Adapter: bind\(\) is missing/,
    );
    const shared = new LocalAdapter();
    new Hub({ adapter: shared, skipLogging: true });
    expect(() => new Hub({ adapter: shared })).toThrow(/already serves a Hub/);
  });
});

/**
 * Two hubs as two processes: an adapter pair over an in-memory bus, as a Redis adapter would
 * link them (every publication delivered by each hub's host; registry queries summed). A peer
 * marked `silent` never answers, as a process that died would.
 */
class Bus {
  readonly hosts: { host: AdapterHost; silent: boolean }[] = [];
}

class BusAdapter implements Adapter {
  private me: { host: AdapterHost; silent: boolean } | null = null;
  constructor(
    private readonly bus: Bus,
    private readonly silent = false,
  ) {}
  bind(host: AdapterHost): void {
    this.me = { host, silent: this.silent };
    this.bus.hosts.push(this.me);
  }
  async publish(p: Publication): Promise<DeliveryResult> {
    let mine: DeliveryResult | null = null;
    for (const h of this.bus.hosts) {
      // What crosses a process is plain data: prove it by sending a JSON copy to the others.
      const r =
        h === this.me
          ? h.host.deliver(p, null)
          : h.host.deliver(JSON.parse(JSON.stringify(p)) as Publication, null);
      if (h === this.me) mine = r;
    }
    return mine!;
  }
  subscribe(): Promise<void> {
    return Promise.resolve();
  }
  unsubscribe(): Promise<void> {
    return Promise.resolve();
  }
  recover(): Promise<Recovery> {
    return Promise.resolve({ recovered: false, position: null });
  }
  private async all<T>(ask: (h: AdapterHost) => T | Promise<T>, timeout: number): Promise<T[]> {
    return Promise.all(
      this.bus.hosts.map((h) =>
        h.silent
          ? new Promise<T>((_, reject) =>
              setTimeout(
                () =>
                  reject(
                    new HubError(
                      "ERR_HUB_TIMEOUT",
                      `a process did not answer within ${timeout} ms`,
                    ),
                  ),
                timeout,
              ),
            )
          : Promise.resolve(ask(h.host)),
      ),
    );
  }
  async count(s: Selector, o: AdapterCallOptions): Promise<number> {
    return (await this.all((h) => h.count(s), o.timeout)).reduce((a, b) => a + b, 0);
  }
  async fetch(s: Selector, o: AdapterCallOptions): Promise<SocketInfo[]> {
    return (await this.all((h) => h.fetch(s), o.timeout)).flat();
  }
  async disconnect(s: Selector, code: number, o: AdapterCallOptions): Promise<number> {
    return (await this.all((h) => h.disconnect(s, code), o.timeout)).reduce((a, b) => a + b, 0);
  }
  async addRooms(s: Selector, rooms: readonly string[], o: AdapterCallOptions): Promise<number> {
    return (await this.all((h) => h.addRooms(s, rooms), o.timeout)).reduce((a, b) => a + b, 0);
  }
  async removeRooms(s: Selector, rooms: readonly string[], o: AdapterCallOptions): Promise<number> {
    return (await this.all((h) => h.removeRooms(s, rooms), o.timeout)).reduce((a, b) => a + b, 0);
  }
  close(): Promise<void> {
    this.bus.hosts.splice(this.bus.hosts.indexOf(this.me!), 1);
    return Promise.resolve();
  }
}

describe("Hub across processes (two hubs linked by an adapter)", () => {
  it("delivers to, excludes, counts, fetches, joins and disconnects sockets of both", async () => {
    const bus = new Bus();
    const one = await start({ adapter: new BusAdapter(bus) });
    const two = await start({ adapter: new BusAdapter(bus) });
    const [a, sa] = await open(one, "json", "red");
    const [b, sb] = await open(two, "messages", "red");
    const [c] = await open(two, "bytes", "blue");
    sb.data.name = "bea";
    // except(socket) works across: one's own member is skipped, two's member gets it.
    expect(await one.hub.to("red").except(sa).emit("said", { text: "hi" })).toEqual({
      delivered: 0,
      closed: 0,
      dropped: 0,
      failed: 0,
    });
    await one.hub.to(sb.id).emit("direct", 1); // a socket id of the other process
    await two.hub.emit("all", 2);
    await Promise.all([a.until(1), b.until(3), c.until(1)]);
    expect(a.texts).toEqual([frame("all", 2)]);
    expect(b.texts).toEqual([frame("said", { text: "hi" }), frame("direct", 1), frame("all", 2)]);
    expect(c.got).toEqual([{ data: frame("all", 2), binary: true }]);
    expect(await one.hub.count("red")).toBe(2);
    expect(await one.hub.count()).toBe(3);
    expect(one.hub.size).toBe(1);
    expect((await one.hub.fetch("red")).map((x) => x.data)).toEqual([{}, { name: "bea" }]);
    expect(await one.hub.to("red").join("both")).toBe(2);
    expect(await two.hub.count("both")).toBe(2);
    expect(await one.hub.disconnect(sb.id, 4003)).toBe(1);
    expect(await b.closed).toBe(4003);
  });

  it("rejects a registry query with ERR_HUB_TIMEOUT when a process does not answer in time", async () => {
    const bus = new Bus();
    const one = await start({ adapter: new BusAdapter(bus), timeout: 50 });
    new Hub({ adapter: new BusAdapter(bus, true), skipLogging: true });
    const started = Date.now();
    await expect(one.hub.count()).rejects.toMatchObject({
      code: "ERR_HUB_TIMEOUT",
      message: "a process did not answer within 50 ms",
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("Hub adapter seam", () => {
  it("publishes through the adapter and tells it when rooms gain and lose their last member here", async () => {
    const calls: string[] = [];
    class Recording extends LocalAdapter {
      override subscribe(room: string): Promise<void> {
        calls.push(`subscribe ${room}`);
        return new Promise((resolve) => setTimeout(resolve, 20)); // join waits for it
      }
      override unsubscribe(room: string): Promise<void> {
        calls.push(`unsubscribe ${room}`);
        return Promise.resolve();
      }
    }
    const s = await start({ adapter: new Recording() });
    const [a, sa] = await open(s, "json", "red");
    const [, sb] = await open(s, "json", "red", "blue");
    expect(calls).toEqual(["subscribe red", "subscribe blue"]);
    await s.hub.to("red").emit("x", 1);
    await a.until(1);
    s.hub.leave(sb, "blue");
    a.ws.close();
    await sa.done.recv();
    expect(calls).toEqual(["subscribe red", "subscribe blue", "unsubscribe blue"]);
    s.hub.leave(sb);
    expect(calls.at(-1)).toBe("unsubscribe red");
  });

  it("rejects a join whose subscription fails, and leaves only the rooms it was joining", async () => {
    class Failing extends LocalAdapter {
      override subscribe(room: string): Promise<void> {
        return room === "red" ? Promise.reject(new Error("store away")) : Promise.resolve();
      }
    }
    const s = await start({ adapter: new Failing() });
    const [, sa] = await open(s, "json", "blue");
    await expect(s.hub.join(sa, "blue", "red", "green")).rejects.toMatchObject({
      code: "ERR_HUB_ADAPTER",
      message: "hub.join: the adapter could not subscribe: store away",
    });
    expect(s.hub.rooms(sa)).toEqual([sa.id, "blue"]);
    expect(s.hub.internals.rooms).toBe(1);
  });
});
