// attach() against trickling clients (slowloris), the Origin check's case rules, and what the
// log says about connections (their path, their close, at info level; "warn" as a level).

import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import express from "express";
import { WebSocket } from "ws";
import { messages } from "../lib/websocket/factory";
import { attach, type Attachment } from "../lib/websocket/upgrade";
import { createLog } from "../lib/core/logger";
import { resolveOptions } from "../lib/core/options";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Running {
  server: http.Server;
  upgrades: Attachment;
  port: number;
  logs: string[];
}

const running: Running[] = [];

async function start(
  configure: (app: express.Express, logger: { error(m: string): void }) => void,
  prepare?: (server: http.Server) => void,
  handshakeTimeout?: number,
): Promise<Running> {
  const logs: string[] = [];
  const sink = (l: string): void => {
    logs.push(l);
  };
  const logger = { error: sink, warn: sink, info: sink, debug: sink };
  const app = express();
  configure(app, logger);
  const server = http.createServer(app);
  prepare?.(server);
  const upgrades = attach(server, app, {
    logger,
    ...(handshakeTimeout === undefined ? {} : { handshakeTimeout }),
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const r = { server, upgrades, port: (server.address() as AddressInfo).port, logs };
  running.push(r);
  return r;
}

afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.upgrades.close({ timeout: 0 });
    r.server.closeAllConnections();
    await new Promise<void>((res) => r.server.close(() => res()));
  }
});

/** A client that sends an upgrade request's headers one line at a time, `every` ms apart. */
function trickle(port: number, every: number): Promise<{ closedAfter: number; answer: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let answer = "";
    let n = 0;
    const timer = setInterval(() => {
      if (!s.destroyed) s.write(`X-Trickle-${n++}: ${"y".repeat(10)}\r\n`);
    }, every);
    s.on("connect", () => {
      s.write("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");
    });
    s.setEncoding("latin1");
    s.on("data", (d: string) => (answer += d));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearInterval(timer);
      resolve({ closedAfter: Date.now() - started, answer });
    });
  });
}

describe("attach(): upgrade requests that trickle their headers", () => {
  it("lowers the server's headersTimeout to handshakeTimeout, and trickling clients are closed within it", async () => {
    const r = await start(
      (app, logger) => app.get("/ws", messages({ logger }), () => undefined),
      undefined,
      1000,
    );
    expect(r.server.headersTimeout).toBe(1000);
    const results = await Promise.all(Array.from({ length: 5 }, () => trickle(r.port, 200)));
    for (const { closedAfter, answer } of results) {
      expect(closedAfter).toBeGreaterThanOrEqual(900);
      expect(closedAfter).toBeLessThan(1000 + 1500); // within the timeout and one check
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    }
  });

  it("enforces it on a server that was already listening when attach() was called", async () => {
    const app = express();
    app.get("/ws", messages({ skipLogging: true }), () => undefined);
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    await sleep(10); // past 'listening': Node's 30 s connection check is running
    const upgrades = attach(server, app, { handshakeTimeout: 1000, skipLogging: true });
    running.push({ server, upgrades, port: (server.address() as AddressInfo).port, logs: [] });
    const { closedAfter, answer } = await trickle((server.address() as AddressInfo).port, 200);
    expect(closedAfter).toBeLessThan(1000 + 1500);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it("keeps a headersTimeout the app set itself", async () => {
    const r = await start(
      (app, logger) => app.get("/ws", messages({ logger }), () => undefined),
      (server) => {
        server.headersTimeout = 20_000;
      },
      1000,
    );
    expect(r.server.headersTimeout).toBe(20_000);
  });

  it("leaves headersTimeout alone with handshakeTimeout 0 (no limit)", async () => {
    const r = await start(
      (app, logger) => app.get("/ws", messages({ logger }), () => undefined),
      undefined,
      0,
    );
    expect(r.server.headersTimeout).toBe(60_000);
  });
});

function open(url: string, headers: Record<string, string>): Promise<number | "open"> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on("open", () => {
      ws.terminate();
      resolve("open");
    });
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.on("error", () => undefined);
  });
}

describe("the Origin check: scheme and host are case-insensitive", () => {
  it("accepts an upper-case Origin for the same host (default <<host>> pattern)", async () => {
    const r = await start((app, logger) => app.get("/ws", messages({ logger }), () => undefined));
    const url = `ws://127.0.0.1:${r.port}/ws`;
    expect(await open(url, { Origin: `HTTP://127.0.0.1:${r.port}` })).toBe("open");
    expect(await open(url, { Origin: `http://127.0.0.1:${r.port}` })).toBe("open");
    expect(await open(url, { Origin: `http://evil.example` })).toBe(403);
  });

  it("matches string patterns and RegExps whatever the case of the Origin", async () => {
    const r = await start((app, logger) => {
      app.get(
        "/s",
        messages({ logger, allowedOrigin: "https://app\\.example\\.com$" }),
        () => undefined,
      );
      app.get("/r", messages({ logger, allowedOrigin: /^https:\/\/app\.example\.com$/ }), () => {
        return undefined;
      });
    });
    const base = `ws://127.0.0.1:${r.port}`;
    expect(await open(`${base}/s`, { Origin: "HTTPS://App.Example.COM" })).toBe("open");
    expect(await open(`${base}/r`, { Origin: "https://APP.example.com" })).toBe("open");
    expect(await open(`${base}/r`, { Origin: "https://app.example.com.evil" })).toBe(403);
  });
});

describe("connection log lines", () => {
  it("name the path (without the query) and log the close at info level", async () => {
    const r = await start((app, logger) => {
      app.get("/chat/:room", messages({ logger, logLevel: "info" }), () => undefined);
    });
    const ws = new WebSocket(`ws://127.0.0.1:${r.port}/chat/lobby?token=s3cret`);
    await new Promise((res) => ws.once("open", res));
    ws.close(1000, "bye");
    await new Promise((res) => ws.once("close", res));
    await sleep(50);
    const established = r.logs.find((l) => l.includes("Connection established"));
    expect(established).toContain("/chat/lobby");
    const closed = r.logs.find((l) => /\[Info\].*[Cc]losed 1000/.test(l));
    expect(closed).toContain("/chat/lobby");
    expect(r.logs.join("\n")).not.toContain("s3cret");
  });

  it('accepts logLevel "warn" as an alias of "warning"', () => {
    const lines: string[] = [];
    const log = createLog({ logger: { error: (l) => lines.push(l) }, logLevel: "warn" });
    log.warning("x", "shown");
    log.info("x", "hidden");
    expect(lines).toEqual(["[sockets] [Warning] [x] shown"]);
    expect(log.enabled("warn")).toBe(true);
    expect(() => resolveOptions({ logLevel: "warn" })).not.toThrow();
  });
});
