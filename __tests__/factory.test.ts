// sockets.json / messages / bytes: the checks before the handshake, in Martini's order (405,
// 403, 400), each seen as the raw HTTP a client receives; then the bound connection on
// res.locals.socket for each transport, over real TCP with real ws clients.

import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { WebSocket } from "ws";
import { z } from "zod";
import { broadcast } from "../lib/websocket/broadcast";
import { sockets } from "../lib/sockets";
import type { Socket } from "../lib/core/socket";
import {
  captureLog,
  closed,
  connect,
  KEY,
  nextMessages,
  open,
  rawExchange,
  serve,
  upgradeRequest,
  type Served,
} from "./fixtures/upgrade-server";

const quiet = { skipLogging: true } as const;

async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}

let served: Served | null = null;
afterEach(async () => {
  await served?.close();
  served = null;
});

describe("the checks before the handshake", () => {
  it("answers 405 to an upgrade with another method than GET, and closes", async () => {
    const log = captureLog();
    // An app.all route lets the POST reach the factory (app.get would 404 it first).
    const app = express();
    app.all("/ws", sockets.messages({ logger: log.logger }), () => {});
    served = await serve(app);
    for (const method of ["POST", "PUT", "DELETE"]) {
      const res = await rawExchange(served.port, upgradeRequest("/ws", { method }));
      expect(res.status).toBe(405);
      expect(res.body.trim()).toBe("Method not allowed");
      expect(res.headers.allow).toBe("GET");
      expect(res.closedByServer).toBe(true);
    }
    expect(log.lines.some((l) => l.includes("[Info]") && l.includes("405"))).toBe(true);
    expect(served.attachment.size).toBe(0);
  });

  it("answers 403 when the Origin does not match, even where `.` would match any character", async () => {
    const log = captureLog();
    const app = express();
    app.get("/ws", sockets.messages({ logger: log.logger }), () => {});
    served = await serve(app);
    const request = (host: string, origin: string): string =>
      upgradeRequest("/ws", { headers: { Host: host, Origin: origin } });

    const refused = await rawExchange(served.port, request("a.b", "http://aXb"));
    expect(refused.status).toBe(403);
    expect(refused.body.trim()).toBe("Origin not allowed");
    expect(refused.closedByServer).toBe(true);
    expect(log.lines.some((l) => l.includes("[Warning]") && l.includes('"http://aXb"'))).toBe(true);

    // Unanchored, Martini would let these through; anchored and escaped, we do not.
    for (const origin of ["http://evil.example/?http://a.b", "http://a.b.evil.example"]) {
      expect((await rawExchange(served.port, request("a.b", origin))).status).toBe(403);
    }
    expect((await rawExchange(served.port, request("a.b", "http://a.b"))).status).toBe(101);
    expect((await rawExchange(served.port, request("A.B:8080", "https://a.b:8080"))).status).toBe(
      101,
    );
  });

  it("allows a request without Origin unless requireOrigin is set", async () => {
    const app = express();
    app.get("/open", sockets.messages(quiet), () => {});
    app.get("/strict", sockets.messages({ ...quiet, requireOrigin: true }), () => {});
    served = await serve(app);
    expect((await rawExchange(served.port, upgradeRequest("/open"))).status).toBe(101);
    expect((await rawExchange(served.port, upgradeRequest("/strict"))).status).toBe(403);
  });

  it("checks Sec-WebSocket-Origin for protocol version 8 clients", async () => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), () => {});
    served = await serve(app);
    const v8 = (origin: string): string =>
      upgradeRequest("/ws", {
        headers: { "Sec-WebSocket-Version": "8", "Sec-WebSocket-Origin": origin },
      });
    expect((await rawExchange(served.port, v8("http://elsewhere"))).status).toBe(403);
    expect((await rawExchange(served.port, v8("http://127.0.0.1"))).status).toBe(101);
  });

  it("answers 500 (through the app) when an allowedOrigin function throws", async () => {
    const app = express();
    app.get(
      "/ws",
      sockets.messages({
        ...quiet,
        allowedOrigin: () => {
          throw new Error("lookup failed");
        },
      }),
      () => {},
    );
    served = await serve(app);
    const res = await rawExchange(
      served.port,
      upgradeRequest("/ws", { headers: { Origin: "http://x" } }),
    );
    expect(res.status).toBe(500);
  });

  it.each([
    ["a missing key", { "Sec-WebSocket-Key": null }, /Sec-WebSocket-Key/],
    ["a short key", { "Sec-WebSocket-Key": "c2hvcnQ=" }, /Sec-WebSocket-Key/],
    ["a key that is not base64", { "Sec-WebSocket-Key": "!".repeat(22) + "==" }, /Key/],
    ["a missing version", { "Sec-WebSocket-Version": null }, /Sec-WebSocket-Version/],
    ["version 12", { "Sec-WebSocket-Version": "12" }, /Sec-WebSocket-Version/],
  ])("answers 400 to %s, with the reason", async (_name, headers, reason) => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), () => {});
    served = await serve(app);
    const res = await rawExchange(served.port, upgradeRequest("/ws", { headers }));
    expect(res.status).toBe(400);
    expect(res.body).toMatch(reason);
    expect(res.closedByServer).toBe(true);
    if ("Sec-WebSocket-Version" in headers) {
      expect(res.headers["sec-websocket-version"]).toBe("13, 8");
    }
  });

  it("answers 400 (from ws) to a malformed Sec-WebSocket-Protocol, and frees the socket", async () => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), () => {});
    served = await serve(app);
    const res = await rawExchange(
      served.port,
      upgradeRequest("/ws", { headers: { "Sec-WebSocket-Protocol": "a b, ,c" } }),
    );
    expect(res.status).toBe(400);
    expect(res.closedByServer).toBe(true);
    expect(served.attachment.size).toBe(0);
  });

  it("checks in Martini's order: method, then Origin, then the handshake headers", async () => {
    const app = express();
    app.all("/ws", sockets.messages(quiet), () => {});
    served = await serve(app);
    const bad = { Origin: "http://elsewhere", "Sec-WebSocket-Key": "bad" };
    const all = await rawExchange(
      served.port,
      upgradeRequest("/ws", { method: "PUT", headers: bad }),
    );
    expect(all.status).toBe(405);
    const noMethod = await rawExchange(served.port, upgradeRequest("/ws", { headers: bad }));
    expect(noMethod.status).toBe(403);
  });

  it("answers 400 to a plain GET (no Upgrade) on a sockets route", async () => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), () => {});
    served = await serve(app);
    const { status, body } = await httpGet(served.port, "/ws");
    expect(status).toBe(400);
    expect(body).toMatch(/WebSocket/);
  });

  it("answers 400 naming attach() when the server has no attachment", async () => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), () => {});
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const outcome = await connect(`ws://127.0.0.1:${port}/ws`);
      expect(outcome.kind).toBe("refused");
      if (outcome.kind === "refused") {
        expect(outcome.status).toBe(400);
        expect(outcome.body).toMatch(/attach\(server, app\)/);
      }
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("returns named handlers", () => {
    expect(sockets.json().name).toBe("socketsJson");
    expect(sockets.messages().name).toBe("socketsMessages");
    expect(sockets.bytes().name).toBe("socketsBytes");
  });

  it("throws at the call for bad options or a misplaced options object", () => {
    expect(() => sockets.messages({ pongWait: -1 })).toThrow(RangeError);
    expect(() => sockets.bytes({ allowedOrigin: "(" })).toThrow(TypeError);
    expect(() => sockets.json({ pongWait: 10 } as never)).toThrow(
      /sockets\.json\(undefined, options\)/,
    );
    expect(() => sockets.json(42 as never)).toThrow(TypeError);
  });
});

describe("the bound connection", () => {
  it("sockets.json: parses, validates with zod, reports invalid messages on error, sends JSON", async () => {
    const Msg = z.object({ text: z.string() });
    const app = express();
    app.get("/json", sockets.json(Msg, quiet), async (_req, res) => {
      const { receiver, sender, error, transport } = res.locals.socket;
      await sender.send({ transport });
      const bad = await error.recv();
      await sender.send({ error: bad.done ? null : bad.value.message });
      for await (const m of receiver) await sender.send({ upper: m.text.toUpperCase() });
    });
    served = await serve(app);
    const ws = await open(served.url("/json"));
    expect(await nextMessages(ws, 1)).toEqual([JSON.stringify({ transport: "json" })]);
    ws.send(JSON.stringify({ text: 42 }));
    const [err] = await nextMessages(ws, 1);
    expect(JSON.parse(err as string).error).toMatch(/validation/);
    ws.send(JSON.stringify({ text: "hi" }));
    expect(await nextMessages(ws, 1)).toEqual([JSON.stringify({ upper: "HI" })]);
    ws.terminate();
  });

  it("sockets.bytes: Buffers in, binary frames out", async () => {
    const app = express();
    app.get("/bytes", sockets.bytes(quiet), async (_req, res) => {
      const { receiver, sender } = res.locals.socket;
      for await (const b of receiver) await sender.send(Uint8Array.from(b.reverse()));
    });
    served = await serve(app);
    const ws = await open(served.url("/bytes"));
    const reply = new Promise<{ data: Buffer; isBinary: boolean }>((resolve) =>
      ws.once("message", (data, isBinary) => resolve({ data: data as Buffer, isBinary })),
    );
    ws.send(Buffer.from([1, 2, 3]));
    const { data, isBinary } = await reply;
    expect(isBinary).toBe(true);
    expect([...data]).toEqual([3, 2, 1]);
    ws.terminate();
  });

  it("gives each connection a unique id and its transport, and counts it in size", async () => {
    const seen: Socket<string, string>[] = [];
    const app = express();
    app.get("/ws", sockets.messages(quiet), (_req, res) => {
      seen.push(res.locals.socket);
    });
    served = await serve(app);
    const a = await open(served.url("/ws"));
    const b = await open(served.url("/ws"));
    expect(seen).toHaveLength(2);
    expect(seen[0]?.id).not.toBe(seen[1]?.id);
    expect(seen[0]?.transport).toBe("messages");
    expect(served.attachment.size).toBe(2);
    a.terminate();
    b.terminate();
  });

  it("is a registry of the open connections of every route, in opening order, until each has closed", async () => {
    const seen: Socket<unknown, unknown>[] = [];
    const doneSeen: boolean[] = [];
    const app = express();
    app.get("/text", sockets.messages(quiet), (_req, res) => {
      seen.push(res.locals.socket);
    });
    app.get("/json", sockets.json(undefined, quiet), (_req, res) => {
      seen.push(res.locals.socket);
    });
    served = await serve(app);
    const a = await open(served.url("/text"));
    const b = await open(served.url("/json"));
    const c = await open(served.url("/text"));
    expect([...served.attachment]).toEqual(seen);

    // broadcast() takes the registry as it is: one frame per transport, to every open one.
    const got = [a, b, c].map((ws) => nextMessages(ws, 1));
    expect(broadcast(served.attachment, "hi")).toMatchObject({ delivered: 3 });
    expect(await Promise.all(got)).toEqual([["hi"], ['"hi"'], ["hi"]]);

    // A connection leaves as it closes: whoever reads its done channel no longer finds it.
    const middle = seen[1]!;
    void middle.done.recv().then(() => doneSeen.push([...served!.attachment].includes(middle)));
    const end = closed(b);
    b.close(4000, "bye");
    await end;
    await waitFor(() => served!.attachment.size === 2);
    expect(doneSeen).toEqual([false]);
    expect([...served.attachment]).toEqual([seen[0], seen[2]]);
    a.terminate();
    c.terminate();
    await waitFor(() => served!.attachment.size === 0);
    expect([...served.attachment]).toEqual([]);
  });

  it("closes with 1009 when a message exceeds maxMessageSize", async () => {
    const app = express();
    app.get("/small", sockets.messages({ ...quiet, maxMessageSize: 16 }), () => {});
    served = await serve(app);
    const ws = await open(served.url("/small"));
    const end = closed(ws);
    ws.send("x".repeat(17));
    expect((await end).code).toBe(1009);
  });

  it('logs "Connection established" at info with the client address', async () => {
    const log = captureLog();
    const app = express();
    app.get("/ws", sockets.messages({ logger: log.logger }), () => {});
    served = await serve(app);
    const ws = await open(served.url("/ws"));
    expect(log.lines).toContainEqual(
      expect.stringMatching(
        /^\[sockets\] \[Info\] \[127\.0\.0\.1:\d+\] Connection established \/ws$/,
      ),
    );
    ws.terminate();
  });

  it("names the client by address in lines logged after it left (a failed handler, the close)", async () => {
    // The attachment logs nothing here: the route's log alone must keep the address, which
    // the socket no longer tells once it is closed.
    const log = captureLog();
    const app = express();
    app.get(
      "/ws",
      sockets.messages({ logger: log.logger, logLevel: "debug" }),
      async (_req, res) => {
        await res.locals.socket.done.recv();
        throw new Error("after the client left");
      },
    );
    served = await serve(app);
    const ws = await open(served.url("/ws"));
    const port = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    ws.close(1000);
    await closed(ws);
    const name = `[127.0.0.1:${port}]`;
    await waitFor(() => log.lines.some((l) => l.includes("Handler failed")));
    for (const pattern of [/closed 1000/, /Handler failed/]) {
      const line = log.lines.find((l) => pattern.test(l));
      expect(line).toContain(name);
    }
  });

  it("accepts the handshake of a client speaking version 8", async () => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), (_req, res) => {
      void res.locals.socket.sender.send("v8");
    });
    served = await serve(app);
    const ws = new WebSocket(served.url("/ws"), { protocolVersion: 8 });
    const msg = await new Promise<string>((resolve, reject) => {
      ws.on("message", (d) => resolve(d.toString()));
      ws.on("error", reject);
    });
    expect(msg).toBe("v8");
    ws.terminate();
  });

  it("completes the handshake with the right Sec-WebSocket-Accept", async () => {
    const app = express();
    app.get("/ws", sockets.messages(quiet), () => {});
    served = await serve(app);
    const res = await rawExchange(served.port, upgradeRequest("/ws"));
    expect(KEY).toBe("dGhlIHNhbXBsZSBub25jZQ==");
    expect(res.status).toBe(101);
    expect(res.headers["sec-websocket-accept"]).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); // RFC 6455 1.3
  });
});

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}
