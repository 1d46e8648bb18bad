// permessage-deflate (RFC 7692) with a real negotiating client (ws's own): off by default,
// negotiated with `perMessageDeflate`, messages really compressed on the wire both ways,
// broadcast() correct and in order with compressed and uncompressed connections mixed, and
// `maxMessageSize` applied to the inflated size: a compression bomb is closed with 1009 long
// before it is inflated.

import zlib from "node:zlib";
import express from "express";
import { WebSocket, type ClientOptions, type RawData } from "ws";
import { sockets } from "../lib/sockets";
import { broadcast } from "../lib/websocket/broadcast";
import { ProtocolError } from "../lib/core/errors";
import type { Connection } from "../lib/websocket/connection";
import type { CloseInfo, Socket } from "../lib/core/socket";
import type { SocketOptions } from "../lib/core/options";
import { servePerTest } from "./fixtures/upgrade-server";

const serve = servePerTest();

interface Client {
  ws: WebSocket;
  /** Every message, as [isBinary, text]. */
  got: [boolean, string][];
  next(n: number): Promise<[boolean, string][]>;
  /** The Sec-WebSocket-Extensions header of the server's 101 ("" when none). */
  extensions: string;
  /** Bytes this client has read from its TCP socket (compressed size on the wire). */
  wireBytes(): number;
  closed: Promise<number>;
}

async function client(url: string, options: ClientOptions = {}): Promise<Client> {
  const ws = new WebSocket(url, options);
  ws.on("error", () => {});
  const got: [boolean, string][] = [];
  let wake: (() => void) | null = null;
  ws.on("message", (data: RawData, isBinary: boolean) => {
    got.push([isBinary, String(data)]);
    wake?.();
  });
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  let extensions = "";
  ws.once("upgrade", (res) => (extensions = res.headers["sec-websocket-extensions"] ?? ""));
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  const socket = (ws as unknown as { _socket: { bytesRead: number } })._socket;
  return {
    ws,
    got,
    extensions,
    async next(n) {
      while (got.length < n) await new Promise<void>((resolve) => (wake = resolve));
      return got.slice(0, n);
    },
    wireBytes: () => socket.bytesRead,
    closed,
  };
}

/** An echo route (messages) with these options. */
function echoApp(options: SocketOptions) {
  const app = express();
  const sockets_: Socket<string, string>[] = [];
  app.get("/echo", sockets.messages({ skipLogging: true, ...options }), async (_req, res) => {
    sockets_.push(res.locals.socket);
    const { receiver, sender } = res.locals.socket;
    for await (const m of receiver) await sender.send(m);
  });
  return { app, sockets: sockets_ };
}

const BIG = JSON.stringify(
  Array.from({ length: 600 }, (_, i) => ({ id: i, name: `user ${i}`, online: i % 3 === 0 })),
);

describe("perMessageDeflate", () => {
  it("is off by default: a client offering it gets no extension and uncompressed frames", async () => {
    const { app } = echoApp({});
    const served = await serve(app);
    const c = await client(served.url("/echo"), { perMessageDeflate: true });
    expect(c.ws.extensions).toBe("");
    const before = c.wireBytes();
    c.ws.send(BIG);
    expect(await c.next(1)).toEqual([[false, BIG]]);
    expect(c.wireBytes() - before).toBeGreaterThan(BIG.length);
    c.ws.close();
  });

  it("true: negotiated with a client that offers it, messages compressed both ways", async () => {
    const { app } = echoApp({ perMessageDeflate: true });
    const served = await serve(app);
    const c = await client(served.url("/echo"), { perMessageDeflate: true });
    expect(c.ws.extensions).toMatch(/^permessage-deflate/);
    const before = c.wireBytes();
    c.ws.send(BIG);
    c.ws.send("short");
    expect(await c.next(2)).toEqual([
      [false, BIG],
      [false, "short"],
    ]);
    // BIG is 21 KB of JSON; compressed it is a few KB.
    expect(c.wireBytes() - before).toBeLessThan(BIG.length / 3);
    c.ws.close();
  });

  it("true: a client that does not offer it is served uncompressed on the same route", async () => {
    const { app } = echoApp({ perMessageDeflate: true });
    const served = await serve(app);
    const c = await client(served.url("/echo"), { perMessageDeflate: false });
    expect(c.ws.extensions).toBe("");
    const before = c.wireBytes();
    c.ws.send(BIG);
    expect(await c.next(1)).toEqual([[false, BIG]]);
    expect(c.wireBytes() - before).toBeGreaterThan(BIG.length);
    c.ws.close();
  });

  it("takes ws's options object: no-context-takeover, window bits, and the threshold (which ws applies without context takeover)", async () => {
    const { app } = echoApp({
      perMessageDeflate: {
        threshold: 50_000,
        serverNoContextTakeover: true,
        serverMaxWindowBits: 10,
      },
    });
    const served = await serve(app);
    const c = await client(served.url("/echo"), { perMessageDeflate: true });
    expect(c.extensions).toMatch(/^permessage-deflate; .*server_no_context_takeover/);
    expect(c.extensions).toMatch(/server_max_window_bits=10/);
    const before = c.wireBytes();
    c.ws.send(BIG); // under the threshold: sent back uncompressed
    expect(await c.next(1)).toEqual([[false, BIG]]);
    expect(c.wireBytes() - before).toBeGreaterThan(BIG.length);
    c.ws.close();
  });

  it("warns when the factory is called with compression and no message size limit", () => {
    const lines: string[] = [];
    const logger = { error: (l: string) => lines.push(l), warn: (l: string) => lines.push(l) };
    sockets.messages({ perMessageDeflate: true, maxMessageSize: 0, logger });
    expect(lines).toEqual([expect.stringMatching(/sockets\.messages.*compression bomb/)]);
    lines.length = 0;
    sockets.messages({ perMessageDeflate: true, logger });
    sockets.messages({ maxMessageSize: 0, logger });
    expect(lines).toEqual([]);
  });

  it.each([
    [{ perMessageDeflate: "yes" }, TypeError, /boolean or ws's perMessageDeflate options/],
    [{ perMessageDeflate: { threshold: -1 } }, RangeError, /threshold/],
    [{ perMessageDeflate: { serverMaxWindowBits: 16 } }, RangeError, /from 8 to 15/],
    [{ perMessageDeflate: { clientMaxWindowBits: 7 } }, RangeError, /from 8 to 15 or true/],
    [{ perMessageDeflate: { serverNoContextTakover: true } }, TypeError, /is not an option/],
    [{ perMessageDeflate: { zlibDeflateOptions: 9 } }, TypeError, /zlib's options object/],
  ])("%j throws when the factory is called", (options, type, message) => {
    expect(() => sockets.bytes(options as SocketOptions)).toThrow(type);
    expect(() => sockets.bytes(options as SocketOptions)).toThrow(message);
  });
});

/** Waits until no connection of `room` has anything queued beyond ws's write buffer. */
async function drained(room: Socket<unknown, unknown>[]): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const busy = room.some((s) => {
      const stats = (s as Connection<unknown, unknown>).stats;
      return stats.sendPending > 0 || stats.bufferedAmount > 0;
    });
    if (!busy) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error("connections did not drain");
}

describe("broadcast() with compressed and uncompressed connections mixed", () => {
  it("every client gets every message, in order, with its own sends interleaved", async () => {
    const app = express();
    const room: Socket<string, string>[] = [];
    app.get(
      "/room",
      sockets.messages({ skipLogging: true, perMessageDeflate: true }),
      (_req, res) => {
        room.push(res.locals.socket);
      },
    );
    const served = await serve(app);
    const url = served.url("/room");
    const compressed = await Promise.all(
      [1, 2, 3].map(() => client(url, { perMessageDeflate: true })),
    );
    const plain = await Promise.all([1, 2, 3].map(() => client(url, { perMessageDeflate: false })));
    for (let i = 0; i < 100 && room.length < 6; i++) await new Promise((r) => setTimeout(r, 10));
    expect(compressed.every((c) => c.ws.extensions.startsWith("permessage-deflate"))).toBe(true);
    expect(plain.every((c) => c.ws.extensions === "")).toBe(true);

    const expected: string[] = [];
    const own = new Map(room.map((s) => [s, [] as string[]]));
    const before = [...compressed, ...plain].map((c) => c.wireBytes());
    for (let i = 0; i < 200; i++) {
      // Small ones and large compressible ones.
      const message = i % 4 === 0 ? `${i}:${BIG}` : `${i}`;
      expect(broadcast(room, message)).toEqual({ delivered: 6, closed: 0, dropped: 0 });
      expected.push(message);
      if (i % 10 === 5) {
        // A connection's own send lands between the broadcasts it was sent between.
        for (const s of room) {
          const mine = `own ${i} for ${room.indexOf(s)}`;
          void s.sender.send(mine);
          own.get(s)!.push(mine);
        }
      }
      // zlib compresses off the main thread: ws holds a compressed connection's messages until
      // it is done, so a long burst would fill its broadcast backlog (64) and drop, by design.
      // Let it drain after each large message instead.
      if (i % 4 === 0) await drained(room);
    }
    const perClient = 200 + 20;
    const all = [...compressed, ...plain];
    const got = await Promise.all(all.map((c) => c.next(perClient)));
    for (const [k, messages] of got.entries()) {
      expect(messages.every(([binary]) => !binary)).toBe(true);
      const texts = messages.map(([, t]) => t);
      expect(texts.filter((t) => !t.startsWith("own "))).toEqual(expected);
      const mine = texts.filter((t) => t.startsWith("own "));
      expect(mine).toHaveLength(20);
      for (const [j, t] of mine.entries()) {
        // own i comes right after broadcast i
        const i = Number(/^own (\d+)/.exec(t)![1]);
        expect(texts.indexOf(t)).toBe(i + 1 + j);
      }
      void k;
    }
    // The compressed clients read far fewer bytes for the same messages.
    const read = all.map((c, i) => c.wireBytes() - before[i]!);
    const total = expected.reduce((n, m) => n + m.length, 0);
    for (const r of read.slice(0, 3)) expect(r).toBeLessThan(total / 4);
    for (const r of read.slice(3)) expect(r).toBeGreaterThan(total);
    for (const c of all) c.ws.close();
  });

  it("a binary broadcast reaches compressed and plain bytes connections as binary", async () => {
    const app = express();
    const room: Socket<Buffer, Uint8Array>[] = [];
    app.get("/bin", sockets.bytes({ skipLogging: true, perMessageDeflate: true }), (_req, res) => {
      room.push(res.locals.socket);
    });
    const served = await serve(app);
    const a = await client(served.url("/bin"), { perMessageDeflate: true });
    const b = await client(served.url("/bin"), { perMessageDeflate: false });
    for (let i = 0; i < 100 && room.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const payload = Buffer.from(BIG);
    expect(broadcast(room, payload).delivered).toBe(2);
    expect(await a.next(1)).toEqual([[true, BIG]]);
    expect(await b.next(1)).toEqual([[true, BIG]]);
    a.ws.close();
    b.ws.close();
  });
});

/**
 * A permessage-deflate payload that inflates to `mib` MiB of zeros: the same sync-flushed deflate
 * segment (1 MiB of zeros, about 1 KB) repeated, without the trailing 00 00 ff ff (RFC 7692).
 */
function bomb(mib: number): Buffer {
  const segment = zlib.deflateRawSync(Buffer.alloc(1 << 20), {
    level: 9,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  return Buffer.concat(Array.from({ length: mib }, () => segment)).subarray(0, -4);
}

/** One masked (all-zero mask) compressed text frame: FIN, RSV1, opcode 1. */
function compressedFrame(payload: Buffer): Buffer {
  const head = Buffer.alloc(14);
  head[0] = 0x80 | 0x40 | 0x01;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(payload.length), 2);
  // bytes 10-13: the mask, zeros (XOR with zero leaves the payload as is)
  return Buffer.concat([head, payload]);
}

describe("maxMessageSize limits the inflated size", () => {
  it("closes a compression bomb (900 KB inflating to 900 MiB) with 1009 without inflating it", async () => {
    const app = express();
    const seen: { done: Promise<CloseInfo>; errors: Error[]; got: number } = {
      done: new Promise(() => {}),
      errors: [],
      got: 0,
    };
    app.get(
      "/bomb",
      sockets.messages({ skipLogging: true, perMessageDeflate: true, maxMessageSize: 1 << 20 }),
      (_req, res) => {
        const { done, error, receiver } = res.locals.socket;
        seen.done = done.recv().then((r) => r.value as CloseInfo);
        void (async () => {
          for await (const e of error) seen.errors.push(e);
        })();
        void (async () => {
          for await (const _ of receiver) seen.got++;
        })();
      },
    );
    const served = await serve(app);
    const c = await client(served.url("/bomb"), { perMessageDeflate: true });
    expect(c.ws.extensions).toMatch(/^permessage-deflate/);
    const payload = bomb(900);
    expect(payload.length).toBeLessThan(1 << 20); // passes the wire-size check
    let peak = 0;
    const base = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss - base);
    }, 2);
    const started = Date.now();
    (c.ws as unknown as { _socket: { write(b: Buffer): void } })._socket.write(
      compressedFrame(payload),
    );
    const code = await c.closed;
    const elapsed = Date.now() - started;
    clearInterval(sampler);
    expect(code).toBe(1009);
    expect(await seen.done).toEqual({ code: 1009, reason: "" });
    expect(seen.errors[0]).toBeInstanceOf(ProtocolError);
    expect((seen.errors[0] as ProtocolError).closeCode).toBe(1009);
    expect(seen.errors[0]!.message).toMatch(/Max payload size exceeded/);
    expect(seen.got).toBe(0);
    // Inflating it all takes about a second of CPU and 900 MiB; stopping at 1 MiB takes neither.
    expect(peak).toBeLessThan(200 * 1024 * 1024);
    expect(elapsed).toBeLessThan(5000);
  }, 20_000);

  it("closes a compressed message from the ws client that inflates past the limit with 1009", async () => {
    const { app, sockets: bound } = echoApp({ perMessageDeflate: true });
    const served = await serve(app);
    const c = await client(served.url("/echo"), { perMessageDeflate: true });
    const big = "a".repeat(200_000); // about 200 bytes compressed, 200 KB inflated
    c.ws.send("fits");
    c.ws.send(big);
    expect(await c.closed).toBe(1009);
    expect(c.got).toEqual([[false, "fits"]]);
    expect(await bound[0]!.done.recv()).toEqual({ value: { code: 1009, reason: "" }, done: false });
  });
});
