// The example app as `npm start` runs it (example-app/dist/server.js in its own process): it exits
// on SIGTERM while a log page is open, says in one line when its port is busy, writes its log
// under $TMPDIR with its port in the name; and, in process, its clock shows the time at once.

import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { WebSocket } from "ws";
import { createExample } from "../example-app/server";
import { SseClient } from "./helpers/sse-client";

const root = path.join(__dirname, "..");
const SERVER = path.join(root, "example-app", "dist", "server.js");

interface Started {
  child: ChildProcess;
  port: number;
  logFile: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startExample(port: number): Promise<Started> {
  const child = spawn(process.execPath, [SERVER], {
    cwd: root,
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /on http:\/\/localhost:(\d+)\/ \(log: (.*)\)/.exec(out);
      if (m !== null) {
        resolve({ child, port: Number(m[1]), logFile: m[2]!, stderr: () => err, exited });
      }
    });
    void exited.then((code) =>
      reject(Object.assign(new Error(`exited ${code}`), { code, stderr: err })),
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T | string> {
  return Promise.race([p, new Promise<string>((r) => setTimeout(r, ms, `${what} after ${ms} ms`))]);
}

beforeAll(() => {
  if (!fs.existsSync(SERVER)) throw new Error("example-app/dist is missing: run `npm run build`");
});

describe("the example app process", () => {
  it("exits 0 on SIGTERM while a log page follows its log over SSE and WebSocket", async () => {
    const app = await startExample(0);
    try {
      const sse = await SseClient.connect(`http://127.0.0.1:${app.port}/logs/events`);
      expect(sse.status).toBe(200);
      await sse.count(1); // the log's first lines
      const ws = new WebSocket(`ws://127.0.0.1:${app.port}/logs/ws`);
      const wsClosed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
      await new Promise((r) => ws.once("open", r));

      app.child.kill("SIGTERM");
      expect(await within(app.exited, 8000, "still running")).toBe(0);
      await within(sse.closed, 2000, "SSE still open");
      expect(sse.comments).toContain("server shutting down");
      expect(await wsClosed).toBe(1001);
    } finally {
      app.child.kill("SIGKILL");
      fs.rmSync(app.logFile, { force: true });
    }
  }, 30_000);

  it("says in one line, without a stack, that its port is busy, and exits 1", async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, r));
    const { port } = busy.address() as AddressInfo;
    try {
      const failure = await startExample(port).then(
        (s) => {
          s.child.kill("SIGKILL");
          throw new Error("it started on a busy port");
        },
        (err: { code: number; stderr: string }) => err,
      );
      expect(failure.code).toBe(1);
      expect(failure.stderr.trim().split("\n")).toEqual([
        `Port ${port} is already in use: start with another one, e.g. PORT=${port + 1} npm start`,
      ]);
    } finally {
      busy.close();
    }
  }, 30_000);

  it("writes a fresh log under $TMPDIR with its port in the name", async () => {
    const port = await freePort();
    const logFile = path.join(os.tmpdir(), `express-sockets-example-${port}.log`);
    fs.writeFileSync(logFile, "an old run's line\n");
    const app = await startExample(port);
    try {
      expect(app.logFile).toBe(logFile);
      expect(fs.readFileSync(logFile, "utf8")).not.toContain("an old run's line");
    } finally {
      app.child.kill("SIGTERM");
      await app.exited;
      fs.rmSync(logFile, { force: true });
    }
  }, 30_000);
});

describe("the example app's clock", () => {
  it("sends the time at once, not after the first second", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "example-clock-"));
    const example = createExample({ logFile: path.join(dir, "app.log") });
    await new Promise<void>((r) => example.server.listen(0, "127.0.0.1", r));
    const { port } = example.server.address() as AddressInfo;
    try {
      const started = Date.now();
      const ws = new WebSocket(`ws://127.0.0.1:${port}/clock`);
      const first = await new Promise<string>((r) => ws.once("message", (d) => r(String(d))));
      expect(Date.now() - started).toBeLessThan(900); // the first tick comes after 1000 ms
      expect(Math.abs(Date.parse(first) - Date.now())).toBeLessThan(2000);
      ws.close();
    } finally {
      await example.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
