// Keep-alive and deadlines (Martini's pingPeriod/pongWait/writeWait) against real sockets:
// pings go out, silence ends the connection with 1006, a stuck write ends it too, and nothing
// (timers, listeners) is left behind once a connection is closed.

import { textCodec } from "../lib/core/codec";
import {
  keepAliveInterval,
  runningKeepAliveTimers,
  type Connection,
} from "../lib/websocket/connection";
import { TimeoutError } from "../lib/core/errors";
import {
  closeClient,
  connect,
  startServer,
  testOptions,
  type BoundServer,
  type TestClient,
} from "./helpers/bound-server";

const servers: BoundServer<string, string>[] = [];
const clients: TestClient[] = [];

async function serve(overrides: Parameters<typeof startServer>[1]) {
  const s = await startServer(textCodec(), overrides);
  servers.push(s);
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

async function nextError(conn: Connection<string, string>): Promise<Error> {
  const r = await conn.error.recv();
  if (r.done) throw new Error("error channel closed");
  return r.value;
}

describe("keep-alive", () => {
  it("pings every pingPeriod", async () => {
    const s = await serve({ pingPeriod: 30, pongWait: 1000 });
    const started = Date.now();
    const c = await client(s.url);
    const times: number[] = [];
    await new Promise<void>((resolve) =>
      c.ws.on("ping", () => {
        if (times.push(Date.now() - started) === 4) resolve();
      }),
    );
    // Four pings, one per period: not a burst, and not much later than 4 periods.
    expect(times[3]).toBeGreaterThanOrEqual(4 * 30 - 5);
    expect(times[3]).toBeLessThan(2000);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it("times a client out pongWait after the last ping it answered, not after its first", async () => {
    const s = await serve({ pingPeriod: 40, pongWait: 200 });
    const c = await client(s.url, { autoPong: false });
    const conn = await s.nextConnection();
    let answering = true;
    let lastAnswered = 0;
    let pings = 0;
    c.ws.on("ping", (data: Buffer) => {
      pings++;
      if (!answering) return;
      c.ws.pong(data);
      lastAnswered = Date.now();
    });
    // Answer for 600 ms, three times pongWait: the connection must stay up all along.
    await new Promise((r) => setTimeout(r, 600));
    expect(conn.done.length).toBe(0);
    expect(pings).toBeGreaterThanOrEqual(8);
    answering = false;
    await conn.done.recv();
    const after = Date.now() - lastAnswered;
    // pongWait after the last answered ping (give or take a sweep), not later than one ping
    // period past that.
    expect(after).toBeGreaterThanOrEqual(200 - 40 - 10);
    expect(after).toBeLessThan(200 + 40 + 200);
    const e = await nextError(conn);
    expect((e as TimeoutError).code).toBe("ERR_PONG_TIMEOUT");
  });

  it("with pings off, a client's own pings keep it alive, and its silence still ends it", async () => {
    const s = await serve({ pingPeriod: 0, pongWait: 120 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    const pinging = setInterval(() => c.ws.ping(), 20);
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(conn.done.length).toBe(0);
      expect(c.ws.readyState).toBe(c.ws.OPEN);
    } finally {
      clearInterval(pinging);
    }
    const stopped = Date.now();
    await conn.done.recv();
    // Between pongWait and twice that after the last frame (the ticker samples the socket).
    expect(Date.now() - stopped).toBeLessThan(2 * 120 + 150);
    expect(((await nextError(conn)) as TimeoutError).code).toBe("ERR_PONG_TIMEOUT");
  });

  it("listens for neither 'ping' nor 'pong' on the WebSocket (pongs are seen in its byte count)", async () => {
    const s = await serve({ pingPeriod: 30, pongWait: 150 });
    await client(s.url);
    const conn = await s.nextConnection();
    expect(conn.ws.listenerCount("ping")).toBe(0);
    expect(conn.ws.listenerCount("pong")).toBe(0);
    expect(conn.ws.eventNames().sort()).toEqual(["close", "error", "message"]);
  });

  it("keeps a client that answers pings alive past pongWait", async () => {
    const s = await serve({ pingPeriod: 30, pongWait: 150 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    await new Promise((r) => setTimeout(r, 500));
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    expect(conn.done.length).toBe(0);
  });

  it("sweeps often enough that a late ping still leaves time for the pong", () => {
    const logs: string[] = [];
    // Defaults: every 3 s (a quarter of the 12 s between the ping and the pong deadline).
    expect(
      keepAliveInterval(
        testOptions(logs, { pingPeriod: 48_000, pongWait: 60_000, writeWait: 60_000 }),
      ),
    ).toBe(3000);
    // A ping period close to pongWait: a quarter of the 5 s slack.
    expect(keepAliveInterval(testOptions(logs, { pingPeriod: 55_000, pongWait: 60_000 }))).toBe(
      1250,
    );
    // Far apart: 1/8 of the shortest period.
    expect(keepAliveInterval(testOptions(logs, { pingPeriod: 1000, pongWait: 60_000 }))).toBe(125);
    // Only a write deadline.
    expect(keepAliveInterval(testOptions(logs, { writeWait: 100 }))).toBe(12);
    expect(keepAliveInterval(testOptions(logs, {}))).toBe(Infinity);
    expect(keepAliveInterval(testOptions(logs, { pingPeriod: 3, pongWait: 4 }))).toBe(1);
  });

  it("terminates a client that stops answering pings: done reports 1006, ERR_PONG_TIMEOUT on error", async () => {
    const s = await serve({ pingPeriod: 20, pongWait: 80 });
    const started = Date.now();
    const c = await client(s.url, { autoPong: false });
    const conn = await s.nextConnection();
    expect(await conn.done.recv()).toEqual({ value: { code: 1006, reason: "" }, done: false });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(75);
    expect(elapsed).toBeLessThan(1000);
    const e = await nextError(conn);
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as TimeoutError).code).toBe("ERR_PONG_TIMEOUT");
    expect((e as TimeoutError).closeCode).toBe(1006);
    expect((await c.closed).code).toBe(1006); // no close frame reached the client
    expect(s.logs.some((l) => l.includes("ERR_PONG_TIMEOUT"))).toBe(true);
  });

  it("counts any frame from the client as life, not only pongs", async () => {
    const s = await serve({ pingPeriod: 30, pongWait: 200 });
    const c = await client(s.url, { autoPong: false });
    const conn = await s.nextConnection();
    const chatter = setInterval(() => c.ws.send("still here"), 20);
    try {
      await new Promise((r) => setTimeout(r, 600));
      expect(c.ws.readyState).toBe(c.ws.OPEN);
    } finally {
      clearInterval(chatter);
    }
    expect(conn.done.length).toBe(0);
  });

  it("does not time out a client whose messages wait because the handler is not reading", async () => {
    const s = await serve({ pingPeriod: 30, pongWait: 150, recvChannelBuffer: 1 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    const big = "b".repeat(60_000);
    for (let i = 0; i < 200; i++) c.ws.send(big);
    await new Promise((r) => setTimeout(r, 300));
    expect(conn.stats.paused).toBe(true);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });

  it("ends the connection when the client vanishes (its socket destroyed)", async () => {
    const s = await serve({ pingPeriod: 1000, pongWait: 5000 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    (c.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
    expect(await conn.closed).toEqual({ code: 1006, reason: "" });
    expect(await conn.receiver.recv()).toEqual({ value: undefined, done: true });
  });
});

describe("write timeout", () => {
  it("terminates a connection whose client stops reading, with ERR_WRITE_TIMEOUT", async () => {
    const s = await serve({ writeWait: 100, sendChannelBuffer: 2 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    c.ws.pause(); // the client stops reading: the kernel buffers fill, then ws's
    const big = "w".repeat(256 * 1024);
    const sending = (async () => {
      for (;;) await conn.sender.send(big);
    })();
    await expect(sending).rejects.toThrow("send on closed channel");
    const e = await nextError(conn);
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as TimeoutError).code).toBe("ERR_WRITE_TIMEOUT");
    expect((await conn.closed).code).toBe(1006);
  });

  it("does not time out a slow reader that keeps making progress", async () => {
    const s = await serve({ writeWait: 150, sendChannelBuffer: 2 });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    const big = "s".repeat(128 * 1024);
    const sending = (async () => {
      for (let i = 0; i < 60; i++) await conn.sender.send(big);
    })();
    // Read in bursts with pauses shorter than writeWait.
    const reader = setInterval(() => {
      if (c.ws.isPaused) c.ws.resume();
      else c.ws.pause();
    }, 40);
    try {
      await sending;
      await c.received(60);
    } finally {
      clearInterval(reader);
      c.ws.resume();
    }
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });
});

describe("cleanup", () => {
  it("leaves no timers or listeners behind once connections close", async () => {
    expect(runningKeepAliveTimers()).toBe(0);
    const s = await serve({ pingPeriod: 1000, pongWait: 2000, writeWait: 1000 });
    const c1 = await client(s.url);
    const c2 = await client(s.url);
    const a = await s.nextConnection();
    const b = await s.nextConnection();
    await a.sender.send("hello");
    await c1.received(1);
    expect(runningKeepAliveTimers()).toBe(1); // one interval for both connections
    await a.close(1000, "", 5000); // arms a close timer too
    c2.ws.close();
    await Promise.all([b.closed, c1.closed, c2.closed]);
    expect(runningKeepAliveTimers()).toBe(0);
    expect(a.ws.listenerCount("message")).toBe(0);
    expect(a.ws.listenerCount("close")).toBe(1); // ws's own (its server's client set)
    expect(b.ws.listenerCount("pong")).toBe(0);
    expect(b.ws.listenerCount("ping")).toBe(0);
  });
});
