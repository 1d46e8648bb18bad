// The connection binding against real sockets: a WebSocketServer on loopback, bind() in its
// `connection` event, real ws clients. Receiving, sending, invalid messages, closing.

import fc from "fast-check";
import { z } from "zod";
import { broadcast } from "../lib/websocket/broadcast";
import { bytesCodec, jsonCodec, textCodec } from "../lib/core/codec";
import { SEND_HIGH_WATER_MARK, type Connection } from "../lib/websocket/connection";
import {
  ChannelClosedError,
  InvalidMessageError,
  ProtocolError,
  SocketsError,
} from "../lib/core/errors";
import {
  closeClient,
  connect,
  startServer,
  type BoundServer,
  type TestClient,
} from "./helpers/bound-server";

const servers: BoundServer<unknown, unknown>[] = [];
const clients: TestClient[] = [];

async function serve<In, Out>(...args: Parameters<typeof startServer<In, Out>>) {
  const s = await startServer<In, Out>(...args);
  servers.push(s as unknown as BoundServer<unknown, unknown>);
  return s;
}

async function client(url: string, options?: Parameters<typeof connect>[1]) {
  const c = await connect(url, options);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map(closeClient));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Echoes every message back until the receiver closes. */
async function echo<T>(conn: Connection<T, T>): Promise<void> {
  for await (const m of conn.receiver) await conn.sender.send(m);
}

async function recv<T>(conn: Connection<T, unknown>): Promise<T> {
  const r = await conn.receiver.recv();
  if (r.done) throw new Error("receiver closed");
  return r.value;
}

async function nextError(conn: Connection<unknown, unknown>): Promise<Error> {
  const r = await conn.error.recv();
  if (r.done) throw new Error("error channel closed");
  return r.value;
}

describe("bind: receiving and sending", () => {
  it("echoes text messages in order on a messages route, as text frames", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    void echo(conn);
    for (let i = 0; i < 100; i++) c.ws.send(`m${i}`);
    await c.received(100);
    expect(c.messages.map((m) => m.data.toString())).toEqual(
      Array.from({ length: 100 }, (_, i) => `m${i}`),
    );
    expect(c.messages.every((m) => !m.isBinary)).toBe(true);
    expect(conn.transport).toBe("messages");
  });

  it("parses JSON on a json route and sends values as JSON text frames", async () => {
    const s = await serve(jsonCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send(JSON.stringify({ a: [1, 2, { b: "é" }] }));
    expect(await recv(conn)).toEqual({ a: [1, 2, { b: "é" }] });
    await conn.sender.send({ ok: true, n: 3 });
    await c.received(1);
    expect(c.messages[0]!.isBinary).toBe(false);
    expect(JSON.parse(c.messages[0]!.data.toString())).toEqual({ ok: true, n: 3 });
    expect(conn.transport).toBe("json");
  });

  it("delivers Buffers on a bytes route and sends any Uint8Array as binary frames", async () => {
    const s = await serve(bytesCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send(Buffer.from([0, 1, 2, 255]));
    const got = await recv(conn);
    expect(Buffer.isBuffer(got)).toBe(true);
    expect([...got]).toEqual([0, 1, 2, 255]);
    const backing = new Uint8Array([9, 8, 7, 6, 5]);
    await conn.sender.send(backing.subarray(1, 4));
    await c.received(1);
    expect(c.messages[0]!.isBinary).toBe(true);
    expect([...c.messages[0]!.data]).toEqual([8, 7, 6]);
  });

  it("buffers messages from the moment of bind, for a handler that reads late", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    for (let i = 0; i < 5; i++) c.ws.send(`early ${i}`);
    await waitFor(() => conn.stats.receivedPending === 5);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(await recv(conn));
    expect(got).toEqual(["early 0", "early 1", "early 2", "early 3", "early 4"]);
  });

  it("does not enforce the frame type: binary on a text route is UTF-8, text on a bytes route is bytes", async () => {
    const text = await serve(textCodec());
    const c1 = await client(text.url);
    const conn1 = await text.nextConnection();
    c1.ws.send(Buffer.from("héllo", "utf8"), { binary: true });
    expect(await recv(conn1)).toBe("héllo");

    const bytes = await serve(bytesCodec());
    const c2 = await client(bytes.url);
    const conn2 = await bytes.nextConnection();
    c2.ws.send("héllo");
    const got = await recv(conn2);
    expect(Buffer.isBuffer(got)).toBe(true);
    expect(got.equals(Buffer.from("héllo", "utf8"))).toBe(true);
  });

  it("gives each connection a distinct id", async () => {
    const s = await serve(textCodec());
    await client(s.url);
    await client(s.url);
    const a = await s.nextConnection();
    const b = await s.nextConnection();
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.id).not.toBe(b.id);
    expect(a.id).toBe(a.id);
  });

  it("rejects a send of a value the codec cannot encode and stays open", async () => {
    const s = await serve(jsonCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    await expect(conn.sender.send(10n)).rejects.toThrow(TypeError);
    await expect(conn.sender.send(undefined)).rejects.toThrow(TypeError);
    await conn.sender.send("still fine");
    await c.received(1);
    expect(c.messages[0]!.data.toString()).toBe('"still fine"');
  });
});

describe("bind: invalid messages", () => {
  it("reports invalid JSON on error with the raw text and an issue, and stays open", async () => {
    const s = await serve(jsonCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send("{not json");
    c.ws.send('{"after":1}');
    const err = await nextError(conn);
    expect(err).toBeInstanceOf(InvalidMessageError);
    expect(err).toBeInstanceOf(SocketsError);
    const e = err as InvalidMessageError;
    expect(e.code).toBe("ERR_INVALID_MESSAGE");
    expect(e.data).toBe("{not json");
    expect(e.issues.length).toBe(1);
    expect(e.closeCode).toBeUndefined();
    expect(await recv(conn)).toEqual({ after: 1 });
    expect(s.logs.some((l) => l.includes("ERR_INVALID_MESSAGE"))).toBe(true);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it("logs an invalid message on one line even when the client's text holds line breaks", async () => {
    const s = await serve(jsonCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send('{"a":\n[Error] forged line');
    const e = (await nextError(conn)) as InvalidMessageError;
    expect(e.data).toBe('{"a":\n[Error] forged line');
    const line = s.logs.find((l) => l.includes("ERR_INVALID_MESSAGE"));
    expect(line).toBeDefined();
    expect(line).not.toMatch(/[\r\n]/);
  });

  it("reports a zod failure with zod's issues and paths", async () => {
    const schema = z.object({ name: z.string(), age: z.number().int() });
    const s = await serve(jsonCodec(schema));
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send(JSON.stringify({ name: "ann", age: "old" }));
    c.ws.send(JSON.stringify({ name: "bob", age: 40 }));
    const e = (await nextError(conn)) as InvalidMessageError;
    expect(e).toBeInstanceOf(InvalidMessageError);
    expect(e.data).toBe('{"name":"ann","age":"old"}');
    expect(e.issues[0]!.path).toEqual(["age"]);
    const ok = await recv(conn);
    expect(ok).toEqual({ name: "bob", age: 40 });
  });

  it("keeps message order when an async schema takes longer for earlier messages", async () => {
    const schema = z.number().refine(async (n) => {
      await new Promise((r) => setTimeout(r, (20 - n) % 7));
      return n !== 13;
    });
    const s = await serve(jsonCodec(schema));
    const c = await client(s.url);
    const conn = await s.nextConnection();
    for (let i = 0; i < 20; i++) c.ws.send(String(i));
    const got: number[] = [];
    for (let i = 0; i < 19; i++) got.push(await recv(conn));
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i).filter((n) => n !== 13));
    const e = (await nextError(conn)) as InvalidMessageError;
    expect(e.data).toBe("13");
  });

  it("keeps order for any mix of sync and async validations, delays and rejections (property)", async () => {
    // Per message: [validation delay in ms (-1 = synchronous), accepted?]
    const plan = new Map<number, [number, boolean]>();
    const schema = {
      "~standard": {
        version: 1 as const,
        vendor: "test",
        validate(v: unknown) {
          const [delay, ok] = plan.get(v as number) ?? [-1, true];
          const result = ok ? { value: v as number } : { issues: [{ message: `no ${v}` }] };
          if (delay < 0) return result;
          return new Promise<typeof result>((r) => setTimeout(() => r(result), delay));
        },
      },
    };
    const s = await serve(jsonCodec(schema), { recvChannelBuffer: 2 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: -1, max: 4 }), fc.boolean()), {
          minLength: 1,
          maxLength: 25,
        }),
        async (steps) => {
          plan.clear();
          steps.forEach((step, i) => plan.set(i, step));
          const c = await client(s.url);
          const conn = await s.nextConnection();
          steps.forEach((_, i) => c.ws.send(String(i)));
          const accepted = steps.flatMap(([, ok], i) => (ok ? [i] : []));
          const got: unknown[] = [];
          for (let i = 0; i < accepted.length; i++) got.push(await recv(conn));
          expect(got).toEqual(accepted);
          // Errors come in message order too, reported in the turn of the message.
          const expectedRejected = steps.flatMap(([, ok], i) => (ok ? [] : [String(i)]));
          const rejected: unknown[] = [];
          while (rejected.length < expectedRejected.length) {
            rejected.push(((await conn.error.recv()).value as InvalidMessageError).data);
          }
          expect(rejected).toEqual(expectedRejected);
          await closeClient(c);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("reports a binary frame that is not UTF-8 on a text route with the raw bytes", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send(Buffer.from([0xff, 0xfe, 0x41]), { binary: true });
    c.ws.send("ok");
    const e = (await nextError(conn)) as InvalidMessageError;
    expect(e).toBeInstanceOf(InvalidMessageError);
    expect(Buffer.isBuffer(e.data)).toBe(true);
    expect([...(e.data as Buffer)]).toEqual([0xff, 0xfe, 0x41]);
    expect(await recv(conn)).toBe("ok");
  });

  it("closes with 1007 on an invalid message when closeOnInvalidMessage is set", async () => {
    const s = await serve(jsonCodec(), { closeOnInvalidMessage: true });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send("nope");
    expect((await c.closed).code).toBe(1007);
    const e = (await nextError(conn)) as InvalidMessageError;
    expect(e.code).toBe("ERR_INVALID_MESSAGE");
    expect(e.closeCode).toBe(1007);
    expect(await conn.closed).toEqual({ code: 1007, reason: "invalid message" });
  });

  it("closes with 1007 on a text frame holding invalid UTF-8 (a protocol error)", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send(Buffer.from([0x61, 0xc3, 0x28]), { binary: false });
    expect((await c.closed).code).toBe(1007);
    const e = await nextError(conn);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).code).toBe("ERR_PROTOCOL");
    expect((e as ProtocolError).closeCode).toBe(1007);
    expect(((e as ProtocolError).cause as { code: string }).code).toBe("WS_ERR_INVALID_UTF8");
    expect((await conn.closed).code).toBe(1007);
    await expect(conn.sender.send("late")).rejects.toBeInstanceOf(ChannelClosedError);
  });

  it("closes with 1009 on a message over maxPayload", async () => {
    const s = await serve(bytesCodec(), {}, { maxPayload: 1024 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send(Buffer.alloc(1025));
    expect((await c.closed).code).toBe(1009);
    const e = (await nextError(conn)) as ProtocolError;
    expect(e.closeCode).toBe(1009);
    expect((await conn.closed).code).toBe(1009);
  });

  it("keeps only the latest errors when nobody reads error, counting and logging the dropped", async () => {
    const s = await serve(jsonCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    for (let i = 0; i < 20; i++) c.ws.send(`bad ${i}`);
    c.ws.send("1");
    expect(await recv(conn)).toBe(1);
    expect(conn.stats.errorsDropped).toBe(4);
    expect(conn.error.length).toBe(16);
    expect(((await nextError(conn)) as InvalidMessageError).data).toBe("bad 4");
    // The first INVALID_LOG_BURST errors are logged, the others counted (receive-hardening);
    // the drops are summarised (the first, then every 100th).
    expect(s.logs.filter((l) => l.includes("ERR_INVALID_MESSAGE")).length).toBe(5);
    expect(s.logs.filter((l) => l.includes("dropped the oldest error")).length).toBe(1);
  });
});

describe("closing", () => {
  it("disconnect flushes queued sends, then closes with the code and reason", async () => {
    const s = await serve(textCodec(), { sendChannelBuffer: 1000 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    const big = "x".repeat(10_000);
    for (let i = 0; i < 500; i++) await conn.sender.send(`${i}:${big}`);
    expect(conn.stats.sendPending).toBeGreaterThan(0);
    await conn.disconnect.send({ code: 4000, reason: "bye" });
    expect(conn.sender.closed).toBe(true);
    const closed = await c.closed;
    expect(closed).toEqual({ code: 4000, reason: "bye" });
    expect(c.messages.length).toBe(500);
    expect(c.messages[499]!.data.toString().startsWith("499:")).toBe(true);
    expect(await conn.closed).toEqual({ code: 4000, reason: "bye" });
  });

  it("done yields one CloseInfo then closes; error closes; the receiver closes after draining", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.send("last words");
    await waitFor(() => conn.stats.receivedPending === 1);
    c.ws.close(1000, "client done");
    expect(await conn.done.recv()).toEqual({
      value: { code: 1000, reason: "client done" },
      done: false,
    });
    expect(await conn.done.recv()).toEqual({ value: undefined, done: true });
    expect(await conn.error.recv()).toEqual({ value: undefined, done: true });
    expect(await conn.receiver.recv()).toEqual({ value: "last words", done: false });
    expect(await conn.receiver.recv()).toEqual({ value: undefined, done: true });
    // A done channel first read after the close still reports it.
    expect(conn.done.closed).toBe(true);
  });

  it("the sender and disconnect reject or refuse after close", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.close();
    await conn.closed;
    await expect(conn.sender.send("x")).rejects.toBeInstanceOf(ChannelClosedError);
    expect(conn.sender.trySend("x")).toBe(false);
    await expect(conn.sender.whenWritable()).rejects.toBeInstanceOf(ChannelClosedError);
    expect(conn.disconnect.trySend(1000)).toBe(false);
    await expect(conn.disconnect.send(1000)).resolves.toBeUndefined();
  });

  it("rejects sends that were waiting when the connection closes", async () => {
    const s = await serve(textCodec(), { sendChannelBuffer: 0 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.pause();
    const big = "y".repeat(100_000);
    // Fill the kernel's buffers until ws itself holds data: then a send has to wait.
    while (conn.sender.trySend(big)) await new Promise((r) => setImmediate(r));
    const sends = [conn.sender.send(big), conn.sender.send(big)];
    const closing = conn.close(1000);
    const results = await Promise.allSettled(sends);
    expect(results.map((r) => r.status)).toContain("rejected");
    for (const r of results) {
      if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ChannelClosedError);
    }
    c.ws.resume();
    await closing;
    expect((await c.closed).code).toBe(1000);
  });

  it("maps 1005 to an empty close frame", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    await conn.disconnect.send(1005);
    expect((await c.closed).code).toBe(1005);
  });

  it("maps 1006 to terminate: no close frame, done reports 1006", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    await conn.disconnect.send(1006);
    expect((await c.closed).code).toBe(1006);
    expect(await conn.closed).toEqual({ code: 1006, reason: "" });
  });

  it("rejects close codes no close frame can carry, and over-long reasons, without closing", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    await expect(conn.disconnect.send(999)).rejects.toBeInstanceOf(RangeError);
    await expect(conn.disconnect.send(1004)).rejects.toBeInstanceOf(RangeError);
    await expect(conn.disconnect.send(5000)).rejects.toBeInstanceOf(RangeError);
    await expect(
      conn.disconnect.send({ code: 1000, reason: "é".repeat(62) }),
    ).rejects.toBeInstanceOf(RangeError);
    await expect(conn.close(2000)).rejects.toBeInstanceOf(RangeError);
    await conn.sender.send("still open");
    await c.received(1);
    expect(conn.disconnect.closed).toBe(false);
  });

  it("close(1001) sends queued messages before the close frame and resolves once closed", async () => {
    const s = await serve(jsonCodec(), { sendChannelBuffer: 50 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.pause();
    for (let i = 0; i < 50; i++) await conn.sender.send({ i, pad: "z".repeat(5000) });
    const closing = conn.close(1001, "going away", 5000);
    await expect(conn.sender.send({ late: true })).rejects.toBeInstanceOf(ChannelClosedError);
    c.ws.resume();
    await closing;
    expect(await c.closed).toEqual({ code: 1001, reason: "going away" });
    expect(c.messages.map((m) => JSON.parse(m.data.toString()).i)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it("completes the close handshake of a paused connection at once, discarding (counted, logged) what follows the close frame", async () => {
    const s = await serve(textCodec(), { recvChannelBuffer: 2 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    // The handler never reads: the receiver fills and reading pauses with data still unread.
    for (let i = 0; i < 500; i++) c.ws.send(`m${i}:${"x".repeat(1000)}`);
    await waitFor(() => conn.stats.paused);
    const started = Date.now();
    await conn.close(1001, "bye", 2000);
    const took = Date.now() - started;
    expect(took).toBeLessThan(1000);
    expect(await conn.closed).toEqual({ code: 1001, reason: "bye" });
    expect(await c.closed).toEqual({ code: 1001, reason: "bye" });
    // What was received before stays readable, in order; what came after the close frame and
    // found no room was discarded, and said so.
    const got: string[] = [];
    for await (const m of conn.receiver) got.push(m.split(":")[0]!);
    expect(got.length).toBeGreaterThanOrEqual(2);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => `m${i}`));
    expect(conn.stats.discarded).toBe(500 - got.length);
    expect(s.logs.some((l) => /message\(s\) discarded/.test(l))).toBe(true);
  });

  it("does not even validate what a paused connection receives after its close frame", async () => {
    const validated = new Set<number>(); // zod may run a refinement twice per value
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const schema = z.number().refine(async (n) => {
      validated.add(n);
      await gate; // the first validation holds the inbox, so reading pauses
      return true;
    });
    const s = await serve(jsonCodec(schema));
    const c = await client(s.url);
    const conn = await s.nextConnection();
    // 2 KB each: the inbox reaches its limit (INBOX_READ_LIMIT) and reading pauses.
    for (let i = 0; i < 300; i++) c.ws.send(String(i) + " ".repeat(2000));
    await waitFor(() => conn.stats.paused);
    // What waits behind the first message is kept undecoded: nothing validated yet.
    expect(validated.size).toBe(1);
    const before = conn.stats.receivedPending;
    expect(before).toBeLessThan(300);
    const started = Date.now();
    await conn.close(1000, "", 2000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await c.closed).toEqual({ code: 1000, reason: "" });
    release();
    // What arrived before the close frame is delivered (validated in its turn); what came
    // after it is discarded unvalidated.
    const got: unknown[] = [];
    for await (const m of conn.receiver) got.push(m);
    expect(got).toEqual(Array.from({ length: before }, (_, i) => i));
    expect(validated.size).toBe(before);
    expect(conn.stats.discarded).toBe(300 - before);
  });

  it("terminates a close that does not finish within its timeout, with ERR_CLOSE_TIMEOUT", async () => {
    const s = await serve(textCodec(), { sendChannelBuffer: 100 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.pause();
    const big = "q".repeat(64 * 1024);
    for (let i = 0; i < 100; i++) {
      if (!conn.sender.trySend(big)) break;
    }
    const started = Date.now();
    await conn.close(1001, "", 150);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await conn.closed).code).toBe(1006);
    const e = await nextError(conn);
    expect((e as SocketsError).code).toBe("ERR_CLOSE_TIMEOUT");
    expect(conn.stats.undelivered).toBeGreaterThan(0);
    await new Promise((r) => setImmediate(r));
    expect(s.logs.some((l) => l.includes("not delivered"))).toBe(true);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("bind: the client closes while the handler sends", () => {
  it("rejects sends once the client's close frame is read: a tight send loop yields and the close completes", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    let n = 0;
    c.ws.on("message", () => {
      if (++n === 3) c.ws.close(1000, "bye");
    });
    // Without the fix the loop spins in microtasks once ws is CLOSING: the event loop never
    // turns and the close never arrives. It is cut off after 100,000 sends past that point.
    let afterPeerClose = 0;
    let failure: unknown = null;
    try {
      for (;;) {
        await conn.sender.send("tick");
        if (conn.ws.readyState !== conn.ws.OPEN && ++afterPeerClose >= 100_000) break;
      }
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(ChannelClosedError);
    expect(afterPeerClose).toBeLessThanOrEqual(conn.sender.capacity + 1);
    expect(conn.sender.closed).toBe(true);
    expect(conn.sender.trySend("late")).toBe(false);
    expect(await conn.closed).toEqual({ code: 1000, reason: "bye" });
    expect(await c.closed).toEqual({ code: 1000, reason: "bye" });
  });

  it("treats a connection whose client closed (ws CLOSING) as closed for broadcast and whenWritable", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    // The client sends its close frame, then stops reading: the server stays in ws CLOSING.
    c.ws.close(1000);
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await waitFor(() => conn.ws.readyState === conn.ws.CLOSING);
    expect(conn.sender.closed).toBe(true);
    expect(broadcast([conn], "x")).toEqual({ delivered: 0, closed: 1, dropped: 0 });
    await expect(conn.sender.send("x")).rejects.toBeInstanceOf(ChannelClosedError);
    await expect(conn.sender.whenWritable()).rejects.toBeInstanceOf(ChannelClosedError);
    expect(conn.sender.trySend("x")).toBe(false);
    conn.terminate();
    // ws reports the code of the close frame it did receive.
    expect((await conn.closed).code).toBe(1000);
  });

  it("accepts at most a high-water mark of sends per tick when the socket is gone but ws does not know it yet", async () => {
    const s = await serve(textCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    // Destroyed under ws: writes fail on a later tick and bufferedAmount stays 0, while ws is
    // still OPEN until the socket's 'close' event (a later tick too). Sends must still wait
    // for the event loop after a bounded burst, so that 'close' can arrive and reject them.
    (conn.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
    let resolved = 0;
    let failure: unknown = null;
    try {
      for (; resolved < 50_000; resolved++) await conn.sender.send("tick");
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(ChannelClosedError);
    expect(resolved).toBeLessThanOrEqual(SEND_HIGH_WATER_MARK / 4 + conn.sender.capacity + 1);
    expect((await conn.closed).code).toBe(1006);
    expect(conn.stats.undelivered).toBeGreaterThan(0);
    await closeClient(c);
  });
});
