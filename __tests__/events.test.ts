// sockets.events: named events validated per name, acknowledgements both ways, and every error a
// user will hit, over real TCP with real ws clients speaking the wire of PROTOCOL.md by hand.

import { getEventListeners } from "node:events";
import express from "express";
import { WebSocket } from "ws";
import { z } from "zod";
import type { ReadChannel } from "../lib/channels/channel";
import { ChannelClosedError, SocketsError } from "../lib/channels/errors";
import { InvalidMessageError, TimeoutError } from "../lib/core/errors";
import { AnswerError, EventsConnection } from "../lib/events/connection";
import type { EventsSocket, IncomingEvent } from "../lib/events/types";
import { sockets } from "../lib/sockets";
import { broadcast } from "../lib/websocket/broadcast";
import { Connection } from "../lib/websocket/connection";
import {
  captureLog,
  closed,
  connect,
  nextMessages,
  open,
  rawExchange,
  received,
  servePerTest,
  upgradeRequest,
} from "./fixtures/upgrade-server";
import { failOnUnhandledRejections } from "./helpers/no-unhandled";

failOnUnhandledRejections();

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const quiet = { skipLogging: true } as const;
const serve = servePerTest();

const Chat = {
  say: z.object({ text: z.string().max(20) }),
  typing: z.boolean(),
  slow: z.string().refine(async (s) => {
    await new Promise((r) => setTimeout(r, 20));
    return s !== "bad";
  }, "slowly rejected"),
};
type ChatOut = { said: { text: string }; ask: { q: string }; ping: null };
type ChatSocket = EventsSocket<typeof Chat, ChatOut>;

/** Starts an app whose /chat route hands each socket to `use`; resolves the socket per client. */
async function chat(
  use: (socket: ChatSocket) => void | Promise<void> = () => {},
  options: Parameters<typeof sockets.events>[1] = {},
): Promise<{ url: string; socket: () => Promise<ChatSocket> }> {
  const app = express();
  const waiting: ((s: ChatSocket) => void)[] = [];
  const ready: ChatSocket[] = [];
  app.get("/chat", sockets.events(Chat, { ...quiet, ...options }).emits<ChatOut>(), (_req, res) => {
    const s = res.locals.socket;
    const w = waiting.shift();
    if (w) w(s);
    else ready.push(s);
    return use(s);
  });
  const served = await serve(app);
  return {
    url: served.url("/chat"),
    socket: () =>
      ready.length > 0
        ? Promise.resolve(ready.shift()!)
        : new Promise<ChatSocket>((r) => waiting.push(r)),
  };
}

async function json(ws: WebSocket, n = 1): Promise<unknown[]> {
  return (await nextMessages(ws, n)).map((t) => JSON.parse(t) as unknown);
}

async function take<T>(channel: ReadChannel<T>): Promise<T> {
  const r = await channel.recv();
  if (r.done) throw new Error("channel closed");
  return r.value;
}

describe("sockets.events: the checks of every WebSocket factory", () => {
  it("refuses a non-GET upgrade with 405, a foreign Origin with 403 and plain HTTP with 400", async () => {
    const app = express();
    app.all("/chat", sockets.events(Chat, quiet), () => {});
    const served = await serve(app);
    const post = await rawExchange(served.port, upgradeRequest("/chat", { method: "POST" }));
    const evil = await rawExchange(
      served.port,
      upgradeRequest("/chat", { headers: { Origin: "http://evil.example" } }),
    );
    const plain = await rawExchange(
      served.port,
      "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    expect([post.status, evil.status, plain.status]).toEqual([405, 403, 400]);
  });

  it("binds an EventsConnection: transport 'events', a Connection that broadcast() frames once", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    expect(s.transport).toBe("events");
    expect(s).toBeInstanceOf(EventsConnection);
    expect(s).toBeInstanceOf(Connection);
    const r = broadcast([s], { event: "said", data: { text: "all" } });
    expect(r).toEqual({ delivered: 1, closed: 0, dropped: 0 });
    expect(await nextMessages(ws, 1)).toEqual(['{"event":"said","data":{"text":"all"}}']);
    ws.close();
  });

  it("closes with 1009 when an event frame exceeds maxMessageSize", async () => {
    const { url } = await chat(undefined, { maxMessageSize: 64 });
    const ws = await open(url);
    const end = closed(ws);
    ws.send(JSON.stringify({ event: "say", data: { text: "x".repeat(100) } }));
    expect((await end).code).toBe(1009);
  });
});

describe("sockets.events: events from the client", () => {
  it("yields { event, data } narrowed by event, validated by that event's schema", async () => {
    const seen: IncomingEvent<typeof Chat>[] = [];
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    ws.send('{"event":"say","data":{"text":"hi"}}');
    ws.send('{"event":"typing","data":true}');
    for (let i = 0; i < 2; i++) seen.push(await take(s.receiver));
    expect(seen).toEqual([
      { event: "say", data: { text: "hi" } },
      { event: "typing", data: true },
    ]);
    expect("ack" in seen[0]!).toBe(false); // no answer asked, no ack
    ws.close();
  });

  it("m.ack(value) answers {ack, data} once; a second call throws ERR_ACK_ALREADY_SENT", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    ws.send('{"event":"say","data":{"text":"hi"},"ack":7}');
    const m = await take(s.receiver);
    expect(typeof m.ack).toBe("function");
    await m.ack!({ ok: true });
    expect(await json(ws)).toEqual([{ ack: 7, data: { ok: true } }]);
    let second: unknown;
    try {
      void m.ack!({ ok: false });
    } catch (err) {
      second = err;
    }
    expect(second).toBeInstanceOf(SocketsError);
    expect(second).toMatchObject({ code: "ERR_ACK_ALREADY_SENT" });
    expect((second as Error).message).toMatch(/"say" \(ack 7\) was already answered/);
    expect(() => m.ack!(undefined)).toThrow(/already answered/);
    ws.send('{"event":"typing","data":false,"ack":8}');
    const m2 = await take(s.receiver);
    expect(() => m2.ack!((() => 1) as never)).toThrow(TypeError);
    await m2.ack!(); // the value was refused, the ack is still unused
    expect(await json(ws)).toEqual([{ ack: 8 }]);
    ws.close();
  });

  it("an unknown event goes to error and is answered with ERR_INVALID_MESSAGE; the socket stays open", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    ws.send('{"event":"shout","data":1,"ack":1}');
    ws.send('{"event":"shout","data":2}');
    expect(await json(ws)).toEqual([
      {
        ack: 1,
        error: {
          code: "ERR_INVALID_MESSAGE",
          message: 'unknown event "shout": this route takes "say", "typing", "slow"',
        },
      },
    ]);
    const e1 = await take(s.error);
    const e2 = await take(s.error);
    expect(e1).toBeInstanceOf(InvalidMessageError);
    expect(e2.message).toMatch(/unknown event "shout"/);
    expect((e2 as InvalidMessageError).data).toBe('{"event":"shout","data":2}');
    ws.send('{"event":"typing","data":true}');
    expect(await take(s.receiver)).toEqual({ event: "typing", data: true });
    expect(received(ws)).toEqual([]); // the event without ack got no answer
    ws.close();
  });

  it("invalid data goes to error with the schema's issues and is answered with ERR_INVALID_MESSAGE", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    ws.send(JSON.stringify({ event: "say", data: { text: "x".repeat(30) }, ack: 2 }));
    const [answer] = (await json(ws)) as [
      { ack: number; error: { code: string; message: string } },
    ];
    expect(answer.ack).toBe(2);
    expect(answer.error.code).toBe("ERR_INVALID_MESSAGE");
    expect(answer.error.message).toMatch(/^the data of event "say" failed validation: /);
    const err = (await take(s.error)) as InvalidMessageError;
    expect(err.code).toBe("ERR_INVALID_MESSAGE");
    expect(err.issues[0]?.path).toEqual(["text"]);
    expect(s.receiver.length).toBe(0);
    ws.close();
  });

  it("an async schema keeps the order, and its rejection is answered too", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    ws.send('{"event":"slow","data":"bad","ack":1}');
    ws.send('{"event":"slow","data":"good","ack":2}');
    ws.send('{"event":"typing","data":true}');
    const first = await take(s.receiver);
    const second = await take(s.receiver);
    expect([first.event, first.data, second.event]).toEqual(["slow", "good", "typing"]);
    expect(await json(ws)).toEqual([
      {
        ack: 1,
        error: { code: "ERR_INVALID_MESSAGE", message: expect.stringMatching(/slowly rejected/) },
      },
    ]);
    await first.ack!("fine");
    expect(await json(ws)).toEqual([{ ack: 2, data: "fine" }]);
    ws.close();
  });

  it("an event name that is not a string, or bad envelopes, are reported clearly", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    const bad = [
      '{"event":5,"data":1}',
      "[1,2]",
      '"say"',
      "{nope",
      '{"data":1}',
      '{"event":"say","data":{"text":"a"},"ack":-1}',
      '{"event":"say","data":{"text":"a"},"ack":1.5}',
      '{"ack":0,"error":"no"}',
    ];
    for (const b of bad) ws.send(b);
    const messages: string[] = [];
    for (const _ of bad) messages.push((await take(s.error)).message);
    expect(messages).toEqual([
      "the event name must be a string, got number 5",
      'an events message must be a JSON object {"event", "data"}, got an array',
      'an events message must be a JSON object {"event", "data"}, got the string "say"',
      expect.stringMatching(/^message is not valid JSON/),
      'an events message needs "event" (an event) or "ack" (an answer), it has neither',
      '"ack" must be an integer from 0 to 2^53 - 1, got number -1',
      '"ack" must be an integer from 0 to 2^53 - 1, got number 1.5',
      'the error of answer 0 must be an object {"code": string, "message": string}, got the string "no"',
    ]);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('a "$" name the server does not know is refused as reserved, with an answer when asked', async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    ws.send('{"event":"$resume","data":{},"ack":4}');
    const [answer] = (await json(ws)) as [{ error: { message: string } }];
    expect(answer).toMatchObject({ ack: 4, error: { code: "ERR_INVALID_MESSAGE" } });
    expect(answer.error.message).toMatch(
      /reserved for the protocol's control messages.*"\$resume"/,
    );
    expect((await take(s.error)).message).toBe(answer.error.message);
    ws.close();
  });

  it("with closeOnInvalidMessage, the error answer goes out before the 1007 close", async () => {
    const { url } = await chat(undefined, { closeOnInvalidMessage: true });
    const ws = await open(url);
    const end = closed(ws);
    ws.send('{"event":"nope","ack":9}');
    expect((await end).code).toBe(1007);
    expect(received(ws).map((t) => JSON.parse(t) as unknown)).toEqual([
      { ack: 9, error: { code: "ERR_INVALID_MESSAGE", message: expect.any(String) } },
    ]);
  });
});

describe("sockets.events: what the server sends", () => {
  it('emit(event, data) writes {"event","data"}, the bytes of sender.send({ event, data })', async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    await s.emit("said", { text: "one" });
    await s.sender.send({ event: "said", data: { text: "one" } });
    await s.emit("ping", null);
    expect(await nextMessages(ws, 3)).toEqual([
      '{"event":"said","data":{"text":"one"}}',
      '{"event":"said","data":{"text":"one"}}',
      '{"event":"ping","data":null}',
    ]);
    ws.close();
  });

  it("emit refuses a name that is not a string, a reserved name and data JSON cannot carry", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const loose = (await socket()) as unknown as EventsSocket<typeof Chat>;
    await expect(loose.emit(5 as never, 1)).rejects.toThrow(
      new TypeError("the event name must be a string, got number 5"),
    );
    await expect(loose.emit("$x" as never, 1)).rejects.toThrow(/reserved/);
    await expect(loose.emit("said", (() => 1) as never)).rejects.toThrow(TypeError);
    await expect(loose.emit("said", 10n as never)).rejects.toThrow(TypeError);
    await expect(loose.request(7 as never, 1)).rejects.toThrow(/must be a string/);
    expect(received(ws)).toEqual([]);
    ws.close();
  });

  it("request() resolves with the client's answer; a schema validates and types it", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    ws.on("message", (t) => {
      const m = JSON.parse(String(t)) as { event: string; data: { q: string }; ack?: number };
      if (m.ack !== undefined) ws.send(JSON.stringify({ ack: m.ack, data: { a: m.data.q + "!" } }));
    });
    const reply = s.request("ask", { q: "one" });
    await expect(reply).resolves.toEqual({ a: "one!" });
    const typed = await s.request("ask", { q: "two" }, { schema: z.object({ a: z.string() }) });
    expect(typed.a).toBe("two!");
    await expect(
      s.request("ask", { q: "3" }, { schema: z.object({ a: z.number() }) }),
    ).rejects.toThrow(InvalidMessageError);
    expect(s.pendingRequests).toBe(0);
    ws.close();
  });

  it("sends requests as {event, data, ack} with ack ids 0, 1, 2 ...", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    const a = s.request("ask", { q: "a" });
    const b = s.request("ask", { q: "b" });
    expect(await json(ws, 2)).toEqual([
      { event: "ask", data: { q: "a" }, ack: 0 },
      { event: "ask", data: { q: "b" }, ack: 1 },
    ]);
    ws.send('{"ack":1,"data":"B"}');
    ws.send('{"ack":0,"data":"A"}');
    expect(await Promise.all([a, b])).toEqual(["A", "B"]);
    ws.close();
  });

  it("an error answer rejects with AnswerError carrying the client's code and message", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    const r = s.request("ask", { q: "?" });
    await json(ws);
    ws.send('{"ack":0,"error":{"code":"E_NOPE","message":"will not"}}');
    const err = await r.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnswerError);
    expect(err).toMatchObject({ code: "E_NOPE", message: "will not", event: "ask" });
    ws.close();
  });

  it("rejects with TimeoutError ERR_REQUEST_TIMEOUT when unanswered; a late answer is dropped", async () => {
    const { url, socket } = await chat(undefined, { requestTimeout: 50 });
    const ws = await open(url);
    const s = await socket();
    const t0 = Date.now();
    const err = await s.request("ask", { q: "?" }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ code: "ERR_REQUEST_TIMEOUT", closeCode: undefined });
    expect((err as Error).message).toBe('request "ask" (ack 0) was not answered within 50 ms');
    expect(s.pendingRequests).toBe(0);
    ws.send('{"ack":0,"data":"late"}'); // dropped quietly
    ws.send('{"ack":99,"data":"never asked"}'); // an error: no such request was ever sent
    expect((await take(s.error)).message).toBe("an answer to ack 99, which this server never sent");
    const quick = s.request("ask", { q: "?" }, { timeout: 10 });
    await expect(quick).rejects.toThrow(/within 10 ms/);
    ws.close();
  });

  it("rejects with ChannelClosedError when the connection closes before the answer", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    const pending = [s.request("ask", { q: "1" }), s.request("ask", { q: "2" }, { timeout: 0 })];
    await json(ws, 2);
    expect(s.pendingRequests).toBe(2);
    ws.close(4001);
    for (const p of pending) {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChannelClosedError);
      expect((err as Error).message).toMatch(
        /^request "ask" \(ack \d\): the connection closed \(4001\) before the client answered$/,
      );
    }
    expect(s.pendingRequests).toBe(0);
    await expect(s.request("ask", { q: "3" })).rejects.toThrow(ChannelClosedError);
  });

  it("an aborted request rejects with the signal's reason and leaves nothing pending", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    const ac = new AbortController();
    const r = s.request("ask", { q: "?" }, { signal: ac.signal });
    ac.abort(new Error("changed my mind"));
    await expect(r).rejects.toThrow("changed my mind");
    expect(s.pendingRequests).toBe(0);
    await expect(s.request("ask", { q: "?" }, { signal: ac.signal })).rejects.toThrow(
      "changed my mind",
    );
    ws.close();
  });

  it("maxPendingRequests bounds the requests waiting on one connection: one more rejects at once", async () => {
    const { url, socket } = await chat(undefined, { maxPendingRequests: 2 });
    const ws = await open(url);
    const s = await socket();
    const a = s.request("ask", { q: "a" });
    const b = s.request("ask", { q: "b" });
    const err = await s.request("ask", { q: "c" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_TOO_MANY_REQUESTS" });
    expect(await json(ws, 2)).toHaveLength(2); // the third was never sent
    ws.send('{"ack":0,"data":1}');
    await a;
    const c = s.request("ask", { q: "c" });
    expect(await json(ws)).toEqual([{ event: "ask", data: { q: "c" }, ack: 2 }]);
    ws.send('{"ack":1,"data":2}');
    ws.send('{"ack":2,"data":3}');
    expect(await Promise.all([b, c])).toEqual([2, 3]);
    ws.close();
  });

  it("an answer is taken while the handler does not read the receiver (nothing queued before it)", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    const r = s.request("ask", { q: "?" });
    await json(ws);
    ws.send('{"event":"typing","data":true}');
    ws.send('{"ack":0,"data":"yes"}');
    await expect(r).resolves.toBe("yes");
    expect(await take(s.receiver)).toEqual({ event: "typing", data: true });
    ws.close();
  });
});

describe("sockets.events: bounded, and nothing kept after the fact", () => {
  it("releases a request's abort listener once it is answered or times out", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    const ac = new AbortController();
    const answered = s.request("ask", { q: "1" }, { signal: ac.signal });
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(1);
    await json(ws);
    ws.send('{"ack":0,"data":"ok"}');
    await answered;
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
    const timedOut = s.request("ask", { q: "2" }, { signal: ac.signal, timeout: 30 });
    await expect(timedOut).rejects.toThrow(TimeoutError);
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
    ws.close();
  });

  it("an ack after the connection closed rejects with ChannelClosedError, never unhandled", async () => {
    const { url, socket } = await chat();
    const ws = await open(url);
    const s = await socket();
    ws.send('{"event":"typing","data":true,"ack":1}');
    ws.send('{"event":"typing","data":false,"ack":2}');
    const first = await take(s.receiver);
    const second = await take(s.receiver);
    ws.close();
    await s.done.recv();
    await expect(first.ack!("late")).rejects.toThrow(ChannelClosedError);
    void second.ack!("late, not awaited"); // failOnUnhandledRejections checks this one
  });

  it("error answers to a client that floods bad requests without reading are bounded and logged", async () => {
    const log = captureLog();
    const { url, socket } = await chat(undefined, {
      skipLogging: false,
      logger: log.logger,
      logLevel: "warning",
      sendChannelBuffer: 1,
    });
    const ws = await open(url);
    const s = await socket();
    (ws as unknown as { _socket: { pause(): void } })._socket.pause(); // read nothing
    const name = "n".repeat(60_000); // each error answer quotes it: about 60 KB
    const n = 200;
    for (let i = 0; i < n; i++) ws.send(JSON.stringify({ event: name, ack: i }));
    let errors = 0;
    while (errors < n) {
      await take(s.error);
      errors++;
    }
    await waitFor(() => log.lines.some((l) => l.includes("dropped: the client is not reading")));
    const stats = (s as unknown as Connection<unknown, unknown>).stats;
    expect(stats.sendPending).toBeLessThanOrEqual(1);
    ws.terminate();
  });
});

describe("sockets.events(): bad arguments throw at the call", () => {
  it("refuses schemas that are not an object of schemas, reserved names and bad options", () => {
    expect(() => sockets.events(null as never)).toThrow(/schemas must be an object/);
    expect(() => sockets.events([] as never)).toThrow(/schemas must be an object/);
    expect(() => sockets.events({ say: 5 } as never)).toThrow(
      /the schema of event "say": schema must be a Standard Schema/,
    );
    expect(() => sockets.events({ $hello: z.string() })).toThrow(/reserved/);
    expect(() => sockets.events(Chat, { requestTimeout: -1 })).toThrow(RangeError);
    expect(() => sockets.events(Chat, { maxPendingRequests: 0 })).toThrow(RangeError);
    expect(() => sockets.events(Chat, { pongWait: 10, pingPeriod: 20 })).toThrow(RangeError);
  });

  it("connect() sees the route's handshake as any client would", async () => {
    const { url } = await chat();
    const outcome = await connect(url);
    expect(outcome.kind).toBe("open");
    if (outcome.kind === "open") outcome.ws.close();
  });
});
