// sockets.tail on a file that is not there yet: a warning names the resolved path, the client is
// told once (an SSE `notice` event, a first json message), and the lines come when it appears.
// Also the decision on line ends: an SSE event's data is exactly the WebSocket message, whole
// lines each ending in "\n" (so the last `data:` field of the event on the wire is empty).

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { sockets } from "../lib/index";
import { SseClient } from "./helpers/sse-client";
import { startApp, tempDir, WsClient, type TestApp } from "./helpers/tail-server";

let dir: string;
let app: TestApp;
let missing: string; // a file in a directory that does not exist either

beforeEach(async () => {
  dir = await tempDir("tail-missing-");
  missing = path.join(dir, "later", "app.log");
  fs.writeFileSync(path.join(dir, "here.log"), "one\ntwo\n");
  app = await startApp((a, logger) => {
    const rel = path.relative(process.cwd(), missing); // as a user writes it: relative
    a.get("/sse", sockets.sse({ logger }), sockets.tail(rel, { logger }));
    a.get("/json", sockets.json(undefined, { logger }), sockets.tail(rel, { logger }));
    a.get("/text", sockets.messages({ logger }), sockets.tail(rel, { logger }));
    const here = path.join(dir, "here.log");
    a.get("/here/sse", sockets.sse({ logger }), sockets.tail(here, { logger }));
    a.get("/here/ws", sockets.messages({ logger }), sockets.tail(here, { logger }));
  });
});

afterEach(async () => {
  await app.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

const warnings = (): string[] => app.logs.filter((l) => /\[Warning\].*does not exist/.test(l));

describe("sockets.tail on a missing file", () => {
  it("SSE: one notice event, a warning with the resolved path, then the lines once it appears", async () => {
    const c = await SseClient.connect(`${app.http}/sse`);
    try {
      await c.until(() => c.events.length === 1);
      expect(c.events[0]).toMatchObject({
        event: "notice",
        data: "app.log does not exist yet; waiting for it",
      });
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toContain(`tail: ${missing} does not exist yet`);
      fs.mkdirSync(path.dirname(missing));
      fs.writeFileSync(missing, "born\n");
      await c.until(() => c.events.length === 2, 5000);
      expect(c.events[1]).toMatchObject({ event: "message", data: "born\n" });
      expect(c.events.filter((e) => e.event === "notice")).toHaveLength(1);
    } finally {
      await c.close();
    }
  });

  it("json: the first message says so, with empty data and offset 0", async () => {
    const c = new WsClient(`${app.ws}/json`);
    await c.opened();
    try {
      await c.until(() => c.messages.length === 1);
      expect(JSON.parse(String(c.messages[0]))).toEqual({
        offset: 0,
        data: "",
        notice: "app.log does not exist yet; waiting for it",
      });
      expect(warnings()[0]).toContain(missing);
      fs.mkdirSync(path.dirname(missing));
      fs.writeFileSync(missing, "born\n");
      await c.until(() => c.messages.length === 2);
      expect(c.json()[1]).toEqual({ offset: 5, data: "born\n" });
    } finally {
      await c.close();
    }
  });

  it("messages(): nothing that could pass for a line of the file, only the warning", async () => {
    const c = new WsClient(`${app.ws}/text`);
    await c.opened();
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(warnings()).toHaveLength(1);
      expect(c.messages).toEqual([]);
      fs.mkdirSync(path.dirname(missing));
      fs.writeFileSync(missing, "born\n");
      await c.receive("born\n");
    } finally {
      await c.close();
    }
  });
});

describe("line ends over SSE and WebSocket", () => {
  it("an SSE event's data is exactly the WebSocket message: whole lines ending in \\n", async () => {
    const sse = await SseClient.connect(`${app.http}/here/sse`);
    const ws = new WsClient(`${app.ws}/here/ws`);
    try {
      await sse.until(() => sse.events.length === 1);
      await ws.opened();
      await ws.receive("one\ntwo\n");
      expect(sse.events.map((e) => e.data)).toEqual(ws.messages);
      expect(sse.events[0]!.data).toBe("one\ntwo\n");
      expect(sse.raw).toContain("data: one\ndata: two\ndata: \nid: 8\n\n");
    } finally {
      await sse.close();
      await ws.close();
    }
  });
});
