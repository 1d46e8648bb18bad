// Test helpers for recovery (API.md section 6): a real Express app with attach() whose events
// route joins each socket to the rooms in `?rooms=a,b`, and a hand-written protocol client (a
// real ws client) that speaks RECOVERY-PROTOCOL.md: it keeps the session token and each room's
// position, presents them in `es_resume` when it reconnects, and records every frame.

import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { WebSocket } from "ws";
import { z } from "zod";
import { Channel } from "../../lib/channels/channel";
import type { EventsSocket } from "../../lib/events/index";
import { Hub, LocalAdapter, type HubOptions, type JoinResult } from "../../lib/hub/index";
import { sockets } from "../../lib/sockets";
import { attach } from "../../lib/websocket/upgrade";

const Room = { say: z.object({ room: z.string(), n: z.number() }) };
type RoomOut = { msg: { n: number; room?: string } };
export type RoomSocket = EventsSocket<typeof Room, RoomOut>;

export interface RecoveryServer {
  hub: Hub;
  adapter: LocalAdapter;
  base: string;
  port: number;
  logs: string[];
  /** Every join the route did: the socket and what `join` answered (or the error). */
  joins: Channel<{ socket: RoomSocket; result: JoinResult | Error }>;
  /** Called in the handler right after `hub.join` starts (before it resolves). */
  onJoin: ((socket: RoomSocket) => void) | null;
  /** Terminates every server-side socket (the network dropped). */
  terminateAll(): void;
  close(): Promise<void>;
}

const servers: RecoveryServer[] = [];
const clients: Proto[] = [];

/** Closes every server and client made by these helpers (afterEach). */
export async function closeRecovery(): Promise<void> {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
}

export async function startRecovery(
  options: HubOptions = {},
  socketOptions: { sendChannelBuffer?: number; port?: number; adapter?: LocalAdapter } = {},
): Promise<RecoveryServer> {
  const logs: string[] = [];
  const sink = (line: string): void => {
    logs.push(line);
  };
  const logger = { error: sink, warn: sink, info: sink, debug: sink };
  const adapter = socketOptions.adapter ?? new LocalAdapter();
  const hub = new Hub({ logger, logLevel: "warning", adapter, ...options });
  const joins = new Channel<{ socket: RoomSocket; result: JoinResult | Error }>(10_000);
  const app = express();
  const live = new Set<RoomSocket>();
  const s: RecoveryServer = {
    hub,
    adapter,
    base: "",
    port: 0,
    logs,
    joins,
    onJoin: null,
    terminateAll: () => {
      for (const socket of live) (socket as unknown as { ws: WebSocket }).ws.terminate();
    },
    close: async () => {},
  };
  const o = {
    logger,
    logLevel: "warning" as const,
    pingPeriod: 0,
    pongWait: 0,
    sendChannelBuffer: socketOptions.sendChannelBuffer ?? 64,
  };
  app.get("/room", sockets.events(Room, o).emits<RoomOut>(), async (req, res) => {
    const socket = res.locals.socket;
    live.add(socket);
    void socket.done.recv().then(() => live.delete(socket));
    const rooms =
      typeof req.query.rooms === "string" && req.query.rooms !== ""
        ? req.query.rooms.split(",")
        : [];
    const joining = hub.join(socket, ...rooms);
    s.onJoin?.(socket);
    let result: JoinResult | Error;
    try {
      result = await joining;
    } catch (err) {
      result = err as Error;
    }
    joins.trySend({ socket, result });
    for await (const m of socket.receiver) {
      if (m.event === "say") {
        await hub.to(m.data.room).except(socket).emit("msg", { n: m.data.n, room: m.data.room });
      }
    }
  });
  // A json route in the same rooms: no `$` messages, but positions in room messages.
  app.get("/json", sockets.json(undefined, o), async (req, res) => {
    const rooms = typeof req.query.rooms === "string" ? req.query.rooms.split(",") : [];
    await hub.join(res.locals.socket, ...rooms);
  });
  const server = http.createServer(app);
  const upgrades = attach(server, app, { logger });
  await new Promise<void>((resolve) =>
    server.listen(socketOptions.port ?? 0, "127.0.0.1", resolve),
  );
  const { port } = server.address() as AddressInfo;
  s.port = port;
  s.base = `127.0.0.1:${port}`;
  s.close = async () => {
    await hub.close();
    await upgrades.close({ timeout: 1000 });
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  servers.push(s);
  return s;
}

/** A parsed frame the client got. */
export interface Frame {
  event?: string;
  data?: unknown;
  at?: Record<string, [string, number]>;
}

/** What a client keeps across connections: the token and each room's position. */
export interface Saved {
  token?: string;
  rooms: Record<string, { epoch: string; seq: number }>;
}

/**
 * A hand-written protocol client on one connection. `frames` holds every frame in order;
 * `saved` is updated by `$session`, `$joined` and each room message (RECOVERY-PROTOCOL.md §4).
 */
export class Proto {
  readonly frames: Frame[] = [];
  closeCode: number | null = null;
  readonly closed: Promise<number>;
  readonly opened: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(
    readonly ws: WebSocket,
    readonly saved: Saved,
  ) {
    clients.push(this);
    ws.on("message", (data) => {
      const f = JSON.parse(String(data)) as Frame;
      this.frames.push(f);
      this.track(f);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code) => {
        this.closeCode = code;
        for (const w of this.waiters.splice(0)) w();
        resolve(code);
      }),
    );
    this.opened = new Promise((resolve, reject) =>
      ws.once("open", () => resolve()).once("error", reject),
    );
  }

  /** Connects to `/room?rooms=...`, presenting `saved` (token and positions) when given. */
  static async open(
    s: { base: string },
    rooms: string[],
    saved: Saved = { rooms: {} },
    present = true,
  ): Promise<Proto> {
    let url = `ws://${s.base}/room?rooms=${rooms.join(",")}`;
    if (present && (saved.token !== undefined || Object.keys(saved.rooms).length > 0)) {
      const resume = Buffer.from(JSON.stringify(saved)).toString("base64url");
      url += `&es_resume=${resume}`;
    }
    const p = new Proto(new WebSocket(url), saved);
    await p.opened;
    return p;
  }

  private track(f: Frame): void {
    const d = f.data as Record<string, unknown> | undefined;
    if (f.event === "$session") this.saved.token = d!.token as string;
    else if (f.event === "$joined" && typeof d!.epoch === "string") {
      const room = d!.room as string;
      const had = this.saved.rooms[room];
      if (!(d!.recovered === true && had !== undefined && had.epoch === d!.epoch)) {
        this.saved.rooms[room] = { epoch: d!.epoch, seq: d!.seq as number };
      }
    } else if (f.at !== undefined) {
      for (const [room, [epoch, seq]] of Object.entries(f.at)) {
        const p = this.saved.rooms[room];
        if (p !== undefined && p.epoch === epoch && seq === p.seq + 1) p.seq = seq;
      }
    }
  }

  /** Frames of app events (not `$`), in order. */
  get messages(): Frame[] {
    return this.frames.filter((f) => f.event !== undefined && !f.event.startsWith("$"));
  }

  /** The first frame with this event name (and room, for `$joined`). */
  find(event: string, room?: string): Frame | undefined {
    return this.frames.find(
      (f) =>
        f.event === event &&
        (room === undefined || (f.data as { room?: string } | undefined)?.room === room),
    );
  }

  /** Waits until `pred` holds (rejects after `ms` with what it has). */
  async until(pred: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${what} not met after ${ms} ms; ${this.frames.length} frames, last: ${JSON.stringify(this.frames.slice(-3))}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the `$joined` of every room named. */
  async joined(...rooms: string[]): Promise<void> {
    await this.until(
      () => rooms.every((r) => this.find("$joined", r) !== undefined),
      10_000,
      `$joined ${rooms.join(",")}`,
    );
  }

  /** Closes abruptly (the network dropped) and waits for the close. */
  async drop(): Promise<void> {
    this.ws.terminate();
    await this.closed;
  }

  emit(event: string, data: unknown): void {
    this.ws.send(JSON.stringify({ event, data }));
  }
}
