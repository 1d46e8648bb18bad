// The browser client (in Node, with ws) under network faults: a TCP proxy between it and the
// server drops connections (RST), holds them half-open (no data, no FIN) and delays data; and a
// reconnect storm of 500 clients after a server restart on the same port, whose spread in time
// is measured (full jitter on the first retry).

import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { attach, sockets, type Attachment } from "../lib/index";
import type { JsonClient } from "../client/index";
import { startFaultProxy, type FaultProxy } from "./helpers/fault-proxy";
import { startProtocolServer, type ProtocolServer } from "./helpers/protocol-server";
import { closeAll, connect, node, reach, record, sleep, until } from "./helpers/client-utils";
import { failOnUnhandledRejections } from "./helpers/no-unhandled";

failOnUnhandledRejections();
afterEach(closeAll);

describe("through a faulty link", () => {
  let server: ProtocolServer;
  let proxy: FaultProxy;
  let url: string;
  beforeEach(async () => {
    server = await startProtocolServer();
    proxy = await startFaultProxy(server.port);
    url = `ws://127.0.0.1:${proxy.port}/events`;
  });
  afterEach(async () => {
    await proxy.close();
    await server.close();
  });

  const HEARTBEAT = 400;
  const TIMEOUT = 400;

  it("notices a half-open link (no data, no FIN) within heartbeat + heartbeatTimeout, and reconnects", async () => {
    const client = connect(url, { ...node, heartbeat: HEARTBEAT, heartbeatTimeout: TIMEOUT });
    const log = record(client);
    try {
      const first = await server.next();
      await until(() => first.pings >= 2, 5000, "pings answered");
      proxy.hold();
      const held = Date.now();
      await reach(client, "reconnecting", 10_000);
      const noticed = Date.now() - held;
      expect(noticed).toBeLessThanOrEqual(HEARTBEAT + TIMEOUT + 600); // margin for a loaded machine
      expect(log.errors.map((e) => e.code)).toEqual(["ERR_HEARTBEAT"]);
      expect(first.ws.readyState).toBe(first.ws.OPEN); // the server never heard of it
      await server.next();
      await reach(client, "open");
      expect(proxy.size).toBe(1);
    } finally {
      client.close();
    }
  });

  it("keeps a slow link (150 ms each way) open: requests answered, no false heartbeat alarm", async () => {
    proxy.delay(150);
    const client = connect(url, { ...node, heartbeat: HEARTBEAT, heartbeatTimeout: 1000 });
    const log = record(client);
    try {
      const conn = await server.next();
      conn.ws.on("message", (d) => {
        const f = JSON.parse(String(d)) as { event: string; ack?: number; data: number };
        if (f.ack !== undefined) conn.send({ ack: f.ack, data: f.data * 2 });
      });
      await reach(client, "open");
      const started = Date.now();
      expect(await client.request("double", 21)).toBe(42);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      await sleep(4 * HEARTBEAT);
      expect(client.status).toBe("open");
      expect(server.conns).toHaveLength(1);
      expect(log.errors).toEqual([]);
      expect(conn.pings).toBeGreaterThanOrEqual(3);
    } finally {
      client.close();
    }
  });

  it("reconnects after the connection is reset; a request in flight rejects with ERR_DISCONNECTED", async () => {
    const client = connect(url, node);
    try {
      const conn = await server.next();
      await reach(client, "open");
      const pending = client.request("slow", 1, { timeout: 8000 });
      await conn.received(1);
      proxy.drop();
      await expect(pending).rejects.toMatchObject({
        name: "TimeoutError",
        code: "ERR_DISCONNECTED",
      });
      await server.next();
      await reach(client, "open");
    } finally {
      client.close();
    }
  });
});

describe("reconnect storm", () => {
  const CLIENTS = 500;

  async function startApp(port: number): Promise<{ server: http.Server; upgrades: Attachment }> {
    const app = express();
    app.get("/feed", sockets.json(undefined, { skipLogging: true }), () => {});
    const server = http.createServer(app);
    const upgrades = attach(server, app, { skipLogging: true });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return { server, upgrades };
  }

  it(`spreads ${CLIENTS} clients over the first second after a restart on the same port, and all come back`, async () => {
    let { server, upgrades } = await startApp(0);
    const { port } = server.address() as AddressInfo;
    const clients: JsonClient<unknown, unknown>[] = [];
    const reopened: number[] = [];
    let restartedAt = 0;
    try {
      for (let i = 0; i < CLIENTS; i++) {
        const c = connect(`ws://127.0.0.1:${port}/feed`, {
          WebSocket: node.WebSocket,
          json: true,
          connectTimeout: 30_000,
        }); // default backoff: first retry within 1 s, capped at 30 s
        clients.push(c);
        c.onStatus((s) => {
          if (s === "open" && restartedAt > 0) reopened.push(Date.now() - restartedAt);
        });
      }
      await until(() => upgrades.size === CLIENTS, 30_000, "every client connected");
      restartedAt = Date.now();
      await upgrades.close({ timeout: 0 }); // the process "dies": every socket terminated
      await new Promise<void>((resolve) => server.close(() => resolve()));
      ({ server, upgrades } = await startApp(port)); // and comes back on the same port
      const down = Date.now() - restartedAt;
      await until(() => reopened.length === CLIENTS, 30_000, "every client back");
      expect(upgrades.size).toBe(CLIENTS);

      const t = [...reopened].sort((a, b) => a - b);
      const q = (p: number): number => t[Math.min(t.length - 1, Math.floor(p * t.length))]!;
      const buckets = new Map<number, number>();
      for (const ms of t)
        buckets.set(Math.floor(ms / 100), (buckets.get(Math.floor(ms / 100)) ?? 0) + 1);
      const busiest = Math.max(...buckets.values());
      console.log(
        `reconnect storm, ${CLIENTS} clients, server down ${down} ms: reopened at min ${t[0]} ms, p10 ${q(0.1)}, p50 ${q(0.5)}, ` +
          `p90 ${q(0.9)}, max ${t[t.length - 1]} ms; busiest 100 ms window ${busiest} clients`,
      );
      // Full jitter: spread over the first second, not all in one instant (p10 to p90 at least
      // 500 ms apart is the main check). The times are when each client is open again, so they
      // also hold the server draining its handshakes in this same process: up to 153 of 500 in
      // one 100 ms window was seen in CI, hence the 40% bound on a burst.
      expect(q(0.9) - q(0.1)).toBeGreaterThanOrEqual(500);
      expect(busiest).toBeLessThanOrEqual(CLIENTS * 0.4);
    } finally {
      for (const c of clients) c.close();
      await upgrades.close({ timeout: 0 });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 90_000);
});
