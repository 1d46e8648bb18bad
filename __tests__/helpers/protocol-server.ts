// Test helper: a server that speaks the events wire protocol with plain `ws`, frame by frame, so
// client tests can craft exactly what a hub would send (positions, gaps, duplicates, replays)
// and see exactly what the client sent (its es_resume, pings, emits, answers).

import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";

export interface ServerConn {
  ws: WebSocket;
  /** The request URL (with its query). */
  url: URL;
  /** The client's es_resume, decoded (undefined when it sent none). */
  resume: { token?: string; rooms?: Record<string, { epoch: string; seq: number }> } | undefined;
  /** Every frame the client sent, parsed, except `$ping`s. */
  frames: Record<string, unknown>[];
  pings: number;
  /** Resolves once the client has sent `n` frames (pings not counted). */
  received(n: number): Promise<Record<string, unknown>[]>;
  send(frame: unknown): void;
  closed: Promise<number>;
}

export interface ProtocolServer {
  port: number;
  url: string;
  wss: WebSocketServer;
  conns: ServerConn[];
  /** The next connection (the first one not taken yet). */
  next(): Promise<ServerConn>;
  /** Answer `$ping` with `$pong` (default true). */
  pong: boolean;
  close(): Promise<void>;
}

export async function startProtocolServer(port = 0): Promise<ProtocolServer> {
  const wss = new WebSocketServer({ port, host: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });
  const conns: ServerConn[] = [];
  const waiting: ((c: ServerConn) => void)[] = [];
  let taken = 0;
  const server: ProtocolServer = {
    port: (wss.address() as AddressInfo).port,
    url: "",
    wss,
    conns,
    pong: true,
    next() {
      if (taken < conns.length) return Promise.resolve(conns[taken++]!);
      return new Promise((resolve) => waiting.push(resolve));
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  server.url = `ws://127.0.0.1:${server.port}/events`;
  wss.on("connection", (ws, req) => {
    ws.on("error", () => {});
    const url = new URL(req.url ?? "/", "ws://x");
    const raw = url.searchParams.get("es_resume");
    const frames: Record<string, unknown>[] = [];
    let want = Infinity;
    let notify: (() => void) | undefined;
    const conn: ServerConn = {
      ws,
      url,
      resume: raw === null ? undefined : JSON.parse(Buffer.from(raw, "base64url").toString("utf8")),
      frames,
      pings: 0,
      received(n) {
        if (frames.length >= n) return Promise.resolve(frames);
        want = n;
        return new Promise((resolve) => (notify = () => resolve(frames)));
      },
      send(frame) {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
      },
      closed: new Promise((resolve) => ws.once("close", (code) => resolve(code))),
    };
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data)) as Record<string, unknown>;
      if (frame.event === "$ping") {
        conn.pings++;
        if (server.pong) ws.send('{"event":"$pong"}');
        return;
      }
      frames.push(frame);
      if (frames.length >= want && notify !== undefined) {
        const n = notify;
        notify = undefined;
        want = Infinity;
        n();
      }
    });
    conns.push(conn);
    const w = waiting.shift();
    if (w !== undefined) {
      taken++;
      w(conn);
    }
  });
  return server;
}
