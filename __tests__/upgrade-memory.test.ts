// What a live connection keeps alive: once the handshake is done, the request, the response and
// the handshake's closures must be collectable unless the handler itself holds them (a
// connection that retained them cost about 7 KB more heap each, measured with 2,000 sockets).

import { execFile } from "node:child_process";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import v8 from "node:v8";
import vm from "node:vm";
import express from "express";
import { WebSocket } from "ws";
import { attach } from "../lib/websocket/upgrade";
import { sockets } from "../lib/sockets";
import type { Socket } from "../lib/core/socket";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/** Collects until `gone()` holds, for up to a second: a loaded machine may need a few turns. */
async function collectUntil(gone: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !gone(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    gc();
  }
}

describe("attach() memory", () => {
  it("lets the request and response of an upgraded connection be collected while it stays open", async () => {
    const app = express();
    const refs: { req: WeakRef<object>; res: WeakRef<object> }[] = [];
    const kept: Socket<string, string>[] = [];
    app.get("/ws", sockets.messages({ skipLogging: true }), (req, res) => {
      refs.push({ req: new WeakRef(req), res: new WeakRef(res) });
      kept.push(res.locals.socket); // the handler keeps the socket, not the request
    });
    const server = http.createServer(app);
    const upgrades = attach(server, app, { skipLogging: true });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;

    const clients = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
        await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
        return ws;
      }),
    );
    // The connections still work after the collection, so nothing they need was let go.
    expect(refs).toHaveLength(5);
    await collectUntil(() => refs.every((r) => !r.req.deref() && !r.res.deref()));
    expect(refs.filter((r) => r.req.deref() !== undefined)).toHaveLength(0);
    expect(refs.filter((r) => r.res.deref() !== undefined)).toHaveLength(0);
    await kept[0].sender.send("still here");
    const echoed = await new Promise<string>((resolve) =>
      clients[0].once("message", (data) => resolve(String(data))),
    );
    expect(echoed).toBe("still here");
    expect(upgrades.size).toBe(5);

    for (const ws of clients) ws.close();
    await upgrades.close({ timeout: 2000 });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

/** Heap per idle connection of a `raw` ws server or an express-sockets one, in a fresh process. */
function heapPerConnection(kind: "raw" | "sockets", n: number): Promise<number> {
  const script = path.join(__dirname, "fixtures", "heap-per-connection.js");
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--expose-gc", script, kind, String(n)],
      { timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${err.message}\n${stderr}`));
        resolve((JSON.parse(stdout.trim()) as { perConnection: number }).perConnection);
      },
    );
  });
}

describe("heap per idle connection", () => {
  // Measured here: about 450 B more than raw ws (clients share the process); 1,050-1,100 B
  // before the connection diet (2 promises and a closure per tracked connection, boxed times,
  // rarely used fields). Each server runs in a process of its own, away from the jest worker's
  // other suites, which once added 18-50 KB per connection to the figure.
  it("costs at most 800 B of heap more than a raw ws connection", async () => {
    const n = 400;
    const raw = await heapPerConnection("raw", n);
    const ours = await heapPerConnection("sockets", n);
    expect(raw).toBeGreaterThan(0);
    expect(ours - raw).toBeLessThan(800);
  });
});
