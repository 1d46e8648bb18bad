// The mistakes of a first hour, answered with what to do: a route that reads res.locals.socket
// with no sockets factory before it, and a page served from another origin (a dev server on
// another port) refused with 403.

import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { WebSocket } from "ws";
import { attach, sockets } from "../lib/index";
import { SseClient } from "./helpers/sse-client";
import type { LoggerLike } from "../lib/index";

const servers: http.Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function start(configure: (app: express.Express, logger: LoggerLike) => void) {
  const logs: string[] = [];
  const sink = (line: string): void => void logs.push(line);
  const logger: LoggerLike = { error: sink, warn: sink, info: sink, debug: sink };
  const app = express();
  configure(app, logger);
  const server = http.createServer(app);
  attach(server, app, { logger });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, logs };
}

/** Connects and resolves with the HTTP status of a refused handshake. */
function refusedStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("open", () => reject(new Error("the handshake was accepted")));
    ws.on("error", () => undefined);
  });
}

describe("a handler that reads res.locals.socket without a sockets factory", () => {
  it.each([
    ["destructures it", "destructure"],
    ["reads a channel from it", "read"],
  ])("%s: 500, and the log line says which factory to put before it", async (_name, how) => {
    const { port, logs } = await start((app) => {
      app.get("/chat", async (_req, res) => {
        const locals = res.locals as { socket?: { receiver: unknown; sender: unknown } };
        if (how === "destructure") {
          const { receiver } = locals.socket!;
          return receiver;
        }
        return locals.socket!.sender;
      });
    });
    expect(await refusedStatus(`ws://127.0.0.1:${port}/chat`)).toBe(500);
    const line = logs.find((l) => l.includes("no sockets factory"));
    expect(line).toBeDefined();
    expect(line).toContain("/chat");
    expect(line).toContain("sockets.messages()");
    expect(line).toContain("app.get(path, sockets.messages(), handler)");
  });

  it("other handler errors keep their own log line", async () => {
    const { port, logs } = await start((app) => {
      app.get("/boom", () => {
        throw new TypeError("something else");
      });
    });
    expect(await refusedStatus(`ws://127.0.0.1:${port}/boom`)).toBe(500);
    expect(logs.some((l) => l.includes("no sockets factory"))).toBe(false);
    expect(logs.some((l) => l.includes("TypeError: something else"))).toBe(true);
  });
});

describe("a page on another origin", () => {
  it("403, and the log line names allowedOrigin with a pattern that would accept it", async () => {
    const { port, logs } = await start((app, logger) => {
      app.get("/ws", sockets.messages({ logger }), () => undefined);
    });
    const status = await refusedStatus(`ws://127.0.0.1:${port}/ws`, {
      Origin: "http://localhost:5173",
    });
    expect(status).toBe(403);
    const line = logs.find((l) => l.includes("Origin not allowed"));
    expect(line).toContain('"http://localhost:5173"');
    expect(line).toContain(`for host "127.0.0.1:${port}"`);
    expect(line).toContain('allowedOrigin: "http://localhost:5173$"');
  });

  it("the suggested pattern is accepted", async () => {
    const { port } = await start((app, logger) => {
      app.get(
        "/ws",
        sockets.messages({ logger, allowedOrigin: "http://localhost:5173$" }),
        async (_req, res) => {
          await res.locals.socket.sender.send("hello");
        },
      );
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
      headers: { Origin: "http://localhost:5173" },
    });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once("message", (d) => resolve(String(d)));
      ws.once("error", reject);
    });
    expect(first).toBe("hello");
    ws.close();
  });

  it("an SSE stream keeps the CORS header a middleware set before sockets.sse()", async () => {
    const { port } = await start((app, logger) => {
      app.get(
        "/events",
        (req, res, next) => {
          if (req.headers.origin === "http://localhost:5173") {
            res.set("Access-Control-Allow-Origin", "http://localhost:5173");
          }
          next();
        },
        sockets.sse({ logger }),
        async (_req, res) => {
          await res.locals.socket.sender.send("hi");
        },
      );
    });
    const c = await SseClient.connect(`http://127.0.0.1:${port}/events`, {
      Origin: "http://localhost:5173",
    });
    try {
      expect(c.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
      expect(c.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
      await c.count(1);
      expect(c.events[0]?.data).toBe("hi");
    } finally {
      await c.close();
    }
  });
});
