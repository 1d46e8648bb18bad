// sockets.tail and watchFile over real WebSocket and SSE connections to real files: backlog,
// live appends, partial lines, split characters, a 50 MB file whole, resume without duplicates,
// 100 clients through one follower, the slow-client policy, and bad input.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { launchBrowser } from "./helpers/browser";
import { bytes, json, messages } from "../lib/websocket/factory";
import { liveFollowers } from "../lib/tail/follower";
import { sse, type SseSocket } from "../lib/sse/sse";
import { tail, TAIL_BAD_OFFSET, TAIL_TOO_SLOW, watchFile } from "../lib/tail/tail";
import { Channel } from "../lib/channels/channel";
import type { CloseInfo, DisconnectRequest, Socket } from "../lib/core/socket";
import { SseClient } from "./helpers/sse-client";
import {
  noFollowers,
  numbered,
  startApp,
  subscribed,
  tempDir,
  WsClient,
  type TestApp,
} from "./helpers/tail-server";

v8.setFlagsFromString("--expose-gc");

/** Stops reading from the client's TCP socket (the server's writes then back up). */
function pauseSocket(c: WsClient): void {
  c.ws.pause();
}

function resumeSocket(c: WsClient): void {
  c.ws.resume();
}

let dir: string;
let file: string;
let streams: SseSocket[] = [];
let app: TestApp;
const clients: { close(): Promise<void> }[] = [];
const closes: CloseInfo[] = [];

function ws(route: string, binary = false): WsClient {
  const c = new WsClient(`${app.ws}${route}`, binary);
  clients.push(c);
  return c;
}

async function sseClient(route: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const c = await SseClient.connect(`${app.http}${route}`, headers);
  clients.push(c);
  return c;
}

beforeEach(async () => {
  dir = await tempDir("tail-");
  file = path.join(dir, "app.log");
  await fsp.writeFile(file, numbered(1, 30));
  closes.length = 0;
  streams = [];
  app = await startApp((a, logger) => {
    const o = { logger, logLevel: "debug" as const };
    a.get("/messages", messages(), tail(file, o));
    a.get("/json", json(), tail(file, o));
    a.get("/bytes", bytes(), tail(file, o));
    a.get("/none", messages(), tail(file, { ...o, lines: 0 }));
    a.get("/three", messages(), tail(file, { ...o, lines: 3 }));
    a.get("/start", bytes(), tail(file, { ...o, from: "start" }));
    a.get("/small", messages(), tail(file, { ...o, lines: 0, maxMessageBytes: 16 }));
    a.get("/events", sse(), tail(file, o));
    a.get(
      "/slow",
      messages({ writeWait: 0 }),
      tail(file, { ...o, lines: 0, maxQueueBytes: 256 * 1024 }),
    );
    a.get("/watch", messages(), async (_req, res) => {
      const info = await watchFile(file, res.locals.socket, { lines: 1 });
      if (info !== undefined) closes.push(info);
    });
    a.get("/abort", messages(), async (_req, res) => {
      const socket = res.locals.socket;
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const result = await watchFile(file, socket, { lines: 1, signal: controller.signal });
      await socket.sender.send(`watchFile resolved with ${String(result)}\n`);
    });
    a.get("/nosocket", tail(file));
    a.get(
      "/flaky-events",
      sse({ retry: 50, logger }),
      (_req, res, next) => {
        streams.push(res.locals.socket); // the test cuts the first one; EventSource reconnects
        next();
      },
      tail(file, { logger, lines: 0 }),
    );
    a.get("/page", (_req, res) => {
      res.type("html").send(`<!doctype html><script>
        window.received = [];
        window.opens = 0;
        const source = new EventSource("/flaky-events");
        source.onopen = () => { window.opens++; };
        source.onmessage = (e) => { window.received.push([e.lastEventId, e.data]); };
      </script>`);
    });
  });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await app.close();
  await noFollowers();
  await fsp.rm(dir, { recursive: true, force: true });
});

/** Streams the file from the start, pausing the client at 5 MB; what arrived and what was held. */
async function streamWhole(
  gc: () => void,
  size: number,
): Promise<{ received: number; digest: string; held: number }> {
  gc();
  const base = process.memoryUsage().arrayBuffers;
  const c = new WsClient(`${app.ws}/start`, true);
  clients.push(c);
  const got = createHash("sha256");
  let received = 0;
  // Its own flag: the memory measured below can be negative (a GC frees what the baseline
  // counted), and a "held < 0" sentinel then paused the client again for good after the resume.
  let pausedOnce = false;
  const paused = new Promise<void>((resolve) => {
    c.ws.on("message", (data: Buffer) => {
      got.update(data);
      received += data.length;
      c.messages.length = 0; // keep nothing: what is measured is the server's
      if (!pausedOnce && received >= 5 * 1024 * 1024) {
        pausedOnce = true;
        pauseSocket(c);
        resolve();
      }
    });
  });
  await paused;
  // The client stopped reading at 5 MB: the server must be waiting, not reading ahead.
  // ArrayBuffers are swept concurrently after a GC: take the lowest of a few measurements.
  let held = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 60));
    gc();
    held = Math.min(held, process.memoryUsage().arrayBuffers - base);
  }
  resumeSocket(c);
  await c.until(() => received >= size, 20_000, "50 MB");
  return { received, digest: got.digest("hex"), held };
}

describe("sockets.tail over WebSocket", () => {
  it("starts with the last 10 lines, then follows appends as whole-line messages", async () => {
    const c = ws("/messages");
    await c.receive(numbered(21, 10));
    await fsp.appendFile(file, numbered(31, 2));
    await c.receive(numbered(21, 12));
    for (const m of c.messages) expect(m.slice(-1)).toBe("\n");
  });

  it("honours lines: 0 (new data only) and lines: 3", async () => {
    const none = ws("/none");
    const three = ws("/three");
    await Promise.all([none.opened(), three.opened()]);
    await three.receive(numbered(28, 3));
    await subscribed(2);
    await fsp.appendFile(file, "fresh\n");
    await none.receive("fresh\n");
    await three.receive(numbered(28, 3) + "fresh\n");
  });

  it("holds a partial line until its newline, and never splits a UTF-8 character", async () => {
    const c = ws("/none");
    await c.opened();
    await subscribed(1);
    const line = Buffer.from("price: 5 € — naïve ✓\n");
    const euro = line.indexOf(Buffer.from("€"));
    await fsp.appendFile(file, line.subarray(0, euro + 1)); // ends inside "€"
    await new Promise((r) => setTimeout(r, 100));
    expect(c.messages).toEqual([]);
    await fsp.appendFile(file, line.subarray(euro + 1));
    await c.receive(line.toString());
    expect(c.text()).not.toContain("\ufffd");
  });

  it("does not replay an unfinished last line, and sends it whole once finished", async () => {
    await fsp.writeFile(file, "a\nb\nunfini");
    const c = ws("/messages");
    await c.receive("a\nb\n");
    await fsp.appendFile(file, "shed\n");
    await c.receive("a\nb\nunfinished\n");
  });

  it("groups lines up to the size limit and cuts a longer line at character boundaries", async () => {
    const c = ws("/small");
    await c.opened();
    await subscribed(1);
    const body = "a\nbb\nccc\n" + "ü".repeat(20) + "\n";
    await fsp.appendFile(file, body);
    await c.receive(body);
    for (const m of c.messages) expect(Buffer.byteLength(m as string)).toBeLessThanOrEqual(16);
    expect(c.messages[0]).toBe("a\nbb\nccc\n");
    expect(c.text()).not.toContain("\ufffd");
  });

  it("sends { offset, data } on a json route, offsets being byte offsets in the file", async () => {
    const c = ws("/json");
    const size = Buffer.byteLength(numbered(1, 30));
    await c.until(() => c.json().at(-1)?.offset === size);
    expect(
      c
        .json()
        .map((m) => m.data)
        .join(""),
    ).toBe(numbered(21, 10));
    await fsp.appendFile(file, "é\n");
    await c.until(() => c.json().at(-1)?.offset === size + 3);
    expect(c.json().at(-1)?.data).toBe("é\n");
  });

  it("sends Buffers on a bytes route", async () => {
    const c = ws("/bytes", true);
    await c.until(() => c.text() === numbered(21, 10));
    expect(Buffer.isBuffer(c.messages[0])).toBe(true);
  });

  it("streams a 50 MB file whole with from: 'start', in bounded memory", async () => {
    const big = path.join(dir, "big.log");
    const line = "0123456789".repeat(10) + " ✓ bounded\n";
    const block = line.repeat(Math.ceil((1024 * 1024) / line.length));
    const hash = createHash("sha256");
    const fd = fs.openSync(big, "w");
    let size = 0;
    while (size < 50 * 1024 * 1024) {
      fs.writeSync(fd, block);
      hash.update(block);
      size += Buffer.byteLength(block);
    }
    fs.closeSync(fd);
    const expected = hash.digest("hex");
    await fsp.rename(big, file);

    const gc = vm.runInNewContext("gc") as () => void;
    const outcome = await streamWhole(gc, size);
    expect(outcome.received).toBe(size);
    expect(outcome.digest).toBe(expected);
    expect(outcome.held).toBeLessThan(16 * 1024 * 1024); // the whole file would be 50 MB
  }, 30_000);

  it("resumes from ?from=<offset> with no line repeated or skipped", async () => {
    const first = ws("/json");
    const size = Buffer.byteLength(numbered(1, 30));
    await first.until(() => first.json().at(-1)?.offset === size);
    const offset = first.json().at(-1)?.offset as number;
    await first.close();
    await fsp.appendFile(file, numbered(31, 5));
    const again = ws(`/json?from=${offset}`);
    await again.until(
      () =>
        again
          .json()
          .map((m) => m.data)
          .join("") === numbered(31, 5),
    );
    // and from an earlier offset in the middle of the file
    const mid = Buffer.byteLength(numbered(1, 12));
    const middle = ws(`/messages?from=${mid}`);
    await middle.receive(numbered(13, 23));
  });

  it("starts the new content when the offset is past the end (file replaced)", async () => {
    const c = ws(`/messages?from=999999`);
    await c.receive(numbered(1, 30));
  });

  it("closes with 1008 on an invalid ?from=", async () => {
    for (const bad of ["abc", "-1", "1e3", "12&from=13"]) {
      const c = ws(`/messages?from=${bad}`);
      await c.closed;
      expect(c.closeCode).toBe(TAIL_BAD_OFFSET);
      expect(c.messages).toEqual([]);
    }
  });

  it("feeds 100 clients identical streams through one follower, released after the last", async () => {
    const many = Array.from({ length: 100 }, () => ws("/none"));
    await Promise.all(many.map((c) => c.opened()));
    await subscribed(100);
    expect(liveFollowers()).toBe(1);
    const body = numbered(100, 500, " some payload to make it longer");
    for (let i = 0; i < body.length; i += 4096) await fsp.appendFile(file, body.slice(i, i + 4096));
    await Promise.all(many.map((c) => c.receive(body)));
    await Promise.all(many.map((c) => c.close()));
    await noFollowers();
  });

  it("closes a client that falls too far behind with 1013, without slowing the others", async () => {
    const slow = ws("/slow");
    const fast = ws("/slow");
    await Promise.all([slow.opened(), fast.opened()]);
    await subscribed(2);
    pauseSocket(slow);
    const line = "z".repeat(1000) + "\n";
    // 64 MB: beyond what loopback socket buffers absorb (tcp_rmem may reach 32 MB) + 256 KiB
    const body = line.repeat(64 * 1024);
    for (let i = 0; i < body.length; i += 1024 * 1024) {
      await fsp.appendFile(file, body.slice(i, i + 1024 * 1024));
    }
    await fast.receive(body, 20_000);
    const started = Date.now();
    while (!app.logs.some((l) => l.includes("bytes behind")) && Date.now() - started < 5000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    resumeSocket(slow);
    await slow.closed;
    expect(slow.closeCode).toBe(TAIL_TOO_SLOW);
    expect(slow.text().length).toBeLessThan(body.length);
    expect(slow.text()).toBe(body.slice(0, slow.text().length)); // what it got is a clean prefix
  }, 30_000);
});

describe("sockets.tail over Server-Sent Events", () => {
  it("sends events whose ids are the byte offsets after their lines", async () => {
    const c = await sseClient("/events");
    const size = Buffer.byteLength(numbered(1, 30));
    await c.until(() => c.events.at(-1)?.id === String(size));
    expect(c.text()).toBe(numbered(21, 10));
    await fsp.appendFile(file, "new\n");
    await c.until(() => c.events.at(-1)?.id === String(size + 4));
    expect(c.events.at(-1)?.data).toBe("new\n");
  });

  it("resumes from Last-Event-ID, which wins over ?from=", async () => {
    const at = Buffer.byteLength(numbered(1, 25));
    const c = await sseClient(`/events?from=0`, { "Last-Event-ID": String(at) });
    await c.until(() => c.text() === numbered(26, 5));
    const q = await sseClient(`/events?from=${at}`);
    await q.until(() => q.text() === numbered(26, 5));
  });

  it("answers 400 to an invalid Last-Event-ID, before the stream starts", async () => {
    const c = await sseClient("/events", { "Last-Event-ID": "not-a-number" });
    expect(c.status).toBe(400);
  });
});

describe("sockets.tail in a real browser", () => {
  it("an EventSource that is cut off reconnects with Last-Event-ID and sees no line twice", async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`${app.http}/page`);
      await page.waitForFunction(() => (window as unknown as { opens: number }).opens === 1, null, {
        polling: 20,
      });
      // Appends keep coming; once some have arrived the server cuts the stream, mid-flow.
      let n = 100;
      let cut = false;
      const deadline = Date.now() + 1000;
      while (Date.now() < deadline || !cut) {
        await fsp.appendFile(file, numbered(n, 3));
        n += 3;
        await new Promise((r) => setTimeout(r, 20));
        if (!cut && n >= 130) {
          await page.waitForFunction(
            () => (window as unknown as { received: unknown[] }).received.length > 0,
            null,
            { polling: 20 },
          );
          streams[0]?.disconnect.trySend(1000);
          cut = true;
        }
      }
      const expected = numbered(100, n - 100);
      // Both: on a loaded machine the last lines can arrive before the cut, and the reconnect
      // then comes after everything was received.
      await page.waitForFunction(
        (len) => {
          const w = window as unknown as { received: [string, string][]; opens: number };
          return w.opens >= 2 && w.received.map((r) => r[1]).join("").length >= len;
        },
        expected.length,
        { timeout: 10_000, polling: 20 }, // not rAF: a headless page may not paint
      );
      const { received, opens } = await page.evaluate(() => {
        const w = window as unknown as { received: [string, string][]; opens: number };
        return { received: w.received, opens: w.opens };
      });
      expect(opens).toBeGreaterThanOrEqual(2); // it did reconnect
      expect(received.map((r) => r[1]).join("")).toBe(expected);
      const size = Buffer.byteLength(numbered(1, 30));
      expect(received.at(-1)?.[0]).toBe(String(size + Buffer.byteLength(expected)));
    } finally {
      await browser.close();
    }
  }, 30_000);
});

describe("watchFile()", () => {
  it("streams into a handler's socket and resolves with how the connection closed", async () => {
    const c = ws("/watch");
    await c.receive(numbered(30, 1));
    await fsp.appendFile(file, "more\n");
    await c.receive(numbered(30, 1) + "more\n");
    c.ws.close(4001, "done here");
    await c.closed;
    const deadline = Date.now() + 2000;
    while (closes.length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(closes[0]?.code).toBe(4001);
  });

  it("stops following when its signal aborts, leaving the connection open", async () => {
    const c = ws("/abort");
    await c.receive(numbered(30, 1) + "watchFile resolved with undefined\n");
    await fsp.appendFile(file, "not sent\n");
    await new Promise((r) => setTimeout(r, 100));
    expect(c.text()).not.toContain("not sent");
    expect(c.closeCode).toBeUndefined();
  });

  it("closes a socket whose sender stays blocked once its queue limit is passed (1013)", async () => {
    // A bound connection is five channels; this one's sender is never read, like a stalled client.
    const sender = new Channel<unknown>(0);
    const done = new Channel<CloseInfo>(1);
    const disconnect = new Channel<DisconnectRequest>(1);
    const socket: Socket<unknown, unknown> = {
      receiver: new Channel<unknown>(0),
      sender,
      done,
      disconnect,
      error: new Channel<Error>(1),
      id: "stalled",
      transport: "messages",
      data: {},
    };
    const watching = watchFile(file, socket, {
      lines: 0,
      maxQueueBytes: 4096,
      logger: app.logger,
    });
    await subscribed(1);
    for (let i = 0; i < 20; i++) {
      await fsp.appendFile(file, "q".repeat(999) + "\n");
      await new Promise((r) => setTimeout(r, 2));
    }
    const request = await disconnect.recv();
    expect(request.value).toEqual({ code: TAIL_TOO_SLOW, reason: "tail: client too slow" });
    expect(app.logs.some((l) => l.includes("more than 4096 bytes behind"))).toBe(true);
    await done.send({ code: TAIL_TOO_SLOW, reason: "" });
    done.close();
    sender.close();
    expect(await watching).toEqual({ code: TAIL_TOO_SLOW, reason: "" });
    await noFollowers();
  });

  it("throws at once for bad arguments", () => {
    const socket = { sender: {}, done: {} } as never;
    expect(() => watchFile("", socket)).toThrow(TypeError);
    expect(() => watchFile(file, null as never)).toThrow(TypeError);
    expect(() => watchFile(file, socket, { lines: -1 })).toThrow(RangeError);
    expect(() => watchFile(file, socket, { from: -5 })).toThrow(RangeError);
  });
});

describe("sockets.tail() factory", () => {
  it("throws at factory time for invalid arguments and options", () => {
    expect(() => tail("")).toThrow(TypeError);
    expect(() => tail(42 as never)).toThrow(TypeError);
    expect(() => tail(file, { lines: 1.5 })).toThrow(RangeError);
    expect(() => tail(file, { from: 10 as never })).toThrow(RangeError);
    expect(() => tail(file, { maxMessageBytes: 2 })).toThrow(RangeError);
    expect(() => tail(file, { pollInterval: -1 })).toThrow(RangeError);
    expect(() => tail({ root: path.join(dir, "missing") })).toThrow(TypeError);
    expect(() => tail({ root: file })).toThrow(TypeError);
  });

  it("without a transport before it, reports the mistake instead of hanging", async () => {
    const res = await fetch(`${app.http}/nosocket`);
    expect(res.status).toBe(500);
    await res.text();
  });
});
