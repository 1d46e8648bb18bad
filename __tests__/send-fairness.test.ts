// One connection must not starve the others: a handler that sends in a loop
// (`for (;;) await sender.send(x)`) to a client in another process that reads as fast as it can
// must leave the event loop free to serve HTTP requests and other connections.

import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { messages } from "../lib/websocket/factory";
import { sse } from "../lib/sse/sse";
import { attach, type Attachment } from "../lib/websocket/upgrade";
import { measureLoopDelay } from "./helpers/loop-delay";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A client in its own process (WebSocket, or an SSE stream over plain HTTP) that reads everything
 * as fast as it can and reports the bytes it got on stdout.
 */
function fastReader(url: string): { child: ChildProcess; bytes: () => number } {
  const read = url.startsWith("ws:")
    ? `const { WebSocket } = require(${JSON.stringify(require.resolve("ws"))});
       const ws = new WebSocket(${JSON.stringify(url)});
       ws.on("message", (d) => { bytes += d.length; });
       ws.on("error", () => {});`
    : `require("node:http").get(${JSON.stringify(url)}, (res) => {
         res.on("data", (d) => { bytes += d.length; });
       }).on("error", () => {});`;
  const script = `
    let bytes = 0;
    ${read}
    setInterval(() => process.stdout.write(bytes + "\\n"), 100);
  `;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let last = 0;
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (s: string) => {
    const lines = s.trim().split("\n");
    const n = Number(lines[lines.length - 1]);
    if (Number.isFinite(n)) last = n;
  });
  return { child, bytes: () => last };
}

function get(url: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(performance.now() - started));
      })
      .on("error", reject);
  });
}

describe("send fairness", () => {
  let server: http.Server;
  let upgrades: Attachment;
  let reader: ReturnType<typeof fastReader> | undefined;
  let stopped = false;

  beforeEach(() => {
    stopped = false;
  });

  afterEach(async () => {
    stopped = true;
    reader?.child.kill();
    await upgrades.close({ timeout: 0 });
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it.each([
    ["WebSocket", "ws"],
    ["Server-Sent Events", "http"],
  ])(
    "keeps the event loop responsive (p99 delay under 50 ms above an idle process) while a handler sends in a loop to a fast %s reader",
    async (_name, scheme) => {
      const app = express();
      let sent = 0;
      app.get("/ping", (_req, res) => {
        res.send("pong");
      });
      const factory =
        scheme === "ws" ? messages({ skipLogging: true }) : sse({ skipLogging: true });
      app.get("/flood", factory, async (_req, res) => {
        const { sender } = res.locals.socket;
        const x = "x".repeat(1000);
        try {
          while (!stopped) {
            await sender.send(x);
            sent++;
          }
        } catch {
          // closed
        }
      });
      server = http.createServer(app);
      upgrades = attach(server, app, { skipLogging: true });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const { port } = server.address() as AddressInfo;
      reader = fastReader(`${scheme}://127.0.0.1:${port}/flood`);
      const r = reader;
      // Wait until the flood is under way.
      const deadline = Date.now() + 10_000;
      while (r.bytes() < 1_000_000 && Date.now() < deadline) await sleep(50);
      expect(r.bytes()).toBeGreaterThan(1_000_000);

      const delay = await measureLoopDelay();
      const latencies: number[] = [];
      const until = Date.now() + 4000;
      const before = r.bytes();
      while (Date.now() < until) {
        latencies.push(await get(`http://127.0.0.1:${port}/ping`));
        await sleep(20);
      }
      const { p99, control } = await delay.stop();
      latencies.sort((a, b) => a - b);
      const httpP99 = latencies[Math.floor(latencies.length * 0.99)]!;
      // The flood went on all along (the client got tens of megabytes more)...
      expect(r.bytes() - before).toBeGreaterThan(10_000_000);
      expect(sent).toBeGreaterThan(10_000);
      // ...and did not hold the loop: timers ran on time and HTTP requests were answered.
      expect(latencies.length).toBeGreaterThan(40);
      // (Unfixed: p99 in seconds, a handful of requests answered in 4 s.)
      // Against an idle process measured in the same window: the machine's own jitter.
      expect(p99).toBeLessThan(50 + control);
      expect(httpP99).toBeLessThan(250 + control);
    },
    30_000,
  );
});
