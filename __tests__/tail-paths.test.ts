// sockets.tail({ root }): the URL chooses a file inside `root`, and nothing else. Requests are
// sent raw (no client-side normalisation of `..` or percent-escapes) over real HTTP, both as
// Server-Sent Events requests and as WebSocket upgrades.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fsp from "node:fs/promises";
import * as http from "node:http";
import * as path from "node:path";
import { messages } from "../lib/websocket/factory";
import { sse } from "../lib/sse/sse";
import { tail, TAIL_NOT_FOUND } from "../lib/tail/tail";
import { SseClient } from "./helpers/sse-client";
import { noFollowers, startApp, tempDir, WsClient, type TestApp } from "./helpers/tail-server";

let base: string;
let root: string;
let app: TestApp;

beforeAll(async () => {
  base = await tempDir("tail-paths-");
  root = path.join(base, "root");
  await fsp.mkdir(path.join(root, "sub"), { recursive: true });
  await fsp.mkdir(path.join(base, "outside-dir"));
  await fsp.writeFile(path.join(root, "app.log"), "app line\n");
  await fsp.writeFile(path.join(root, "sub", "nested.log"), "nested line\n");
  await fsp.writeFile(path.join(base, "secret.txt"), "secret\n");
  await fsp.writeFile(path.join(base, "outside-dir", "x.log"), "outside\n");
  await fsp.symlink(path.join(root, "app.log"), path.join(root, "link-inside"));
  await fsp.symlink("../secret.txt", path.join(root, "link-outside"));
  await fsp.symlink(path.join(base, "outside-dir"), path.join(root, "dir-link"));
  execFileSync("mkfifo", [path.join(root, "fifo")]);
  app = await startApp((a, logger) => {
    const o = { logger, logLevel: "debug" as const };
    const logs = tail({ root }, o);
    a.get("/sse/*file", sse(o), logs);
    a.get("/ws/*file", logs, messages(o), logs);
    a.get("/late/*file", messages(o), logs);
    a.get("/named/:name", sse(o), tail({ root, param: "name" }, o));
    a.use("/rest", sse(o), tail({ root }, o));
  });
});

afterAll(async () => {
  await app.close();
  await noFollowers();
  await fsp.rm(base, { recursive: true, force: true });
});

/** The status of a request that sockets.tail itself must refuse (it logs each refusal). */
async function refusedStatus(rawPath: string, upgrade = false): Promise<number> {
  const before = app.logs.filter((l) => l.includes("tail: refused")).length;
  const code = await status(rawPath, upgrade);
  expect(app.logs.filter((l) => l.includes("tail: refused")).length).toBe(before + 1);
  return code;
}

/** Sends a GET with `rawPath` as is and resolves with the status (101 for an accepted upgrade). */
function status(rawPath: string, upgrade = false): Promise<number> {
  const { hostname, port } = new URL(app.http);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = upgrade
      ? {
          Connection: "Upgrade",
          Upgrade: "websocket",
          "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
          "Sec-WebSocket-Version": "13",
        }
      : { Accept: "text/event-stream" };
    const req = http.request({ hostname, port, path: rawPath, headers, agent: false });
    req.on("response", (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on("upgrade", (res, socket) => {
      resolve(res.statusCode ?? 0);
      socket.destroy();
    });
    req.on("error", reject);
    req.end();
  });
}

const refused: [string, string][] = [
  ["a .. segment", "../secret.txt"],
  ["a .. segment deeper down", "sub/../../secret.txt"],
  ["a .. segment that stays inside root", "sub/../app.log"],
  ["an encoded .. segment", "%2e%2e/secret.txt"],
  ["an encoded slash", "..%2Fsecret.txt"],
  ["an encoded slash inside root", "sub%2Fnested.log"],
  ["an encoded backslash", "sub%5Cnested.log"],
  ["an absolute path (empty first segment)", "/etc/passwd"],
  ["an encoded absolute path", "%2Fetc%2Fpasswd"],
  ["a NUL byte", "app.log%00.txt"],
  ["a symlink to a file outside root", "link-outside"],
  ["a symlink to a directory outside root", "dir-link/x.log"],
  ["a directory", "sub"],
  ["a FIFO", "fifo"],
  ["a file that does not exist", "nope.log"],
  ["an empty segment", "sub//nested.log"],
];

describe("sockets.tail({ root }) refuses with 404", () => {
  it.each(refused)("%s over SSE (%s)", async (_what, rest) => {
    expect(await refusedStatus(`/sse/${rest}`)).toBe(404);
  });

  it.each(refused)("%s as a WebSocket upgrade, before the handshake (%s)", async (_what, rest) => {
    expect(await refusedStatus(`/ws/${rest}`, true)).toBe(404);
  });

  it.each([
    ["an encoded slash in a named parameter", "/named/sub%2Fnested.log"],
    ["an encoded .. in a named parameter", "/named/%2e%2e"],
    ["a .. segment in the rest of the path", "/rest/../secret.txt"],
    ["an encoded slash in the rest of the path", "/rest/..%2Fsecret.txt"],
    ["a bad escape in the rest of the path", "/rest/%E0%A4%A"],
  ])("%s (%s)", async (_what, url) => {
    expect(await refusedStatus(url)).toBe(404);
  });

  it("closes with 4404 when it can only decide after the WebSocket handshake", async () => {
    const c = new WsClient(`${app.ws}/late/link-outside`);
    await c.closed;
    expect(c.closeCode).toBe(TAIL_NOT_FOUND);
    expect(c.messages).toEqual([]);
    expect(app.logs.some((l) => l.includes("refused"))).toBe(true);
  });
});

describe("sockets.tail({ root }) serves regular files inside root", () => {
  it.each([
    ["a file", "/sse/app.log"],
    ["a nested file", "/sse/sub/nested.log"],
    ["a symlink that stays inside root", "/sse/link-inside"],
    ["a named parameter", "/named/app.log"],
    ["the rest of the path", "/rest/sub/nested.log"],
  ])("%s (%s)", async (_what, url) => {
    expect(await status(url)).toBe(200);
  });

  it("lets the WebSocket guard pass a good path to the handshake", async () => {
    expect(await status("/ws/app.log", true)).toBe(101);
  });

  it("streams the chosen file over a WebSocket guarded before the handshake", async () => {
    const c = new WsClient(`${app.ws}/ws/sub/nested.log`);
    try {
      await c.receive("nested line\n");
    } finally {
      await c.close();
    }
  });

  it("streams the chosen file when it is checked after the handshake", async () => {
    const c = new WsClient(`${app.ws}/late/app.log`);
    try {
      await c.receive("app line\n");
    } finally {
      await c.close();
    }
  });
});

describe("sockets.tail({ root }) over SSE", () => {
  it("streams the chosen file as events", async () => {
    const c = await SseClient.connect(`${app.http}/sse/sub/nested.log`);
    try {
      await c.until(() => c.text() === "nested line\n");
      expect(c.events[0]?.id).toBe(String(Buffer.byteLength("nested line\n")));
    } finally {
      await c.close();
    }
  });
});
