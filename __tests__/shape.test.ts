// The shape declared on upgrade requests and responses before Express routes them (shape.ts):
// Express behaves exactly as without it (its getters are not shadowed, mounted apps and
// routers see their own prototypes and paths), late answers are still caught after the
// handshake, and requests of different upgrades share their hidden classes.

import { execFileSync } from "node:child_process";
import path from "node:path";
import express, { type NextFunction, type Request, type Response } from "express";
import { sockets } from "../lib/sockets";
import {
  closed,
  nextMessages,
  open,
  rawExchange,
  received,
  servePerTest,
  upgradeRequest,
} from "./fixtures/upgrade-server";

const quiet = { skipLogging: true } as const;
const serve = servePerTest();

describe("the request and response Express routes", () => {
  it("keeps Express's getters (req.query) and the router's own properties working", async () => {
    const app = express();
    const router = express.Router();
    const seen: Record<string, unknown>[] = [];
    router.get("/rooms/:room", sockets.messages(quiet), (req, res) => {
      seen.push({
        query: req.query,
        params: req.params,
        baseUrl: req.baseUrl,
        originalUrl: req.originalUrl,
        path: req.path,
        route: req.route?.path,
        locals: Object.keys(res.locals),
        headersSent: res.headersSent,
        status: res.statusCode,
      });
      res.locals.socket.disconnect.trySend(1000);
    });
    app.use("/api", router);
    const served = await serve(app);
    const ws = await open(served.url("/api/rooms/blue?x=1&y=two"));
    expect((await closed(ws)).code).toBe(1000);
    expect(seen).toEqual([
      {
        query: { x: "1", y: "two" },
        params: { room: "blue" },
        baseUrl: "/api",
        originalUrl: "/api/rooms/blue?x=1&y=two",
        path: "/rooms/blue",
        route: "/rooms/:room",
        locals: ["socket"],
        headersSent: true,
        status: 101,
      },
    ]);
  });

  it("reports headersSent false before the handshake, and answers HTTP from middleware as usual", async () => {
    const app = express();
    let before: boolean | null = null;
    app.get(
      "/ws",
      (req: Request, res: Response, next: NextFunction) => {
        before = res.headersSent;
        if (req.query.deny === "1") {
          res.status(401).set("WWW-Authenticate", "Bearer").send("no");
          return;
        }
        next();
      },
      sockets.messages(quiet),
      (_req, res) => {
        void res.locals.socket.sender.send("in");
      },
    );
    const served = await serve(app);
    const refused = await rawExchange(served.port, upgradeRequest("/ws?deny=1"));
    expect(refused.status).toBe(401);
    expect(refused.headers["www-authenticate"]).toBe("Bearer");
    expect(before).toBe(false);
    const ws = await open(served.url("/ws"));
    expect(await nextMessages(ws, 1)).toEqual(["in"]);
    ws.terminate();
  });

  it("closes with 1011 when a mounted app's handler fails and the parent's error middleware answers", async () => {
    // Express restores the parent's prototypes when the error leaves the mounted app: the
    // late answer must still be caught, not written into the WebSocket stream.
    const parent = express();
    const child = express();
    child.get("/ws", sockets.messages(quiet), async () => {
      throw new Error("child failed");
    });
    parent.use("/child", child);
    const errors: unknown[] = [];
    parent.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      errors.push(err);
      res.status(500).send("internal");
    });
    const served = await serve(parent);
    const ws = await open(served.url("/child/ws"));
    const end = await closed(ws);
    expect(end.code).toBe(1011);
    expect(received(ws)).toEqual([]);
    expect(errors).toHaveLength(1);
  });

  it("gives every upgrade request and response the same hidden class", () => {
    // A child process with V8's natives syntax: 30 upgrades through a router with a param.
    const script = `
      const http = require("node:http");
      const express = require("express");
      const { WebSocket } = require("ws");
      const { attach, sockets } = require(${JSON.stringify(path.join(__dirname, "..", "dist"))});
      const app = express();
      const seen = [];
      const router = express.Router();
      router.get("/ws/:id", sockets.messages({ skipLogging: true }), (req, res) => {
        seen.push([req, res]);
        res.locals.socket.disconnect.trySend(1000);
      });
      app.use("/r", router);
      const server = http.createServer(app);
      attach(server, app, { skipLogging: true });
      server.listen(0, "127.0.0.1", async () => {
        for (let i = 0; i < 30; i++) {
          await new Promise((resolve) => {
            const ws = new WebSocket("ws://127.0.0.1:" + server.address().port + "/r/ws/" + i);
            ws.on("close", resolve);
          });
        }
        const [a, b] = [seen[20], seen[29]];
        console.log(JSON.stringify({ req: %HaveSameMap(a[0], b[0]), res: %HaveSameMap(a[1], b[1]) }));
        process.exit(0);
      });`;
    const out = execFileSync(process.execPath, ["--allow-natives-syntax", "-e", script], {
      cwd: path.join(__dirname, ".."),
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(JSON.parse(out.trim())).toEqual({ req: true, res: true });
  });
});
