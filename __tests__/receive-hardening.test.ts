// What one hostile or broken client can do to the receive side: a flood of invalid messages,
// invalid messages after a 1007, huge invalid messages left on `error`, and a client that hangs
// while the route is not reading. Real ws clients on loopback against bound connections.

import { spawn } from "node:child_process";
import { jsonCodec, textCodec } from "../lib/core/codec";
import { InvalidMessageError, TimeoutError } from "../lib/core/errors";
import { INVALID_DATA_PREFIX } from "../lib/core/errors";
import type { Connection } from "../lib/websocket/connection";
import {
  closeClient,
  connect,
  startServer,
  type BoundServer,
  type TestClient,
} from "./helpers/bound-server";
import { measureLoopDelay } from "./helpers/loop-delay";

const servers: BoundServer<unknown, unknown>[] = [];
const clients: TestClient[] = [];

async function serve(
  codec: Parameters<typeof startServer>[0],
  overrides: Parameters<typeof startServer>[1] = {},
) {
  const s = (await startServer(codec, overrides)) as BoundServer<unknown, unknown>;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(5);
  }
}

const invalidLines = (logs: string[]) => logs.filter((l) => l.includes("ERR_INVALID_MESSAGE"));

describe("a flood of invalid messages", () => {
  it("does not stall the event loop: invalid messages count against receive backpressure", async () => {
    const s = await serve(jsonCodec());
    const N = 100_000;
    // The flooding client runs in its own process, as an attacker's would.
    const script = `
      const { WebSocket } = require(${JSON.stringify(require.resolve("ws"))});
      const ws = new WebSocket(${JSON.stringify(s.url)});
      ws.on("error", () => {});
      ws.on("open", () => { for (let i = 0; i < ${N}; i++) ws.send("{"); });
      ws.on("close", () => process.exit(0));
    `;
    const child = spawn(process.execPath, ["-e", script], { stdio: "ignore" });
    try {
      const conn = await s.nextConnection();
      const delay = await measureLoopDelay();
      // The handler never reads `error`: it holds the last 16, the rest are dropped (counted).
      await waitFor(() => conn.stats.errorsDropped + conn.error.length === N, 60_000);
      // p99 under 50 ms on an idle machine (unfixed: seconds). On a loaded one, the work of one
      // read (ws parsing ~9,000 frames of a 64 KiB chunk) stretches with the contention that an
      // idle control process measured in the same window shows as its own jitter.
      const { p99, control } = await delay.stop();
      expect(p99).toBeLessThan(50 + 2 * control);
      expect(conn.stats.receivedPending).toBe(0);
      await conn.close(1000);
      // The log was not flooded: a few lines, then counts of what was left out.
      const lines = invalidLines(s.logs);
      expect(lines.length).toBeLessThan(50);
      expect(s.logs.some((l) => /invalid-message warning\(s\) suppressed/.test(l))).toBe(true);
    } finally {
      child.kill();
    }
  }, 90_000);

  it("rate-limits the warnings per connection and logs how many it left out", async () => {
    const s = await serve(jsonCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    for (let i = 0; i < 1000; i++) c.ws.send("not json");
    await waitFor(() => conn.stats.errorsDropped + conn.error.length === 1000);
    c.ws.close();
    await conn.closed;
    await sleep(20);
    const lines = invalidLines(s.logs);
    expect(lines.length).toBeLessThanOrEqual(10);
    const counts = s.logs
      .map((l) => /(\d+) invalid-message warning\(s\) suppressed/.exec(l))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]));
    // Every suppressed warning is accounted for: logged lines + counted ones = all of them.
    expect(lines.length + counts.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it("stops decoding once closing with closeOnInvalidMessage: one report, the rest discarded", async () => {
    const s = await serve(jsonCodec(), { closeOnInvalidMessage: true });
    const c = await client(s.url);
    const conn = await s.nextConnection();
    for (let i = 0; i < 2000; i++) c.ws.send(`bad ${i}`);
    expect((await c.closed).code).toBe(1007);
    await conn.closed;
    await sleep(20);
    expect(invalidLines(s.logs)).toHaveLength(1);
    expect(conn.error.length).toBe(1);
    expect(conn.stats.discarded).toBeGreaterThan(0);
  });
});

describe("InvalidMessageError on `error`", () => {
  it("keeps a bounded prefix of the raw data and the full length, not the whole message", async () => {
    const s = await serve(jsonCodec());
    const c = await client(s.url);
    const conn = await s.nextConnection();
    const big = "{" + "x".repeat(60_000);
    c.ws.send(big);
    c.ws.send(Buffer.from([0xff, ...Buffer.alloc(50_000, 1)]), { binary: true });
    const e1 = (await conn.error.recv()).value as InvalidMessageError;
    const e2 = (await conn.error.recv()).value as InvalidMessageError;
    expect(e1).toBeInstanceOf(InvalidMessageError);
    expect(e1.size).toBe(big.length);
    expect(typeof e1.data).toBe("string");
    expect(e1.data.length).toBeLessThanOrEqual(INVALID_DATA_PREFIX);
    expect(e1.data).toBe(big.slice(0, e1.data.length));
    expect(e2.size).toBe(50_001);
    expect(Buffer.isBuffer(e2.data)).toBe(true);
    expect(e2.data.length).toBe(INVALID_DATA_PREFIX);
    // A copy, not a view that would keep the 50 KB message alive.
    expect((e2.data as Buffer).buffer.byteLength).toBeLessThan(8192 + INVALID_DATA_PREFIX);
  });

  it("keeps a short message whole", () => {
    const e = new InvalidMessageError("bad", "{x", []);
    expect(e.data).toBe("{x");
    expect(e.size).toBe(2);
    const cut = new InvalidMessageError("bad", "é".repeat(1000), []);
    // Cut at a character, within the byte bound.
    expect(Buffer.byteLength(cut.data as string)).toBeLessThanOrEqual(INVALID_DATA_PREFIX);
    expect(cut.size).toBe(2000);
  });
});

describe("a client that hangs while the route is not reading", () => {
  it("is ended within pongWait although reading is paused", async () => {
    const s = await serve(textCodec(), { pingPeriod: 100, pongWait: 400, recvChannelBuffer: 1 });
    const c = await client(s.url, { autoPong: false }); // answers no ping: hung
    const conn = (await s.nextConnection()) as Connection<string, string>;
    for (let i = 0; i < 20; i++) c.ws.send(`m${i}`);
    await waitFor(() => conn.stats.receivedPending >= 2);
    const started = Date.now();
    const info = await conn.closed;
    expect(info.code).toBe(1006);
    expect(Date.now() - started).toBeLessThan(2000);
    const errors: Error[] = [];
    for await (const e of conn.error) errors.push(e);
    expect(errors.some((e) => e instanceof TimeoutError && e.code === "ERR_PONG_TIMEOUT")).toBe(
      true,
    );
    // What it sent before it hung is still there to read, in order.
    const got: string[] = [];
    for await (const m of conn.receiver) got.push(m);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
  });

  it("is not ended while it answers pings, however long the route does not read", async () => {
    const s = await serve(textCodec(), { pingPeriod: 100, pongWait: 400, recvChannelBuffer: 1 });
    const c = await client(s.url);
    const conn = (await s.nextConnection()) as Connection<string, string>;
    for (let i = 0; i < 20; i++) c.ws.send(`m${i}`);
    await sleep(1500);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    expect(conn.stats.receivedPending).toBe(20);
  });

  it("is ended when it vanishes (its socket destroyed) while the route is not reading", async () => {
    const s = await serve(textCodec(), { pingPeriod: 100, pongWait: 400, recvChannelBuffer: 1 });
    const c = await client(s.url);
    const conn = (await s.nextConnection()) as Connection<string, string>;
    for (let i = 0; i < 20; i++) c.ws.send(`m${i}`);
    await waitFor(() => conn.stats.receivedPending >= 2);
    (c.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
    const started = Date.now();
    expect((await conn.closed).code).toBe(1006);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
