// The events protocol spoken by a client that is not JavaScript: Python's `websockets` (Debian's
// python3-websockets), written from PROTOCOL.md alone. It sends events and gets their acks, gets
// a validation error and an unknown event as ack errors, and answers the server's request()s,
// once with data and once with an error.

import express from "express";
import { z } from "zod";
import { sockets } from "../lib/sockets";
import { serve, type Served } from "./fixtures/upgrade-server";
import { python } from "./helpers/python";

const CLIENT = `
import asyncio, json, sys
import websockets

async def main():
    out = {}
    async with websockets.connect(sys.argv[1]) as ws:
        async def call(event, data, ack):
            await ws.send(json.dumps({"event": event, "data": data, "ack": ack}))
            return json.loads(await ws.recv())

        out["ack"] = await call("say", {"text": "hi"}, 1)
        out["invalid"] = await call("say", {"text": 5}, 2)
        out["unknown"] = await call("yell", "hi", 3)
        out["reserved"] = await call("$hello", None, 4)
        await ws.send(json.dumps({"event": "say", "data": {"text": "no answer wanted"}}))
        out["ask"] = await call("say", {"text": "ask me"}, 5)
        request = json.loads(await ws.recv())
        out["request"] = request
        await ws.send(json.dumps({"ack": request["ack"], "data": "Monty"}))
        out["got"] = json.loads(await ws.recv())
        request = json.loads(await ws.recv())
        await ws.send(json.dumps({"ack": request["ack"], "error": {"code": "E_PY", "message": "no thanks"}}))
        out["got_error"] = json.loads(await ws.recv())
    out["code"] = ws.close_code
    print(json.dumps(out))

asyncio.run(main())
`;

describe("a Python websockets client speaking the events protocol", () => {
  let served: Served;
  const errors: string[] = [];
  const seen: string[] = [];

  beforeAll(async () => {
    const Events = { say: z.object({ text: z.string() }) };
    type Out = { question: { q: string }; got: { reply?: unknown; error?: unknown } };
    const app = express();
    app.get(
      "/events",
      sockets.events(Events, { skipLogging: true }).emits<Out>(),
      async (_req, res) => {
        const socket = res.locals.socket;
        void (async () => {
          for await (const e of socket.error) errors.push(e.message);
        })();
        for await (const m of socket.receiver) {
          seen.push(m.data.text);
          await m.ack?.({ echo: m.data.text.toUpperCase() });
          if (m.data.text !== "ask me") continue;
          const reply = await socket.request("question", { q: "name?" }, { timeout: 5000 });
          await socket.emit("got", { reply });
          const error = await socket
            .request("question", { q: "again?" }, { timeout: 5000 })
            .catch((e: { code: string; message: string }) => ({
              code: e.code,
              message: e.message,
            }));
          await socket.emit("got", { error });
          await socket.disconnect.send(1000);
        }
      },
    );
    served = await serve(app);
  });

  afterAll(async () => {
    await served.close();
  });

  it("sends events, gets acks and ack errors, and answers the server's requests", async () => {
    const out = await python(CLIENT, served.url("/events"));
    expect(out).toEqual({
      ack: { ack: 1, data: { echo: "HI" } },
      invalid: {
        ack: 2,
        error: {
          code: "ERR_INVALID_MESSAGE",
          message: expect.stringMatching(/^the data of event "say" failed validation: /),
        },
      },
      unknown: {
        ack: 3,
        error: {
          code: "ERR_INVALID_MESSAGE",
          message: 'unknown event "yell": this route takes "say"',
        },
      },
      reserved: {
        ack: 4,
        error: {
          code: "ERR_INVALID_MESSAGE",
          message: expect.stringMatching(/reserved.*"\$hello"/),
        },
      },
      ask: { ack: 5, data: { echo: "ASK ME" } },
      request: { event: "question", data: { q: "name?" }, ack: 0 },
      got: { event: "got", data: { reply: "Monty" } },
      got_error: { event: "got", data: { error: { code: "E_PY", message: "no thanks" } } },
      code: 1000,
    });
    expect(seen).toEqual(["hi", "no answer wanted", "ask me"]);
    expect(errors).toHaveLength(3);
  });
});
