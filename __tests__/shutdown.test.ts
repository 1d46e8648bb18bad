// attach(server, app) knows every stream the server serves: Server-Sent Events streams register
// with the same registry as WebSocket connections, so `size`, iteration, `broadcast()` and a
// graceful `close()` reach them too, and close() ends them with a final comment in bounded time.

import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { WebSocket } from "ws";
import { attach, broadcast, sockets, type Attachment, type CloseInfo } from "../lib/index";
import { Channel } from "../lib/channels/channel";
import { SseClient } from "./helpers/sse-client";

interface Setup {
  base: string;
  server: http.Server;
  upgrades: Attachment;
  dones: Channel<CloseInfo>;
}

const open: http.Server[] = [];

afterEach(async () => {
  for (const server of open.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function setup(flood = false): Promise<Setup> {
  const app = express();
  const dones = new Channel<CloseInfo>(10);
  const quiet = { skipLogging: true };
  app.get("/events", sockets.sse(quiet), async (_req, res) => {
    const { sender, done } = res.locals.socket;
    void done.recv().then((r) => r.done || dones.trySend(r.value));
    if (!flood) return;
    const chunk = "x".repeat(256 * 1024);
    try {
      for (;;) await sender.send(chunk); // until the client stops reading and the buffer fills
    } catch {
      // closed by the shutdown
    }
  });
  app.get("/ws", sockets.messages(quiet), async (_req, res) => {
    const { done } = res.locals.socket;
    const r = await done.recv();
    if (!r.done) dones.trySend(r.value);
  });
  const server = http.createServer(app);
  const upgrades = attach(server, app, quiet);
  open.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, server, upgrades, dones };
}

function connectWs(
  url: string,
): Promise<{ ws: WebSocket; messages: string[]; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: string[] = [];
    ws.on("message", (d) => messages.push(d.toString()));
    const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
    ws.once("open", () => resolve({ ws, messages, closed }));
    ws.once("error", reject);
  });
}

async function until(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("attach(): Server-Sent Events in the registry", () => {
  it("counts, lists and broadcasts to SSE streams next to WebSockets", async () => {
    const { base, upgrades } = await setup();
    const sse = await SseClient.connect(`http://${base}/events`);
    const ws = await connectWs(`ws://${base}/ws`);
    await until(() => upgrades.size === 2);
    expect([...upgrades].map((s) => s.transport).sort()).toEqual(["messages", "sse"]);

    const result = broadcast(upgrades, "to everyone");
    expect(result.delivered).toBe(2);
    await sse.count(1);
    expect(sse.events[0]?.data).toBe("to everyone");
    await until(() => ws.messages.length === 1);
    expect(ws.messages).toEqual(["to everyone"]);

    await sse.close(); // the client leaves: the stream leaves the registry
    await until(() => upgrades.size === 1);
    expect([...upgrades].map((s) => s.transport)).toEqual(["messages"]);
    ws.ws.close();
    await until(() => upgrades.size === 0);
  });

  it("close() ends SSE streams with a final comment, reports 1001 on done, and refuses new ones with 503", async () => {
    const { base, upgrades, dones } = await setup();
    const sse = await SseClient.connect(`http://${base}/events`);
    const ws = await connectWs(`ws://${base}/ws`);
    await until(() => upgrades.size === 2);

    const started = Date.now();
    await upgrades.close({ timeout: 5000 });
    expect(Date.now() - started).toBeLessThan(4000);
    await sse.closed;
    expect(sse.ended).toBe(true);
    expect(sse.comments).toContain("server shutting down");
    expect(sse.raw.endsWith(": server shutting down\n\n")).toBe(true);
    expect(await ws.closed).toBe(1001);
    const codes = [(await dones.recv()).value?.code, (await dones.recv()).value?.code];
    expect(codes).toEqual([1001, 1001]);
    expect(upgrades.size).toBe(0);

    const late = await SseClient.connect(`http://${base}/events`);
    expect(late.status).toBe(503);
    expect(late.headers["retry-after"]).toBe("1");
    await late.close();
  });

  it("close() ends an SSE stream whose client stopped reading once its timeout has passed", async () => {
    const { base, upgrades } = await setup(true);
    const req = http.get(`http://${base}/events`, { agent: false });
    const res = await new Promise<http.IncomingMessage>((resolve) => req.on("response", resolve));
    res.pause(); // reads nothing: the server's buffers fill and the stream cannot flush
    await until(() => upgrades.size === 1);
    await new Promise((r) => setTimeout(r, 300)); // let the buffers fill

    const started = Date.now();
    await upgrades.close({ timeout: 300 });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);
    expect(upgrades.size).toBe(0);
    req.destroy();
  });
});
