// Test helper for sockets.tail: a real Express app on a loopback port with attach(), a ws client
// that records every message and how the connection closed, and a temporary directory.

import * as fsp from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import express from "express";
import { WebSocket } from "ws";
import { liveFollowers, liveSubscriptions } from "../../lib/tail/follower";
import type { LoggerLike } from "../../lib/core/logger";
import { attach } from "../../lib/websocket/upgrade";

export interface TestApp {
  http: string;
  ws: string;
  logs: string[];
  logger: LoggerLike;
  close(): Promise<void>;
}

/** Starts `configure(app, logger)` on 127.0.0.1:0 with upgrades routed through it. */
export async function startApp(
  configure: (app: express.Express, logger: LoggerLike) => void,
): Promise<TestApp> {
  const logs: string[] = [];
  const sink = (line: string): void => {
    logs.push(line);
  };
  const logger: LoggerLike = { error: sink, warn: sink, info: sink, debug: sink };
  const app = express();
  configure(app, logger);
  const server = http.createServer(app);
  const upgrades = attach(server, app, { logger });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    logs,
    logger,
    close: async () => {
      await upgrades.close({ timeout: 500 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A ws client that records messages and the close code. */
export class WsClient {
  readonly messages: (string | Buffer)[] = [];
  /** Characters (text) or bytes (binary) received so far. */
  received = 0;
  closeCode: number | undefined;
  closeReason = "";
  /** The HTTP status when the handshake was refused. */
  refusedStatus: number | undefined;
  readonly closed: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(
    url: string,
    readonly binary = false,
  ) {
    this.ws = new WebSocket(url);
    this.ws.on("message", (data: Buffer, isBinary: boolean) => {
      const message = isBinary || binary ? data : data.toString("utf8");
      this.messages.push(message);
      this.received += message.length;
      this.wake();
    });
    this.ws.on("unexpected-response", (_req, res) => {
      this.refusedStatus = res.statusCode;
      res.resume();
      this.ws.terminate();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.wake();
        resolve();
      });
      this.ws.on("error", () => undefined);
    });
  }

  readonly ws: WebSocket;

  opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      void this.closed.then(() => reject(new Error(`closed before open (${this.refusedStatus})`)));
    });
  }

  text(): string {
    return this.messages.map((m) => (typeof m === "string" ? m : m.toString("utf8"))).join("");
  }

  /** JSON messages of a sockets.json() route. */
  json(): { offset: number; data: string }[] {
    return this.messages.map((m) => JSON.parse(m.toString()) as { offset: number; data: string });
  }

  async until(predicate: () => boolean, ms = 5000, what = "condition"): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closeCode !== undefined) {
        if (predicate()) return;
        throw new Error(
          `ws client: timed out waiting for ${what.slice(0, 80)}; got ${this.messages.length} ` +
            `messages, ${this.received} characters (close ${this.closeCode})`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until the received text equals or extends to `expected`. */
  async receive(expected: string, ms = 5000): Promise<void> {
    await this.until(() => this.received >= expected.length, ms, `${expected.length} characters`);
    const text = this.text();
    if (text !== expected) {
      // Say where they differ without printing megabytes.
      let i = 0;
      while (i < text.length && text[i] === expected[i]) i++;
      throw new Error(
        `ws client: received ${text.length} characters, expected ${expected.length}; ` +
          `first difference at ${i}: ${JSON.stringify(text.slice(i, i + 60))} vs ` +
          `${JSON.stringify(expected.slice(i, i + 60))}`,
      );
    }
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close();
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** A fresh temporary directory (its real path). */
export async function tempDir(prefix: string): Promise<string> {
  return fsp.realpath(await fsp.mkdtemp(path.join(os.tmpdir(), prefix)));
}

/** Waits until every follower is released (they go when the last client's close is seen). */
export async function noFollowers(ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (liveFollowers() > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(liveFollowers()).toBe(0);
}

/** Waits until `n` subscriptions are live (then an append reaches every one of them). */
export async function subscribed(n: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (liveSubscriptions() < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  expect(liveSubscriptions()).toBeGreaterThanOrEqual(n);
}

/** `n` numbered lines starting at `from`: "line 0007 ...\n". */
export function numbered(from: number, n: number, pad = ""): string {
  let out = "";
  for (let i = from; i < from + n; i++) out += `line ${String(i).padStart(5, "0")}${pad}\n`;
  return out;
}
