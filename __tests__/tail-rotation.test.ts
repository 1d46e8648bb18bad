// tail -F semantics with real files: logrotate's create mode (rename + recreate) and copytruncate
// mode, delete and recreate, many rotations under a running writer, resume across a rotation.
// No byte is skipped or repeated; the connection survives; descriptors are released.

import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { json } from "../lib/websocket/factory";
import { liveFollowers, liveSubscriptions } from "../lib/tail/follower";
import { sse } from "../lib/sse/sse";
import { tail } from "../lib/tail/tail";
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

let dir: string;
let file: string;
let app: TestApp;
const clients: { close(): Promise<void> }[] = [];

function ws(route: string): WsClient {
  const c = new WsClient(`${app.ws}${route}`);
  clients.push(c);
  return c;
}

/** The data of a json client's messages, concatenated. */
const data = (c: WsClient): string =>
  c
    .json()
    .map((m) => m.data)
    .join("");

async function receiveJson(c: WsClient, expected: string, ms = 5000): Promise<void> {
  await c.until(() => data(c).length >= expected.length, ms, `${expected.length} characters`);
  expect(data(c)).toBe(expected);
}

/** Descriptors this process holds on files under `root` (from /proc/self/fd). */
function openFilesUnder(root: string): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(root)) out.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeEach(async () => {
  dir = await tempDir("tail-rot-");
  file = path.join(dir, "app.log");
  await fsp.writeFile(file, "");
  app = await startApp((a, logger) => {
    a.get("/json", json(), tail(file, { logger, lines: 0, pollInterval: 500 }));
    a.get("/all", json(), tail(file, { logger, from: "start", pollInterval: 500 }));
    a.get("/events", sse(), tail(file, { logger, lines: 0, pollInterval: 500 }));
  });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await app.close();
  await noFollowers();
  const deadline = Date.now() + 1000;
  while (openFilesUnder(dir).length > 0 && Date.now() < deadline) await tick(10);
  expect(openFilesUnder(dir)).toEqual([]);
  await fsp.rm(dir, { recursive: true, force: true });
});

/** Connects a json client and waits until its subscription is live. */
async function connected(route = "/json"): Promise<WsClient> {
  const before = liveSubscriptions();
  const c = ws(route);
  await c.opened();
  await subscribed(before + 1);
  return c;
}

describe("rotation (logrotate create mode)", () => {
  it("drains the old file to its end, then reads the new one from its start", async () => {
    const c = await connected();
    await fsp.appendFile(file, numbered(1, 5));
    await receiveJson(c, numbered(1, 5));
    // The last lines hit the old file just before it is renamed away.
    fs.appendFileSync(file, numbered(6, 5));
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, numbered(11, 5));
    await receiveJson(c, numbered(1, 15));
    // Offsets are in the current file: they start again in the new one.
    expect(c.json().at(-1)?.offset).toBe(Buffer.byteLength(numbered(11, 5)));
    expect(c.closeCode).toBeUndefined();
  });

  it("flushes the old file's unfinished last line before the new file", async () => {
    const c = await connected();
    fs.appendFileSync(file, "complete\nunfinished");
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, "new file\n");
    await receiveJson(c, "complete\nunfinished\nnew file\n");
  });

  it("loses and repeats nothing across many rotations under a running writer", async () => {
    const c = await connected();
    const events = await SseClient.connect(`${app.http}/events`);
    clients.push(events);
    await subscribed(2);
    let n = 1;
    for (let rotation = 0; rotation < 8; rotation++) {
      for (let batch = 0; batch < 10; batch++) {
        fs.appendFileSync(file, numbered(n, 7));
        n += 7;
        await new Promise((r) => setImmediate(r));
      }
      // Rotate between two appends of the writer: the old file gets its last lines, the new
      // one its first, with no pause in between (sometimes the new file is created empty first).
      fs.appendFileSync(file, numbered(n, 2));
      fs.renameSync(file, `${file}.${rotation}`);
      if (rotation % 2 === 0) fs.writeFileSync(file, "");
      fs.appendFileSync(file, numbered(n + 2, 2));
      n += 4;
      // As with tail -F, a file must exist long enough to be seen (logrotate runs daily, not
      // every millisecond): wait until the new file is being followed before rotating again.
      const sofar = numbered(1, n - 1).length;
      await c.until(() => data(c).length >= sofar, 5000, "the current generation");
    }
    fs.appendFileSync(file, numbered(n, 3));
    const expected = numbered(1, n + 2);
    await receiveJson(c, expected, 10_000);
    await events.until(() => events.text().length >= expected.length, 10_000);
    expect(events.text()).toBe(expected);
  });
});

describe("copy and truncate (logrotate copytruncate mode)", () => {
  it("starts again from offset 0 and repeats nothing", async () => {
    const c = await connected();
    await fsp.appendFile(file, numbered(1, 20));
    await receiveJson(c, numbered(1, 20));
    fs.copyFileSync(file, `${file}.1`);
    fs.truncateSync(file, 0);
    fs.appendFileSync(file, numbered(21, 3));
    await receiveJson(c, numbered(1, 23));
    expect(c.json().at(-1)?.offset).toBe(Buffer.byteLength(numbered(21, 3)));
  });

  it("a client that joins after the truncation sees only the new content", async () => {
    await fsp.appendFile(file, numbered(1, 20));
    const before = await connected("/all");
    await receiveJson(before, numbered(1, 20));
    fs.truncateSync(file, 0);
    fs.appendFileSync(file, numbered(21, 2));
    await receiveJson(before, numbered(1, 22));
    const after = await connected("/all");
    await receiveJson(after, numbered(21, 2));
  });
});

describe("deletion", () => {
  it("keeps the connection and waits for the file to come back", async () => {
    const c = await connected();
    await fsp.appendFile(file, "before\n");
    await receiveJson(c, "before\n");
    await fsp.unlink(file);
    await tick(200);
    expect(c.closeCode).toBeUndefined();
    expect(liveFollowers()).toBe(1);
    expect(openFilesUnder(dir)).toEqual([]); // the deleted file's descriptor is let go
    await fsp.writeFile(file, "after\n");
    await receiveJson(c, "before\nafter\n");
  });

  it("waits for a file that does not exist when the client connects", async () => {
    await fsp.unlink(file);
    const c = await connected();
    await fsp.writeFile(file, "born\n");
    await receiveJson(c, "born\n");
  });
});

describe("resume across a rotation", () => {
  it("an offset past the end of the new file starts the new content", async () => {
    await fsp.appendFile(file, numbered(1, 50));
    const first = await connected("/all");
    await receiveJson(first, numbered(1, 50));
    const offset = first.json().at(-1)?.offset as number;
    await first.close();
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, numbered(51, 3));
    const again = ws(`/json?from=${offset}`);
    await receiveJson(again, numbered(51, 3));
  });

  it("an offset that is not a line start of the new file starts the new content", async () => {
    await fsp.appendFile(file, "short\n");
    const first = await connected("/all");
    await receiveJson(first, "short\n");
    await first.close();
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, "a much longer first line\nsecond\n");
    const again = ws(`/json?from=6`); // byte 5 of the new file is not a newline
    await receiveJson(again, "a much longer first line\nsecond\n");
  });
});
