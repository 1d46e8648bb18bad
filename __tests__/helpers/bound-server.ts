// Test helper for the connection binding: a real WebSocketServer on a loopback port whose
// accepted sockets are bound with bind(), a capturing logger, and real ws clients.

import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer, type ClientOptions, type RawData } from "ws";
import { bind, type Connection, type ConnectionOptions } from "../../lib/websocket/connection";
import type { Codec } from "../../lib/core/codec";
import { Log } from "../../lib/core/logger";

export interface BoundServer<In, Out> {
  url: string;
  wss: WebSocketServer;
  logs: string[];
  /** Every connection bound so far, in accept order. */
  connections: Connection<In, Out>[];
  /** The next connection to be bound (or the first one not yet taken). */
  nextConnection(): Promise<Connection<In, Out>>;
  close(): Promise<void>;
}

/** Fast test defaults: no pings, no deadlines, Martini's buffer sizes. */
export function testOptions(
  logs: string[],
  overrides: Partial<Omit<ConnectionOptions, "log">> = {},
): ConnectionOptions {
  const sink = (line: string): void => {
    logs.push(line);
  };
  return {
    log: new Log({ error: sink, warn: sink, info: sink, debug: sink }, "debug"),
    writeWait: 0,
    pongWait: 0,
    pingPeriod: 0,
    sendChannelBuffer: 10,
    recvChannelBuffer: 10,
    closeOnInvalidMessage: false,
    ...overrides,
  };
}

export async function startServer<In, Out>(
  codec: Codec<In, Out>,
  overrides: Partial<Omit<ConnectionOptions, "log">> = {},
  serverOptions: { maxPayload?: number } = {},
): Promise<BoundServer<In, Out>> {
  const logs: string[] = [];
  const options = testOptions(logs, overrides);
  const wss = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    maxPayload: serverOptions.maxPayload ?? 65536,
  });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const connections: Connection<In, Out>[] = [];
  const waiting: ((c: Connection<In, Out>) => void)[] = [];
  let taken = 0;
  wss.on("connection", (ws, req) => {
    const c = bind(ws, codec, options, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
    connections.push(c);
    const w = waiting.shift();
    if (w !== undefined) {
      taken++;
      w(c);
    }
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    wss,
    logs,
    connections,
    nextConnection() {
      if (taken < connections.length) return Promise.resolve(connections[taken++]!);
      return new Promise((resolve) => waiting.push(resolve));
    },
    async close() {
      for (const c of connections) c.terminate();
      await Promise.all(connections.map((c) => c.closed));
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** A connected ws client that records what it receives. */
export interface TestClient {
  ws: WebSocket;
  messages: { data: Buffer; isBinary: boolean }[];
  /** Resolves when `n` messages have arrived in total. */
  received(n: number): Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
}

export async function connect(url: string, options?: ClientOptions): Promise<TestClient> {
  const ws = new WebSocket(url, options);
  ws.on("error", () => {});
  const messages: { data: Buffer; isBinary: boolean }[] = [];
  let want = Infinity;
  let notify: (() => void) | null = null;
  ws.on("message", (data: RawData, isBinary: boolean) => {
    messages.push({ data: data as Buffer, isBinary });
    if (messages.length >= want && notify !== null) {
      const n = notify;
      notify = null;
      n();
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return {
    ws,
    messages,
    received(n) {
      if (messages.length >= n) return Promise.resolve();
      want = n;
      return new Promise((resolve) => (notify = resolve));
    },
    closed,
  };
}

/** Closes a client if it is still open and waits for it. */
export async function closeClient(c: TestClient): Promise<void> {
  if (c.ws.readyState !== WebSocket.CLOSED) c.ws.terminate();
  await c.closed;
}
