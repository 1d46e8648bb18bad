// sockets.tail against an attacker who can write inside `root` while clients follow a file:
// swapping the followed file (or its directory) for a symlink out of `root` must not stream the
// outside file; and `lines` on a huge file without newlines reads a bounded window, not the file.

import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { json, messages } from "../lib/websocket/factory";
import { sse } from "../lib/sse/sse";
import { tail } from "../lib/tail/tail";
import { LINES_SEARCH_LIMIT, lastLinesStart } from "../lib/tail/follower";
import { SseClient } from "./helpers/sse-client";
import { noFollowers, startApp, tempDir, WsClient, type TestApp } from "./helpers/tail-server";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("sockets.tail({ root }): a followed name swapped for a symlink out of root", () => {
  let base: string;
  let root: string;
  let app: TestApp;

  beforeEach(async () => {
    base = await tempDir("tail-swap-");
    root = path.join(base, "root");
    await fsp.mkdir(path.join(root, "sub"), { recursive: true });
    await fsp.mkdir(path.join(base, "outside"));
    await fsp.writeFile(path.join(root, "app.log"), "first\n");
    await fsp.writeFile(path.join(root, "sub", "nested.log"), "nested first\n");
    await fsp.writeFile(path.join(base, "secret.txt"), "SECRET one\n");
    await fsp.writeFile(path.join(base, "outside", "nested.log"), "SECRET nested\n");
    app = await startApp((a, logger) => {
      const o = { logger, logLevel: "debug" as const };
      const logs = tail({ root }, { ...o, pollInterval: 50 });
      a.get("/sse/*file", sse(o), logs);
      a.get("/ws/*file", logs, messages(o), logs);
    });
  });

  afterEach(async () => {
    await app.close();
    await noFollowers();
    await fsp.rm(base, { recursive: true, force: true });
  });

  async function clients(file: string) {
    const ws = new WsClient(`${app.ws}/ws/${file}`);
    await ws.opened();
    const events = await SseClient.connect(`${app.http}/sse/${file}`);
    return { ws, events };
  }

  it("does not stream a file the followed name now links to outside root (WebSocket and SSE)", async () => {
    const { ws, events } = await clients("app.log");
    await ws.until(() => ws.text().includes("first\n"), 5000, "backlog");
    await events.until(() => events.events.some((e) => e.data.includes("first")), 5000, "backlog");

    await fsp.rm(path.join(root, "app.log"));
    await fsp.symlink(path.join(base, "secret.txt"), path.join(root, "app.log"));
    await sleep(400); // several polls and the directory's events
    await fsp.appendFile(path.join(base, "secret.txt"), "SECRET two\n");
    await sleep(400);
    expect(ws.text()).not.toContain("SECRET");
    expect(events.raw).not.toContain("SECRET");
    expect(app.logs.some((l) => /outside|refus/i.test(l) && l.includes("app.log"))).toBe(true);

    // A real file inside root under the name again: followed as a recreated file.
    await fsp.rm(path.join(root, "app.log"));
    await fsp.writeFile(path.join(root, "app.log"), "back\n");
    await ws.until(() => ws.text().includes("back\n"), 5000, "the recreated file");
    await events.until(() => events.events.some((e) => e.data.includes("back")), 5000, "back");
    expect(ws.text()).not.toContain("SECRET");
    expect(events.raw).not.toContain("SECRET");
    await ws.close();
    events.req.destroy();
  });

  it("does not stream a file whose directory was swapped for a symlink out of root", async () => {
    const { ws, events } = await clients("sub/nested.log");
    await ws.until(() => ws.text().includes("nested first\n"), 5000, "backlog");
    await events.until(() => events.events.some((e) => e.data.includes("nested first")), 5000);

    await fsp.rename(path.join(root, "sub"), path.join(root, "sub.old"));
    await fsp.symlink(path.join(base, "outside"), path.join(root, "sub"));
    await sleep(400);
    await fsp.appendFile(path.join(base, "outside", "nested.log"), "SECRET more\n");
    await sleep(400);
    expect(ws.text()).not.toContain("SECRET");
    expect(events.raw).not.toContain("SECRET");

    await fsp.rm(path.join(root, "sub"));
    await fsp.mkdir(path.join(root, "sub"));
    await fsp.writeFile(path.join(root, "sub", "nested.log"), "nested back\n");
    await ws.until(() => ws.text().includes("nested back\n"), 5000, "the recreated file");
    await events.until(() => events.events.some((e) => e.data.includes("nested back")), 5000);
    expect(ws.text()).not.toContain("SECRET");
    expect(events.raw).not.toContain("SECRET");
    await ws.close();
    events.req.destroy();
  });
});

describe("sockets.tail: `lines` on a file without newlines", () => {
  let dir: string;
  let app: TestApp;

  beforeEach(async () => {
    dir = await tempDir("tail-lines-");
  });

  afterEach(async () => {
    await app?.close();
    await noFollowers();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it("starts within the last LINES_SEARCH_LIMIT bytes, at a character boundary", async () => {
    const file = path.join(dir, "huge.log");
    const size = 64 * 1024 * 1024;
    // A sparse 64 MB file of NUL bytes ending in multi-byte characters: no newline anywhere.
    await fsp.writeFile(file, "");
    await fsp.truncate(file, size - 3 * 2048);
    await fsp.appendFile(file, "é".repeat(3 * 1024)); // 2-byte characters, 6 KiB
    app = await startApp((a, logger) => {
      a.get("/tail", json(undefined, { logger }), tail(file, { lines: 10, logger }));
    });
    const ws = new WsClient(`${app.ws}/tail`);
    await ws.opened();
    await ws.until(() => ws.messages.length > 0, 10_000, "the first message");
    const first = ws.json()[0]!;
    const start = first.offset - Buffer.byteLength(first.data);
    expect(start).toBeGreaterThanOrEqual(size - LINES_SEARCH_LIMIT);
    expect(start).toBeLessThan(size);
    // The whole window arrives, and the file's last bytes (whole characters) end it.
    await ws.until(() => ws.json().at(-1)!.offset === size, 10_000, "the end of the window");
    expect(ws.json().at(-1)!.data.endsWith("éé")).toBe(true);
    expect(ws.json().every((m) => !m.data.includes("\uFFFD"))).toBe(true);
    await ws.close();
  });

  it("abandons the backward search when its client has gone (an aborted signal)", async () => {
    const file = path.join(dir, "no-newline.log");
    await fsp.writeFile(file, "x".repeat(300_000));
    const handle = await fsp.open(file, "r");
    try {
      const gone = AbortSignal.abort();
      await expect(lastLinesStart(handle, 300_000, 10, gone)).rejects.toMatchObject({
        name: "AbortError",
      });
      // Without the signal: bounded, at the window's start.
      const limited = await lastLinesStart(handle, 300_000, 10, undefined, 65_536);
      expect(limited).toBe(300_000 - 65_536);
    } finally {
      await handle.close();
    }
  });
});
