// The fragment limit (`maxFragments`): a message may arrive in at most that many frames, more
// closes the connection with 1008. Its default keeps an unfinished fragmented message near
// `maxMessageSize` in memory: at ws's own default (16,384) each pending fragment cost about
// 115 B of heap whatever its size, 1.9 MB per connection (issue #13, item 6).

import { execFile } from "node:child_process";
import path from "node:path";
import express from "express";
import { sockets } from "../lib/sockets";
import { defaultMaxFragments, resolveOptions } from "../lib/core/options";
import { ProtocolError } from "../lib/core/errors";
import type { CloseInfo } from "../lib/core/socket";
import { closed, open, servePerTest } from "./fixtures/upgrade-server";

const serve = servePerTest();

/** A route that records the errors and close of each connection. */
function recordingApp(options: Parameters<typeof sockets.messages>[0]) {
  const app = express();
  const seen: { errors: Error[]; done: Promise<CloseInfo>; got: string[] }[] = [];
  app.get("/ws", sockets.messages({ skipLogging: true, ...options }), (_req, res) => {
    const { error, done, receiver } = res.locals.socket;
    const entry = {
      errors: [] as Error[],
      got: [] as string[],
      done: done.recv().then((r) => r.value as CloseInfo),
    };
    seen.push(entry);
    void (async () => {
      for await (const e of error) entry.errors.push(e);
    })();
    void (async () => {
      for await (const m of receiver) entry.got.push(m);
    })();
  });
  return { app, seen };
}

describe("maxFragments", () => {
  it("defaults to one fragment per KiB of maxMessageSize, at least 64, ws's 16384 without a size limit", () => {
    expect(resolveOptions({}).maxFragments).toBe(64);
    expect(resolveOptions({ maxMessageSize: 1024 }).maxFragments).toBe(64);
    expect(resolveOptions({ maxMessageSize: 4 * 1024 * 1024 }).maxFragments).toBe(4096);
    expect(resolveOptions({ maxMessageSize: 1000 * 1024 + 1 }).maxFragments).toBe(1001);
    expect(resolveOptions({ maxMessageSize: 0 }).maxFragments).toBe(16_384);
    expect(resolveOptions({ maxFragments: 0 }).maxFragments).toBe(0);
    expect(defaultMaxFragments(65_536)).toBe(64);
  });

  it("rejects a bad value when the factory is called", () => {
    expect(() => sockets.messages({ maxFragments: -1 })).toThrow(RangeError);
    expect(() => sockets.messages({ maxFragments: 1.5 })).toThrow(/maxFragments/);
    expect(() => sockets.messages({ maxFragments: "8" as unknown as number })).toThrow(TypeError);
  });

  it("takes a message in exactly the default 64 fragments", async () => {
    const { app, seen } = recordingApp({});
    const served = await serve(app);
    const ws = await open(served.url("/ws"));
    for (let i = 0; i < 63; i++) ws.send(`${i % 10}`, { fin: false });
    ws.send("!", { fin: true });
    for (let i = 0; i < 100 && seen[0]?.got.length !== 1; i++) await pause(20);
    expect(seen[0]!.got).toEqual(["0123456789".repeat(7).slice(0, 63) + "!"]);
    ws.close();
  });

  it("closes with 1008 when a message comes in one fragment more than the default", async () => {
    const { app, seen } = recordingApp({});
    const served = await serve(app);
    const ws = await open(served.url("/ws"));
    const end = closed(ws);
    for (let i = 0; i < 64; i++) ws.send("x", { fin: false });
    ws.send("x", { fin: true });
    expect((await end).code).toBe(1008);
    expect(await seen[0]!.done).toEqual({ code: 1008, reason: "" });
    const error = seen[0]!.errors[0];
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).closeCode).toBe(1008);
    expect(error!.message).toMatch(/Too many message fragments/);
    expect(seen[0]!.got).toEqual([]);
  });

  it("follows an explicit limit, and 0 means none", async () => {
    const { app, seen } = recordingApp({ maxFragments: 3 });
    app.get("/unlimited", sockets.messages({ skipLogging: true, maxFragments: 0 }), (_r, res) => {
      void (async () => {
        for await (const m of res.locals.socket.receiver) {
          await res.locals.socket.sender.send(String(m.length));
        }
      })();
    });
    const served = await serve(app);
    const three = await open(served.url("/ws"));
    const end = closed(three);
    three.send("a", { fin: false });
    three.send("b", { fin: false });
    three.send("c", { fin: false });
    three.send("d", { fin: true });
    expect((await end).code).toBe(1008);
    expect(seen[0]!.got).toEqual([]);

    const many = await open(served.url("/unlimited"));
    const reply = new Promise<string>((resolve) => many.once("message", (d) => resolve(`${d}`)));
    for (let i = 0; i < 20_000; i++) many.send("y", { fin: false });
    many.send("z", { fin: true });
    expect(await reply).toBe("20001");
    many.close();
  });
});

/** Runs the pending-fragments fixture in a fresh process: bytes per connection, open count. */
function pendingFragments(
  limit: number | "default",
  fragments: number,
  size: number,
  n: number,
): Promise<{ perConnection: number; open: number }> {
  const script = path.join(__dirname, "fixtures", "pending-fragments.js");
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--expose-gc", script, String(limit), String(fragments), String(size), String(n)],
      { timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout.trim()) as { perConnection: number; open: number });
      },
    );
  });
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("memory of unfinished fragmented messages (fresh process, heap + ArrayBuffers)", () => {
  // Measured: 74-76 KB per connection for 64 x 1 KiB (the payload, 64 KiB, plus ~115 B a
  // fragment); 1.87 MB for 16,384 one-byte fragments under ws's default limit.
  it("stays within 1.25 x maxMessageSize per connection at the default limit, worst case", async () => {
    const worst = await pendingFragments("default", 64, 1024, 100);
    expect(worst.open).toBe(100);
    expect(worst.perConnection).toBeGreaterThan(65_536 * 0.9); // the payload is really held
    expect(worst.perConnection).toBeLessThan(65_536 * 1.25);
  }, 60_000);

  it("closes a client sending a thousand tiny fragments at the default; ws's limit let 16,384 hold 1.9 MB", async () => {
    const refused = await pendingFragments("default", 1000, 1, 40);
    expect(refused.open).toBe(0); // each got 1008 at its 65th fragment
    const old = await pendingFragments(16_384, 16_384, 1, 20);
    expect(old.open).toBe(20);
    expect(old.perConnection).toBeGreaterThan(1_000_000);
    // (What is left in the refused run is mostly the clients' own unsent frames, same process.)
    expect(refused.perConnection).toBeLessThan(old.perConnection / 10);
  }, 60_000);
});
