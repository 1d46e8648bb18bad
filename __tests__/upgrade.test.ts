// attach(): upgrade requests routed through a real Express app on a real port, before any
// handshake. Every refusal is checked as the raw bytes a client receives, and that the server
// then closes the TCP connection (never hung, never accepted-then-closed).

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import express, { type NextFunction, type Request, type Response } from "express";
import { WebSocket } from "ws";
import { attach } from "../lib/websocket/upgrade";
import { sockets } from "../lib/sockets";
import {
  captureLog,
  closed,
  connect,
  nextMessages,
  open,
  rawExchange,
  received,
  serve,
  upgradeRequest,
  type Served,
} from "./fixtures/upgrade-server";

const quiet = { skipLogging: true } as const;

let served: Served | null = null;
afterEach(async () => {
  await served?.close();
  served = null;
});

function echoApp(): express.Express {
  const app = express();
  app.get("/echo", sockets.messages(quiet), async (_req, res) => {
    const { receiver, sender } = res.locals.socket;
    for await (const m of receiver) await sender.send(m);
  });
  return app;
}

describe("attach(server, app)", () => {
  it("routes an upgrade through the app to a sockets route and echoes", async () => {
    served = await serve(echoApp());
    const ws = await open(served.url("/echo"));
    expect(served.attachment.size).toBe(1);
    const got = nextMessages(ws, 2);
    ws.send("one");
    ws.send("two");
    expect(await got).toEqual(["one", "two"]);
    const end = closed(ws);
    ws.close(1000);
    expect((await end).code).toBe(1000);
    await waitFor(() => served?.attachment.size === 0);
  });

  it("answers an unknown path with the app's 404 as HTTP, then closes the socket", async () => {
    served = await serve(echoApp());
    const res = await rawExchange(served.port, upgradeRequest("/nowhere?x=1"));
    expect(res.status).toBe(404);
    expect(res.body).toContain("Cannot GET /nowhere");
    expect(res.headers.connection).toBe("close");
    expect(res.raw).not.toContain("101 Switching Protocols");
    expect(res.closedByServer).toBe(true);
    expect(served.attachment.size).toBe(0);
  });

  it("leaves no socket open after many refused upgrades", async () => {
    served = await serve(echoApp());
    const port = served.port;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => rawExchange(port, upgradeRequest(`/missing/${i}`))),
    );
    expect(answers.every((a) => a.status === 404 && a.closedByServer)).toBe(true);
    const server = served.server;
    const connections = (): Promise<number> =>
      new Promise((resolve, reject) =>
        server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
      );
    const until = Date.now() + 2000;
    while ((await connections()) > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await connections()).toBe(0);
  });

  it("lets middleware before the factory answer 401; the client sees the 401", async () => {
    const app = express();
    app.use("/private", (req: Request, res: Response, next: NextFunction) => {
      if (req.headers.authorization === "Bearer good") return next();
      res.status(401).set("WWW-Authenticate", "Bearer").send("login first");
    });
    app.get("/private/ws", sockets.messages(quiet), (_req, res) => {
      void res.locals.socket.sender.send("welcome");
    });
    served = await serve(app);

    const refused = await connect(served.url("/private/ws"));
    expect(refused).toMatchObject({ kind: "refused", status: 401, body: "login first" });
    if (refused.kind === "refused") expect(refused.headers["www-authenticate"]).toBe("Bearer");

    const ws = await open(served.url("/private/ws"), {
      headers: { Authorization: "Bearer good" },
    });
    expect(await nextMessages(ws, 1)).toEqual(["welcome"]);
    ws.terminate();
  });

  it("runs app-level middleware (rate limit 429) and router-level routes", async () => {
    const app = express();
    let calls = 0;
    app.use((_req, res, next) => {
      calls += 1;
      if (calls > 1) return void res.status(429).set("Retry-After", "1").send("slow down");
      next();
    });
    const router = express.Router();
    router.get("/ws", sockets.messages(quiet), (_req, res) => {
      void res.locals.socket.sender.send("routed");
    });
    app.use("/api", router);
    served = await serve(app);
    const ws = await open(served.url("/api/ws"));
    expect(await nextMessages(ws, 1)).toEqual(["routed"]);
    ws.terminate();
    const res = await rawExchange(served.port, upgradeRequest("/api/ws"));
    expect(res.status).toBe(429);
    expect(res.headers["retry-after"]).toBe("1");
    expect(res.body).toBe("slow down");
  });

  it("answers an error passed to next() by middleware with its status and closes", async () => {
    const app = express();
    app.use((_req, _res, next) => {
      next(Object.assign(new Error("nope"), { status: 418 }));
    });
    const log = captureLog();
    served = await serve(app, { logger: log.logger, logLevel: "debug", skipLogging: false });
    const res = await rawExchange(served.port, upgradeRequest("/x"));
    expect(res.status).toBe(418);
    expect(res.closedByServer).toBe(true);
    expect(log.lines.some((l) => l.includes("refused with 418"))).toBe(true);
  });

  it("answers 500 when middleware throws, logs it, and keeps serving", async () => {
    const app = express();
    app.get("/boom", () => {
      throw new Error("kaboom");
    });
    app.get("/echo", sockets.messages(quiet), async (_req, res) => {
      const { receiver, sender } = res.locals.socket;
      for await (const m of receiver) await sender.send(m);
    });
    const log = captureLog();
    served = await serve(app, { logger: log.logger, skipLogging: false });
    const res = await rawExchange(served.port, upgradeRequest("/boom"));
    expect(res.status).toBe(500);
    expect(res.body).not.toContain("kaboom"); // no internals leaked to the client
    expect(log.lines.find((l) => l.includes("kaboom"))).toMatch(
      /^\[sockets\] \[Error\] \[127\.0\.0\.1:\d+\] Upgrade request failed: Error: kaboom/,
    );
    const ws = await open(served.url("/echo"));
    const got = nextMessages(ws, 1);
    ws.send("still here");
    expect(await got).toEqual(["still here"]);
    ws.terminate();
  });

  it("answers 503 when middleware neither answers nor calls next within handshakeTimeout", async () => {
    const app = express();
    app.use("/stuck", () => {
      /* never answers, never calls next */
    });
    const log = captureLog();
    served = await serve(app, { handshakeTimeout: 100, logger: log.logger, skipLogging: false });
    const started = Date.now();
    const res = await rawExchange(served.port, upgradeRequest("/stuck"));
    expect(res.status).toBe(503);
    expect(res.body).toContain("Handshake timed out");
    expect(Date.now() - started).toBeLessThan(2000);
    expect(log.lines.some((l) => l.includes("[Warning]") && l.includes("100 ms"))).toBe(true);
  });

  it("does not hand a timed-out request to a factory that runs later", async () => {
    const app = express();
    let resume: (() => void) | null = null;
    app.use("/slow", (_req, _res, next) => {
      resume = next;
    });
    let handlerRan = false;
    app.get("/slow", sockets.messages(quiet), () => {
      handlerRan = true;
    });
    served = await serve(app, { handshakeTimeout: 50 });
    const res = await rawExchange(served.port, upgradeRequest("/slow"));
    expect(res.status).toBe(503);
    expect(resume).not.toBeNull();
    (resume as unknown as () => void)();
    await new Promise((r) => setImmediate(r));
    expect(handlerRan).toBe(false);
    expect(served.attachment.size).toBe(0);
  });

  it("survives a client that vanishes while middleware is still running", async () => {
    const app = express();
    let resume: (() => void) | null = null;
    const reached = new Promise<void>((resolve) => {
      app.use("/slow", (_req, _res, next) => {
        resume = next;
        resolve();
      });
    });
    let handlerRan = false;
    app.get("/slow", sockets.messages(quiet), () => {
      handlerRan = true;
    });
    app.get("/echo", sockets.messages(quiet), async (_req, res) => {
      const { receiver, sender } = res.locals.socket;
      for await (const m of receiver) await sender.send(m);
    });
    served = await serve(app);
    const socket = net.connect(served.port, "127.0.0.1");
    socket.write(upgradeRequest("/slow"));
    await reached;
    socket.resetAndDestroy(); // RST: the server's next write would fail
    await new Promise((r) => setTimeout(r, 20));
    (resume as unknown as () => void)();
    await new Promise((r) => setTimeout(r, 20));
    expect(handlerRan).toBe(false);
    const ws = await open(served.url("/echo"));
    const got = nextMessages(ws, 1);
    ws.send("alive");
    expect(await got).toEqual(["alive"]);
    ws.terminate();
  });

  it("survives garbage after a request and a client that closes mid-answer", async () => {
    served = await serve(echoApp());
    for (let i = 0; i < 5; i++) {
      const s = net.connect(served.port, "127.0.0.1");
      s.on("error", () => {});
      s.write(upgradeRequest("/nowhere") + "\x00\xff garbage");
      s.destroy();
    }
    const ws = await open(served.url("/echo"));
    ws.terminate();
  });

  it("forwards headers set by middleware (Set-Cookie) in the 101 response", async () => {
    const app = express();
    app.use((_req, res, next) => {
      res.setHeader("Set-Cookie", ["sid=abc; HttpOnly", "theme=dark"]);
      res.setHeader("X-Request-Id", "r-1");
      res.setHeader("Content-Type", "text/html"); // never forwarded in a 101
      next();
    });
    app.get("/ws", sockets.messages(quiet), () => {});
    served = await serve(app);
    const outcome = await connect(served.url("/ws"));
    expect(outcome.kind).toBe("open");
    expect(outcome.headers["set-cookie"]).toEqual(["sid=abc; HttpOnly", "theme=dark"]);
    expect(outcome.headers["x-request-id"]).toBe("r-1");
    expect(outcome.headers["content-type"]).toBeUndefined();
    if (outcome.kind === "open") outcome.ws.terminate();
  });

  it("answers an upgrade to another protocol (h2c) as the plain request it also is", async () => {
    const app = echoApp();
    app.post("/form", (req, res) => void res.send(`posted as ${req.method}`));
    served = await serve(app);
    const res = await rawExchange(
      served.port,
      upgradeRequest("/form", {
        method: "POST",
        headers: { Upgrade: "h2c", "Sec-WebSocket-Key": null, "Sec-WebSocket-Version": null },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toBe("posted as POST");
    expect(res.closedByServer).toBe(true);
  });

  it("lets plain HTTP requests through to the app as usual", async () => {
    const app = echoApp();
    app.get("/hello", (_req, res) => void res.send("hi"));
    served = await serve(app);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${served?.port}/hello`, (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve(text));
        })
        .on("error", reject);
    });
    expect(body).toBe("hi");
  });

  it("accepts a bare Router as the app (no res.locals until the factory makes one)", async () => {
    const router = express.Router();
    router.get("/ws", sockets.messages(quiet), (_req, res) => {
      void res.locals.socket.sender.send("from a bare router");
    });
    const server = http.createServer();
    const attachment = attach(server, router, quiet);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const ws = await open(`ws://127.0.0.1:${port}/ws`);
      expect(await nextMessages(ws, 1)).toEqual(["from a bare router"]);
      ws.terminate();
      const res = await rawExchange(port, upgradeRequest("/elsewhere"));
      expect(res.status).toBe(404);
    } finally {
      await attachment.close({ timeout: 200 });
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("works the same on an https server (TLS sockets)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "express-sockets-tls-"));
    const server = await (async () => {
      const key = path.join(dir, "key.pem");
      const cert = path.join(dir, "cert.pem");
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-keyout",
          key,
          "-out",
          cert,
          "-days",
          "1",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=IP:127.0.0.1",
        ],
        { stdio: "ignore" },
      );
      return https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) });
    })();
    const ca = fs.readFileSync(path.join(dir, "cert.pem"));
    fs.rmSync(dir, { recursive: true, force: true });
    const app = echoApp();
    server.on("request", app);
    const attachment = attach(server, app, quiet);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const ws = await open(`wss://127.0.0.1:${port}/echo`, { ca });
      const got = nextMessages(ws, 1);
      ws.send("over tls");
      expect(await got).toEqual(["over tls"]);
      ws.terminate();
      const refused = await connect(`wss://127.0.0.1:${port}/missing`, { ca });
      expect(refused).toMatchObject({ kind: "refused", status: 404 });
    } finally {
      await attachment.close({ timeout: 200 });
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("refuses a second attach() on the same server", () => {
    const app = express();
    const server = http.createServer(app);
    attach(server, app, quiet);
    expect(() => attach(server, app, quiet)).toThrow(/already called/);
  });

  it("checks its arguments", () => {
    const app = express();
    const server = http.createServer(app);
    expect(() => attach({} as http.Server, app)).toThrow(TypeError);
    expect(() => attach(server, {} as express.Express)).toThrow(TypeError);
    expect(() => attach(server, app, { handshakeTimeout: -1 })).toThrow(RangeError);
  });
});

describe("Attachment#close", () => {
  it("flushes every queued message, then closes each connection with 1001", async () => {
    const app = express();
    let queued!: () => void;
    const allQueued = new Promise<void>((r) => (queued = r));
    app.get("/burst", sockets.messages({ ...quiet, sendChannelBuffer: 50 }), (_req, res) => {
      const { sender } = res.locals.socket;
      for (let i = 0; i < 50; i++) sender.trySend(`m${i}`);
      queued();
    });
    served = await serve(app);
    const clients = await Promise.all([open(served.url("/burst")), open(served.url("/burst"))]);
    const ends = clients.map((ws) => closed(ws));
    await allQueued;
    expect(served.attachment.size).toBe(2);
    await served.attachment.close({ timeout: 2000 });
    const results = await Promise.all(ends);
    for (const r of results) expect(r).toEqual({ code: 1001, reason: "Server shutting down" });
    const expected = Array.from({ length: 50 }, (_, i) => `m${i}`);
    for (const ws of clients) expect(received(ws)).toEqual(expected);
    expect(served.attachment.size).toBe(0);
  });

  it("answers 503 to new upgrades once closed, and is idempotent", async () => {
    served = await serve(echoApp());
    const first = served.attachment.close();
    expect(served.attachment.close()).toBe(first);
    await first;
    const res = await rawExchange(served.port, upgradeRequest("/echo"));
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
  });

  it("terminates connections that do not answer the close within the timeout", async () => {
    served = await serve(echoApp());
    const ws = await open(served.url("/echo"));
    // Stop reading: the client never answers the close frame.
    (ws as unknown as { _socket: net.Socket })._socket.pause();
    const started = Date.now();
    await served.attachment.close({ timeout: 100 });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(served.attachment.size).toBe(0);
    ws.terminate();
  });
});

describe("errors in handlers after the handshake", () => {
  it("closes with 1011 when the handler throws, and keeps serving others", async () => {
    const app = express();
    const log = captureLog();
    const logged = { logger: log.logger };
    app.get("/sync", sockets.messages(logged), () => {
      throw new Error("sync failure");
    });
    app.get("/async", sockets.messages(logged), async (_req, res) => {
      await res.locals.socket.receiver.recv();
      throw new Error("async failure");
    });
    app.get("/echo", sockets.messages(quiet), async (_req, res) => {
      const { receiver, sender } = res.locals.socket;
      for await (const m of receiver) await sender.send(m);
    });
    served = await serve(app);
    const survivor = await open(served.url("/echo"));

    const a = await open(served.url("/sync"));
    expect((await closed(a)).code).toBe(1011);

    const b = await open(served.url("/async"));
    const bEnd = closed(b);
    b.send("go");
    expect((await bEnd).code).toBe(1011);

    expect(log.lines.some((l) => l.includes("1011") && l.includes("sync failure"))).toBe(true);
    expect(log.lines.some((l) => l.includes("1011") && l.includes("async failure"))).toBe(true);

    const got = nextMessages(survivor, 1);
    survivor.send("ok");
    expect(await got).toEqual(["ok"]);
    survivor.terminate();
  });

  it("closes with 1011 even when the app's own error middleware answers (no HTTP bytes in the stream)", async () => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), async () => {
      throw new Error("handled elsewhere");
    });
    const seen: unknown[] = [];
    app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(err);
      res.status(500).json({ error: "internal" });
    });
    served = await serve(app);
    const ws = await open(served.url("/ws"));
    const end = await closed(ws);
    expect(end.code).toBe(1011);
    expect(received(ws)).toEqual([]);
    expect(seen).toHaveLength(1);
  });

  it("closes with 1011 when error middleware delegates because headers were sent", async () => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), () => {
      throw new Error("delegated");
    });
    let headersSent: boolean | null = null;
    app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
      headersSent = res.headersSent;
      if (res.headersSent) return next(err);
      res.status(500).end();
    });
    served = await serve(app);
    const ws = await open(served.url("/ws"));
    expect((await closed(ws)).code).toBe(1011);
    expect(headersSent).toBe(true);
  });

  it("ignores a handler's res.end() after the handshake (nothing can reach the client)", async () => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), async (_req, res) => {
      res.end();
      await res.locals.socket.sender.send("still open");
    });
    served = await serve(app);
    const ws = await open(served.url("/ws"));
    expect(await nextMessages(ws, 1)).toEqual(["still open"]);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.terminate();
  });

  it("does not close the connection when the handler returns", async () => {
    const app = express();
    const sockets_: { send(v: string): Promise<void> }[] = [];
    app.get("/later", sockets.messages(quiet), (_req, res) => {
      sockets_.push(res.locals.socket.sender); // hand the channels to other code and return
    });
    served = await serve(app);
    const ws = await open(served.url("/later"));
    await new Promise((r) => setTimeout(r, 30));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    const got = nextMessages(ws, 1);
    await sockets_[0]?.send("from elsewhere");
    expect(await got).toEqual(["from elsewhere"]);
    ws.terminate();
  });
});

async function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
