// The example app: every piece of express-sockets in one Express server, served by `npm start`
// on PORT (default 3000). `/` is a page that talks to the echo and clock routes with the
// browser's own WebSocket, and to the chat (rooms of a Hub over sockets.events()) with the
// package's browser client; `/logs.html` follows this app's own log file over Server-Sent Events
// or WebSocket.

import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import type { AddressInfo } from "node:net";
import path from "node:path";
import express from "express";
import { z } from "zod";
import { after, attach, Hub, select, sockets, tick } from "express-sockets";

// Compiled to example-app/dist/, the pages stay in example-app/public/ (also when run from source).
const publicDir = path.join(__dirname, path.basename(__dirname) === "dist" ? ".." : ".", "public");

/** The chat's rooms, listed in the page; a client may be in one at a time. */
export const ROOMS = ["lobby", "random", "help"] as const;
type Room = (typeof ROOMS)[number];
const Room = z.enum(ROOMS);

/** What chat clients send, one zod schema per event: the route rejects anything else. */
const ChatIn = {
  /** Enter a room (leaving the one it was in) under a name; answered with the room's state. */
  join: z.object({ room: Room, name: z.string().trim().min(1).max(40) }),
  /** A line for the room; answered (acked) once the room has it. */
  say: z.object({ text: z.string().trim().min(1).max(500) }),
  /** Typing (true) or stopped (false); relayed to the room, at most once a second per client. */
  typing: z.boolean(),
};

/** One line of a room, as every member gets it (and a joining member in `recent`). */
export type Said = {
  id: string;
  room: Room;
  /** The sender's socket id: a page recognises its own lines after a reconnect. */
  from: string;
  name: string;
  text: string;
  /** The server's time, ISO 8601. */
  at: string;
};

/** What the chat route emits: `emits<ChatOut>()` makes any other name or shape a compile error. */
type ChatOut = {
  said: Said;
  joined: { room: Room; id: string; name: string };
  left: { room: Room; id: string; name: string };
  /** A member of the room took another name (a join of the same room under a new name). */
  renamed: { room: Room; id: string; name: string; was: string };
  typing: { room: Room; id: string; name: string; typing: boolean };
  /** Members per room, sent at connect and to everyone in a room whenever a count changes. */
  rooms: Record<Room, number>;
  notice: { text: string };
};

/** The answer to `join` (the page also takes it as the room's catch-up after a reconnect). */
export type JoinAnswer = {
  room: Room;
  /** The client's own socket id: its lines come back with this `from`. */
  you: string;
  members: string[];
  recent: Said[];
};

/** The answer to `say`: delivered with the server's id and time, or refused with a reason. */
export type SayAnswer = { ok: true; id: string; at: string } | { ok: false; error: string };

/** Lines kept per room for members who join (or come back) later: the oldest go first. */
const RECENT_PER_ROOM = 50;
/** Typing events relayed per client: at most one per this many ms, the rest are dropped. */
const TYPING_INTERVAL = 1000;

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
  /** The chat's rooms and registry (the tests look inside). */
  hub: Hub;
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
  // One run, one log: it never piles up. Emptied now, not when the stream opens (that is
  // asynchronous, and under load came after "listening": a reader saw the last run's lines).
  fs.writeFileSync(logFile, "");
  const log = fs.createWriteStream(logFile, { flags: "a" });
  const writeLog = (line: string): void => {
    log.write(`${new Date().toISOString()} ${line.replace(/[\r\n]+/g, " ")}\n`);
  };

  const app = express();
  app.use((req, _res, next) => {
    writeLog(`${req.method} ${req.url}${req.headers.upgrade ? " (upgrade)" : ""}`);
    next();
  });
  app.use(sockets.client()); // the browser client at /express-sockets/client.js (chat.js imports it)
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

  // ---- chat: rooms of a Hub, named events validated by zod, acks, a session limit ------
  const hub = new Hub<ChatOut>({ skipLogging: true });
  const recent = new Map<Room, Said[]>(ROOMS.map((room) => [room, []]));
  let lines = 0;
  let closing = false;
  const counts = (): Record<Room, number> => {
    const out = {} as Record<Room, number>;
    for (const room of ROOMS) out[room] = hub.sockets(room).length;
    return out;
  };
  const chat = sockets.events(ChatIn).emits<ChatOut>();
  app.get("/chat", chat, async (_req, res) => {
    const socket = res.locals.socket;
    const { receiver, error, done, disconnect, id } = socket;
    let room: Room | undefined; // the one room this client is in, once it joined
    let name = "guest";
    let lastTyping = 0;
    await socket.emit("rooms", counts());
    const limit = after(chatSessionLimit); // closed in finally: its timer goes with the connection
    try {
      for await (const c of select({ receiver, error, done, limit })) {
        switch (c.from) {
          case "receiver": {
            const m = c.value;
            if (m.event === "join") {
              if (room !== undefined && room !== m.data.room) {
                hub.leave(socket, room);
                await hub.to(room).emit("left", { room, id, name });
              }
              const fresh = room !== m.data.room;
              const was = name;
              room = m.data.room;
              name = m.data.name;
              socket.data.name = name;
              try {
                await hub.join(socket, room); // left by itself when the connection closes
              } catch (err) {
                // Only a socket that closed meanwhile fails here (the rooms are valid): done.
                writeLog(`chat ${id}: join ${room} failed: ${(err as Error).message}`);
                room = undefined;
                return;
              }
              if (fresh) await hub.to(room).except(socket).emit("joined", { room, id, name });
              else if (was !== name) {
                await hub.to(room).except(socket).emit("renamed", { room, id, name, was });
              }
              const members = hub.sockets(room).map((s) => String(s.data.name));
              const answer: JoinAnswer = { room, you: id, members, recent: recent.get(room)! };
              void m.ack?.(answer); // not awaited: an ack to a client that left is dropped
              await hub.emit("rooms", counts());
            } else if (m.event === "say") {
              if (room === undefined) {
                void m.ack?.({ ok: false, error: "join a room first" } satisfies SayAnswer);
                break;
              }
              const said: Said = {
                id: `${id}.${++lines}`,
                room,
                from: id,
                name,
                text: m.data.text,
                at: new Date().toISOString(),
              };
              const kept = recent.get(room)!;
              kept.push(said);
              if (kept.length > RECENT_PER_ROOM) kept.shift();
              writeLog(`chat ${room} ${id}: <${name}> ${said.text}`);
              await hub.to(room).except(socket).emit("said", said);
              lastTyping = 0; // the line ends "typing" for the others
              void m.ack?.({ ok: true, id: said.id, at: said.at } satisfies SayAnswer);
            } else if (room !== undefined) {
              // typing: a repeated true at most once a TYPING_INTERVAL; "stopped" always goes
              // through, and after it (or a line) the next true does too.
              const now = Date.now();
              if (m.data && now - lastTyping < TYPING_INTERVAL) break;
              lastTyping = m.data ? now : 0;
              await hub.to(room).except(socket).emit("typing", { room, id, name, typing: m.data });
            }
            break;
          }
          case "error":
            // An unknown event or data the schema refused: a request was already answered with
            // the error (the page shows it); the connection stays open.
            writeLog(`chat ${id}: ${c.value.message}`);
            break;
          case "limit":
            await socket.emit("notice", { text: "session limit reached, goodbye" });
            await disconnect.send({ code: 1000, reason: "session limit" });
            break;
          case "done":
            return;
        }
      }
    } finally {
      limit.close();
      // The hub already took the closed socket out of every room: tell the room it left
      // (unless the whole app is closing).
      if (room !== undefined && !closing) await hub.to(room).emit("left", { room, id, name });
      if (room !== undefined && !closing) await hub.emit("rooms", counts());
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
    hub,
    async close() {
      closing = true;
      await upgrades.close({ timeout: 2000 });
      hub.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => log.end(() => resolve()));
    },
  };
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
