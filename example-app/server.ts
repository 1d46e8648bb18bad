// The example app: every piece of express-sockets in one Express server, served by `npm start`
// on PORT (default 3000). `/` is a page that talks to the routes with the browser's own
// WebSocket; `/logs.html` follows this app's own log file over Server-Sent Events or WebSocket.

import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import type { AddressInfo } from "node:net";
import path from "node:path";
import express from "express";
import { z } from "zod";
import { after, attach, InvalidMessageError, select, sockets, tick } from "express-sockets";
import type { WriteChannel } from "express-sockets";

// Compiled to example-app/dist/, the pages stay in example-app/public/ (also when run from source).
const publicDir = path.join(__dirname, path.basename(__dirname) === "dist" ? ".." : ".", "public");

/** A chat message as clients send it: validated by zod before the handler sees it. */
const ChatIn = z.object({
  user: z.string().trim().min(1).max(40),
  text: z.string().trim().min(1).max(500),
});
type ChatIn = z.infer<typeof ChatIn>;

/** What the chat route sends: chat lines from others, notices, and validation errors. */
type ChatOut =
  | { type: "chat"; user: string; text: string; at: string }
  | { type: "notice"; text: string }
  | { type: "invalid"; issues: string[] };

export interface ExampleOptions {
  /**
   * The log file the app writes (fresh at each start) and the log viewer follows. Defaults to
   * `express-sockets-example-<port>.log` in the system's temporary directory (`pid<pid>` for
   * port 0), so that two instances never share one.
   */
  logFile?: string;
  /** The port the app will listen on, for the default log file's name. Defaults to `PORT` or 3000. */
  port?: number;
  /** How long a chat connection may stay open, in ms (Martini's example closes after 30 min). */
  chatSessionLimit?: number;
}

export interface Example {
  server: http.Server;
  logFile: string;
  /** Closes every socket (1001) and the HTTP server. */
  close(): Promise<void>;
}

/** Builds the app and its server (not yet listening). */
export function createExample(options: ExampleOptions = {}): Example {
  const port = options.port ?? Number(process.env.PORT ?? 3000);
  const name = `express-sockets-example-${port === 0 ? `pid${process.pid}` : port}.log`;
  const logFile = options.logFile ?? path.join(os.tmpdir(), name);
  const chatSessionLimit = options.chatSessionLimit ?? 30 * 60_000;
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = fs.createWriteStream(logFile, { flags: "w" }); // one run, one log: it never piles up
  const writeLog = (line: string): void => {
    log.write(`${new Date().toISOString()} ${line.replace(/[\r\n]+/g, " ")}\n`);
  };

  const app = express();
  app.use((req, _res, next) => {
    writeLog(`${req.method} ${req.url}${req.headers.upgrade ? " (upgrade)" : ""}`);
    next();
  });
  app.use(express.static(publicDir));

  // ---- echo, one route per factory -------------------------------------------------------
  app.get("/echo/messages", sockets.messages(), async (_req, res) => {
    const { receiver, sender } = res.locals.socket;
    for await (const text of receiver) await sender.send(text);
  });
  app.get("/echo/bytes", sockets.bytes(), async (_req, res) => {
    const { receiver, sender } = res.locals.socket;
    for await (const bytes of receiver) await sender.send(bytes);
  });
  app.get("/echo/json", sockets.json(), async (_req, res) => {
    const { receiver, sender } = res.locals.socket;
    for await (const value of receiver) await sender.send({ echo: value });
  });

  // ---- chat: zod-validated JSON, a select loop with a session limit ------------------------
  const members = new Set<WriteChannel<ChatOut>>();
  const tellAll = (message: ChatOut, except?: WriteChannel<ChatOut>): void => {
    for (const member of members) {
      // trySend never waits: a member whose buffer is full misses this line rather than
      // slowing everyone else down (its own connection still has backpressure).
      if (member !== except && !member.trySend(message))
        writeLog("chat: a slow member missed a line");
    }
  };
  app.get("/chat", sockets.json<typeof ChatIn, ChatOut>(ChatIn), async (_req, res) => {
    const { receiver, sender, done, error, disconnect, id } = res.locals.socket;
    members.add(sender);
    tellAll({ type: "notice", text: `someone joined (${members.size} here)` }, sender);
    await sender.send({ type: "notice", text: `welcome, ${members.size} here` });
    const limit = after(chatSessionLimit); // closed in finally: its timer goes with the connection
    try {
      for await (const c of select({ receiver, error, done, limit })) {
        switch (c.from) {
          case "receiver": {
            const msg: ChatIn = c.value;
            writeLog(`chat ${id}: <${msg.user}> ${msg.text}`);
            tellAll({ type: "chat", user: msg.user, text: msg.text, at: new Date().toISOString() });
            break;
          }
          case "error":
            // Invalid JSON or a zod failure: the connection stays open, the client is told why.
            await sender.send({ type: "invalid", issues: issuesOf(c.value) });
            break;
          case "limit":
            await sender.send({ type: "notice", text: "session limit reached, goodbye" });
            await disconnect.send({ code: 1000, reason: "session limit" });
            break;
          case "done":
            return;
        }
      }
    } finally {
      limit.close();
      members.delete(sender);
      tellAll({ type: "notice", text: `someone left (${members.size} here)` });
    }
  });

  // ---- server clock: tick() drives a stream until the client leaves -----------------------
  app.get("/clock", sockets.messages(), async (_req, res) => {
    const { sender, done } = res.locals.socket;
    await sender.send(new Date().toISOString()); // the time at once, then every second
    const ticker = tick(1000);
    try {
      for await (const c of select({ ticker, done })) {
        if (c.from === "done") break;
        await sender.send(new Date().toISOString());
      }
    } finally {
      ticker.close();
    }
  });

  // ---- the log viewer: tail -F of this app's own log ---------------------------------------
  app.get("/logs/events", sockets.sse(), sockets.tail(logFile, { lines: 50 }));
  app.get("/logs/ws", sockets.json(), sockets.tail(logFile, { lines: 50 }));
  app.post("/logs/mark", express.text({ limit: "1kb" }), (req, res) => {
    writeLog(`mark: ${typeof req.body === "string" && req.body ? req.body : "(empty)"}`);
    res.status(204).end();
  });

  const server = http.createServer(app);
  const upgrades = attach(server, app);
  return {
    server,
    logFile,
    async close() {
      await upgrades.close({ timeout: 2000 });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => log.end(() => resolve()));
    },
  };
}

function issuesOf(error: Error): string[] {
  if (error instanceof InvalidMessageError && error.issues.length > 0) {
    return error.issues.map(
      (i) => (i.path?.length ? `${i.path.map(String).join(".")}: ` : "") + i.message,
    );
  }
  return [error.message];
}

if (require.main === module) {
  const port = Number(process.env.PORT ?? 3000);
  const example = createExample({ port });
  example.server.once("error", (err: NodeJS.ErrnoException) => {
    // One line that says what to do, not a stack trace.
    if (err.code === "EADDRINUSE") {
      console.error(
        `Port ${port} is already in use: start with another one, e.g. PORT=${port + 1} npm start`,
      );
    } else {
      console.error(`Cannot listen on port ${port}: ${err.message}`);
    }
    process.exit(1);
  });
  example.server.listen(port, () => {
    const { port: actual } = example.server.address() as AddressInfo;
    console.log(`express-sockets example on http://localhost:${actual}/ (log: ${example.logFile})`);
  });
  const stop = (): void => {
    example.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
