// A client that is not `ws`: Python's `websockets` (Debian's python3-websockets) talks to a real
// Express app through attach(). Proves the handshake, framing and close are plain RFC 6455 and
// that refusals are real HTTP statuses another implementation understands.

import express from "express";
import { sockets } from "../lib/sockets";
import { serve, type Served } from "./fixtures/upgrade-server";
import { python } from "./helpers/python";

const ECHO = `
import asyncio, json, sys
import websockets

async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        await ws.send(json.dumps({"text": "héllo"}))
        first = json.loads(await ws.recv())
        await ws.send(b'{"text": "binary"}')
        second = json.loads(await ws.recv())
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)
    print(json.dumps({"replies": [first, second], "code": ws.close_code}))

asyncio.run(main())
`;

const REFUSED = `
import asyncio, json, sys
import websockets
from websockets.exceptions import InvalidStatusCode

async def main():
    try:
        async with websockets.connect(sys.argv[1], origin="http://evil.example"):
            print(json.dumps({"status": 101}))
    except InvalidStatusCode as e:
        print(json.dumps({"status": e.status_code}))

asyncio.run(main())
`;

const SERVER_CLOSE = `
import asyncio, json, sys
import websockets

async def main():
    got = []
    async with websockets.connect(sys.argv[1]) as ws:
        try:
            while True:
                got.append(await ws.recv())
        except websockets.exceptions.ConnectionClosed:
            pass  # 4000 is not a "normal" code to websockets: it raises, after every message
    print(json.dumps({"got": got, "code": ws.close_code, "reason": ws.close_reason}))

asyncio.run(main())
`;

describe("a Python websockets client", () => {
  let served: Served;

  beforeAll(async () => {
    const app = express();
    app.get("/echo", sockets.json(undefined, { skipLogging: true }), async (_req, res) => {
      const { receiver, sender } = res.locals.socket;
      for await (const m of receiver) await sender.send({ echo: m });
    });
    app.get("/bye", sockets.messages({ skipLogging: true }), async (_req, res) => {
      const { sender, disconnect } = res.locals.socket;
      await sender.send("one");
      await sender.send("two");
      await disconnect.send({ code: 4000, reason: "done here" });
    });
    served = await serve(app);
  });

  afterAll(async () => {
    await served.close();
  });

  it("does an echo round trip with text and binary frames, a ping, and a clean close", async () => {
    const out = await python(ECHO, served.url("/echo"));
    expect(out).toEqual({
      replies: [{ echo: { text: "héllo" } }, { echo: { text: "binary" } }],
      code: 1000,
    });
  });

  it("gets a real 403 when its Origin is not allowed", async () => {
    expect(await python(REFUSED, served.url("/echo"))).toEqual({ status: 403 });
  });

  it("receives every message, then the server's close code and reason", async () => {
    expect(await python(SERVER_CLOSE, served.url("/bye"))).toEqual({
      got: ["one", "two"],
      code: 4000,
      reason: "done here",
    });
  });
});
