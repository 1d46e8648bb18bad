// Protocol options against a client that is not `ws`: Python's `websockets` (Debian's
// python3-websockets 10), which offers permessage-deflate by default. Proves compression is
// negotiated and works both ways, a compressed message inflating past maxMessageSize is closed
// with 1009, broadcast reaches a compressing Python client and an uncompressed ws client alike,
// subprotocols are negotiated (and refused with a real 400), and sockets.frames() keeps types.

import { execFile } from "node:child_process";
import express from "express";
import { WebSocket, type RawData } from "ws";
import { sockets } from "../lib/sockets";
import { broadcast } from "../lib/websocket/broadcast";
import type { Socket } from "../lib/core/socket";
import { serve, type Served } from "./fixtures/upgrade-server";

const PYTHON = "/usr/bin/python3";

/** Runs an inline asyncio script with the server's URL as argv[1]; returns its JSON output. */
function python(script: string, url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, ["-c", script, url], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`python failed: ${err.message}\n${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`python printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
  });
}

const DEFLATE_ECHO = `
import asyncio, json, sys
import websockets

async def main():
    async with websockets.connect(sys.argv[1], max_size=None) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        big = json.dumps([{"id": i, "name": "user %d" % i} for i in range(2000)])
        await ws.send(big)
        back = await ws.recv()
        await ws.send(b"\\x00\\x01binary" * 500)
        back_bin = await ws.recv()
        # the compressed size on the wire is not visible here; the server counts what it read
        stats = json.loads(await ws.recv())
    print(json.dumps({"extensions": ext, "same": back == big, "size": len(big),
                      "binary": isinstance(back_bin, bytes) and back_bin == b"\\x00\\x01binary" * 500,
                      "serverRead": stats["read"], "code": ws.close_code}))

asyncio.run(main())
`;

const BOMB = `
import asyncio, json, sys
import websockets

async def main():
    code = None
    async with websockets.connect(sys.argv[1]) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        await ws.send("fits")
        first = await ws.recv()
        await ws.send("a" * 2_000_000)  # about 2 KB compressed, 2 MB inflated
        try:
            await ws.recv()
        except websockets.exceptions.ConnectionClosed as e:
            code = e.code
    print(json.dumps({"extensions": ext, "first": first, "code": code}))

asyncio.run(main())
`;

const LISTEN = `
import asyncio, json, sys
import websockets

async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        await ws.send("ready")
        got = []
        while len(got) < 50:
            got.append(await ws.recv())
    print(json.dumps({"extensions": ext, "got": got}))

asyncio.run(main())
`;

const SUBPROTOCOLS = `
import asyncio, json, sys
import websockets
from websockets.exceptions import InvalidStatusCode

async def main():
    out = {}
    async with websockets.connect(sys.argv[1], subprotocols=["v1.chat", "v2.chat"]) as ws:
        out["chosen"] = ws.subprotocol
        out["serverSaw"] = await ws.recv()
    try:
        async with websockets.connect(sys.argv[1], subprotocols=["mqtt"]):
            out["refused"] = 101
    except InvalidStatusCode as e:
        out["refused"] = e.status_code
    print(json.dumps(out))

asyncio.run(main())
`;

const FRAMES = `
import asyncio, json, sys
import websockets

async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        await ws.send("text é")
        a = await ws.recv()
        await ws.send(b"\\xff\\x00raw")
        b = await ws.recv()
    print(json.dumps({"a": [type(a).__name__, a], "b": [type(b).__name__, list(b)]}))

asyncio.run(main())
`;

describe("a Python websockets client and the protocol options", () => {
  let served: Served;
  const room: Socket<unknown, string>[] = [];
  let roomReady: (() => void) | null = null;

  beforeAll(async () => {
    const app = express();
    app.get(
      "/echo",
      sockets.frames({ skipLogging: true, perMessageDeflate: true, maxMessageSize: 1 << 20 }),
      async (req, res) => {
        const { receiver, sender } = res.locals.socket;
        const start = req.socket.bytesRead;
        let n = 0;
        for await (const m of receiver) {
          await sender.send(m);
          if (++n === 2) {
            await sender.send(JSON.stringify({ read: req.socket.bytesRead - start }));
          }
        }
      },
    );
    app.get(
      "/limited",
      sockets.messages({ skipLogging: true, perMessageDeflate: true }),
      async (_req, res) => {
        for await (const m of res.locals.socket.receiver) await res.locals.socket.sender.send(m);
      },
    );
    app.get(
      "/room",
      sockets.messages({ skipLogging: true, perMessageDeflate: true }),
      async (_req, res) => {
        const socket = res.locals.socket;
        await socket.receiver.recv(); // "ready"
        room.push(socket);
        roomReady?.();
      },
    );
    app.get(
      "/chat",
      sockets.messages({ skipLogging: true, protocols: ["v2.chat", "v1.chat"] }),
      async (_req, res) => {
        await res.locals.socket.sender.send(res.locals.socket.protocol ?? "(none)");
      },
    );
    app.get("/frames", sockets.frames({ skipLogging: true }), async (_req, res) => {
      for await (const m of res.locals.socket.receiver) await res.locals.socket.sender.send(m);
    });
    served = await serve(app);
  });

  afterAll(async () => {
    await served.close();
  });

  it("negotiates permessage-deflate and echoes compressed text and binary messages", async () => {
    const out = (await python(DEFLATE_ECHO, served.url("/echo"))) as Record<string, unknown>;
    expect(out).toMatchObject({ same: true, binary: true, code: 1000 });
    expect(out.extensions).toMatch(/^permessage-deflate/);
    // The server read both messages compressed: far less than the JSON alone.
    expect(out.serverRead as number).toBeLessThan((out.size as number) / 3);
  });

  it("closes with 1009 a compressed message that inflates past maxMessageSize", async () => {
    expect(await python(BOMB, served.url("/limited"))).toEqual({
      extensions: expect.stringMatching(/^permessage-deflate/),
      first: "fits",
      code: 1009,
    });
  });

  it("broadcast reaches a compressing Python client and an uncompressed ws client, in order", async () => {
    const ws = new WebSocket(served.url("/room"), { perMessageDeflate: false });
    const wsGot: string[] = [];
    ws.on("message", (d: RawData) => wsGot.push(String(d)));
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    ws.send("ready");
    const bothJoined = new Promise<void>((resolve) => {
      roomReady = () => room.length === 2 && resolve();
    });
    const py = python(LISTEN, served.url("/room"));
    await bothJoined;
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      const message = `${i} ${"payload ".repeat(i % 5 === 0 ? 200 : 1)}`;
      sent.push(message);
      expect(broadcast(room, message).delivered).toBe(2);
      await new Promise((r) => setTimeout(r, 1));
    }
    const out = (await py) as { extensions: string; got: string[] };
    expect(out.extensions).toMatch(/^permessage-deflate/);
    expect(out.got).toEqual(sent);
    for (let i = 0; i < 100 && wsGot.length < 50; i++) await new Promise((r) => setTimeout(r, 10));
    expect(wsGot).toEqual(sent);
    ws.close();
  });

  it("negotiates a subprotocol by the route's preference, and gets 400 offering none it speaks", async () => {
    expect(await python(SUBPROTOCOLS, served.url("/chat"))).toEqual({
      chosen: "v2.chat",
      serverSaw: "v2.chat",
      refused: 400,
    });
  });

  it("sockets.frames() answers str with str and bytes with bytes", async () => {
    expect(await python(FRAMES, served.url("/frames"))).toEqual({
      a: ["str", "text é"],
      b: ["bytes", [255, 0, 114, 97, 119]],
    });
  });
});
