// sockets.frames(): both frame types on one route. A text frame arrives as a string and a binary
// frame as a Buffer; a string goes out as a text frame and bytes as a binary frame, so an echo
// sends back exactly what it was sent, and broadcast() keeps the type for frames connections
// mixed with messages and bytes ones.

import express from "express";
import { WebSocket, type RawData } from "ws";
import { sockets } from "../lib/sockets";
import { broadcast } from "../lib/websocket/broadcast";
import type { Socket } from "../lib/core/socket";
import { servePerTest } from "./fixtures/upgrade-server";

const serve = servePerTest();

interface Got {
  data: Buffer;
  isBinary: boolean;
}

/** A client that records each message with its frame type. */
async function client(
  url: string,
): Promise<{ ws: WebSocket; got: Got[]; next(n: number): Promise<Got[]> }> {
  const ws = new WebSocket(url);
  const got: Got[] = [];
  let wake: (() => void) | null = null;
  ws.on("message", (data: RawData, isBinary: boolean) => {
    got.push({ data: data as Buffer, isBinary });
    wake?.();
  });
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  return {
    ws,
    got,
    async next(n) {
      while (got.length < n) await new Promise<void>((resolve) => (wake = resolve));
      return got.slice(0, n);
    },
  };
}

describe("sockets.frames()", () => {
  it("echoes each frame with its own type: text as text, binary as binary, in order", async () => {
    const app = express();
    const kinds: string[] = [];
    app.get("/echo", sockets.frames({ skipLogging: true }), async (_req, res) => {
      const { receiver, sender } = res.locals.socket;
      for await (const m of receiver) {
        kinds.push(typeof m === "string" ? "string" : Buffer.isBuffer(m) ? "Buffer" : "other");
        await sender.send(m);
      }
    });
    const served = await serve(app);
    const c = await client(served.url("/echo"));
    c.ws.send("héllo");
    c.ws.send(Buffer.from([0, 255, 1]));
    c.ws.send(Buffer.from("text as bytes"), { binary: true });
    c.ws.send(""); // empty text frame
    c.ws.send(Buffer.alloc(0)); // empty binary frame
    const got = await c.next(5);
    expect(got.map((g) => [g.isBinary, [...g.data]])).toEqual([
      [false, [...Buffer.from("héllo")]],
      [true, [0, 255, 1]],
      [true, [...Buffer.from("text as bytes")]],
      [false, []],
      [true, []],
    ]);
    expect(kinds).toEqual(["string", "Buffer", "Buffer", "string", "Buffer"]);
    c.ws.close();
  });

  it("sends any Uint8Array view as binary (only its own bytes) and a string as text", async () => {
    const app = express();
    app.get("/out", sockets.frames({ skipLogging: true }), async (_req, res) => {
      const { sender } = res.locals.socket;
      const backing = new Uint8Array([9, 1, 2, 3, 9]);
      await sender.send(backing.subarray(1, 4));
      await sender.send("done");
    });
    const served = await serve(app);
    const c = await client(served.url("/out"));
    const got = await c.next(2);
    expect(got.map((g) => [g.isBinary, [...g.data]])).toEqual([
      [true, [1, 2, 3]],
      [false, [...Buffer.from("done")]],
    ]);
    c.ws.close();
  });

  it("rejects a send that is neither a string nor bytes, and keeps the connection", async () => {
    const app = express();
    const errors: unknown[] = [];
    app.get("/bad", sockets.frames({ skipLogging: true }), async (_req, res) => {
      const { sender } = res.locals.socket;
      for (const bad of [42, { a: 1 }, null]) {
        await (sender.send as (v: unknown) => Promise<void>)(bad).catch((e: unknown) =>
          errors.push(e),
        );
      }
      await sender.send("still open");
    });
    const served = await serve(app);
    const c = await client(served.url("/bad"));
    const [got] = await c.next(1);
    expect(String(got!.data)).toBe("still open");
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect(e).toBeInstanceOf(TypeError);
      expect(String(e)).toMatch(
        /sockets\.frames\(\) sends a string \(text frame\) or a Uint8Array/,
      );
    }
    c.ws.close();
  });

  it("closes with 1007 on a text frame that is not UTF-8, as RFC 6455 requires", async () => {
    const app = express();
    app.get("/echo", sockets.frames({ skipLogging: true }), async (_req, res) => {
      for await (const m of res.locals.socket.receiver) await res.locals.socket.sender.send(m);
    });
    const served = await serve(app);
    const c = await client(served.url("/echo"));
    const closed = new Promise<number>((resolve) => c.ws.once("close", (code) => resolve(code)));
    c.ws.send(Buffer.from([0xff, 0xfe]), { binary: false });
    expect(await closed).toBe(1007);
  });

  it("broadcast() keeps the type per connection: frames, messages and bytes routes mixed", async () => {
    const app = express();
    const room = new Set<Socket<unknown, string | Uint8Array>>();
    const join = (_req: unknown, res: { locals: { socket: Socket<unknown, never> } }) => {
      room.add(res.locals.socket as Socket<unknown, string | Uint8Array>);
    };
    app.get("/frames", sockets.frames({ skipLogging: true }), join);
    app.get("/text", sockets.messages({ skipLogging: true }), join);
    app.get("/bytes", sockets.bytes({ skipLogging: true }), join);
    const served = await serve(app);
    const f = await client(served.url("/frames"));
    const t = await client(served.url("/text"));
    const b = await client(served.url("/bytes"));
    for (let i = 0; i < 100 && room.size < 3; i++) await new Promise((r) => setTimeout(r, 10));
    const framesAndText = [...room].filter((s) => s.transport !== "bytes");
    const framesAndBytes = [...room].filter((s) => s.transport !== "messages");
    expect(broadcast(framesAndText, "to text")).toEqual({ delivered: 2, closed: 0, dropped: 0 });
    expect(broadcast(framesAndBytes, Buffer.from([7, 7]))).toEqual({
      delivered: 2,
      closed: 0,
      dropped: 0,
    });
    const fGot = await f.next(2);
    expect(fGot.map((g) => [g.isBinary, [...g.data]])).toEqual([
      [false, [...Buffer.from("to text")]],
      [true, [7, 7]],
    ]);
    expect((await t.next(1)).map((g) => [g.isBinary, String(g.data)])).toEqual([
      [false, "to text"],
    ]);
    expect((await b.next(1)).map((g) => [g.isBinary, [...g.data]])).toEqual([[true, [7, 7]]]);
    for (const c of [f, t, b]) c.ws.close();
  });
});
