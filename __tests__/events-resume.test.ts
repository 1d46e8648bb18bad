// The server side of the client's heartbeat and resume on sockets.events() routes
// (RECOVERY-PROTOCOL.md §1 and §5): `$ping` answered with `$pong` at once and never delivered,
// `es_resume` read into `socket.resume` (bounded; malformed ignored as a whole); and the browser
// client (in Node, with ws) against a real events route, end to end.

import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { WebSocket } from "ws";
import { z } from "zod";
import { attach, sockets, type Attachment } from "../lib/index";
import type { EventsSocket, Resume } from "../lib/index";
import { closeAll, connect, node, reach, record, sleep, until } from "./helpers/client-utils";
import { failOnUnhandledRejections } from "./helpers/no-unhandled";

failOnUnhandledRejections();
afterEach(closeAll);

const Chat = { say: z.object({ text: z.string() }) };
type ChatOut = { said: { text: string }; confirm: string };
type ChatSocket = EventsSocket<typeof Chat, ChatOut>;

interface App {
  url: string;
  sockets: ChatSocket[];
  received: unknown[];
  errors: Error[];
  close(): Promise<void>;
}

let app: App;
/** What each socket's `resume` was when its handler started. */
const atStart = new Map<ChatSocket, Resume | undefined>();

beforeEach(async () => {
  const ex = express();
  const list: ChatSocket[] = [];
  const received: unknown[] = [];
  const errors: Error[] = [];
  ex.get("/chat", sockets.events(Chat, { skipLogging: true }).emits<ChatOut>(), (_req, res) => {
    const socket = res.locals.socket;
    list.push(socket);
    atStart.set(socket, socket.resume);
    void (async () => {
      for await (const e of socket.error) errors.push(e);
    })();
    void (async () => {
      for await (const m of socket.receiver) {
        received.push({ event: m.event, data: m.data });
        m.ack?.({ ok: true, text: m.data.text });
      }
    })();
  });
  const server = http.createServer(ex);
  const upgrades: Attachment = attach(server, ex, { skipLogging: true });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  app = {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/chat`,
    sockets: list,
    received,
    errors,
    async close() {
      await upgrades.close({ timeout: 0 });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
});
afterEach(() => app.close());

/** A raw ws client collecting parsed frames. */
async function raw(url: string): Promise<{ ws: WebSocket; frames: unknown[] }> {
  const ws = new WebSocket(url);
  const frames: unknown[] = [];
  ws.on("message", (d) => frames.push(JSON.parse(String(d))));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return { ws, frames };
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("base64url");

describe("$ping on an events route", () => {
  it("is answered with $pong at once and never reaches the handler or the error channel", async () => {
    const c = await raw(app.url);
    try {
      c.ws.send('{"event":"$ping"}');
      c.ws.send('{"event":"$ping","data":null}');
      c.ws.send('{"event":"say","data":{"text":"hi"}}');
      await until(() => c.frames.length === 2 && app.received.length === 1);
      expect(c.frames).toEqual([{ event: "$pong" }, { event: "$pong" }]);
      expect(app.received).toEqual([{ event: "say", data: { text: "hi" } }]);
      expect(app.errors).toEqual([]);
    } finally {
      c.ws.terminate();
    }
  });
});

describe("es_resume on an events route", () => {
  async function resumeOf(query: string): Promise<Resume | undefined> {
    const c = await raw(`${app.url}${query}`);
    await until(() => app.sockets.length > 0);
    const socket = app.sockets.pop()!;
    c.ws.terminate();
    expect(atStart.get(socket)).toBe(socket.resume);
    return socket.resume;
  }

  it("is read into socket.resume before the handler runs", async () => {
    const resume = await resumeOf(
      `?x=1&es_resume=${b64({ token: "t.1.s", rooms: { lobby: { epoch: "E", seq: 7 } } })}`,
    );
    expect(resume).toEqual({ token: "t.1.s", rooms: { lobby: { epoch: "E", seq: 7 } } });
    expect(Object.getPrototypeOf(resume!.rooms)).toBeNull();
    expect(await resumeOf("")).toBeUndefined();
    expect(await resumeOf(`?es_resume=${b64({})}`)).toEqual({ rooms: {} });
  });

  it("keeps a room named __proto__ as a plain key", async () => {
    const resume = await resumeOf(
      `?es_resume=${b64(JSON.parse('{"rooms":{"__proto__":{"epoch":"E","seq":1}}}'))}`,
    );
    expect(Object.keys(resume!.rooms)).toEqual(["__proto__"]);
  });

  it.each([
    ["too long", `?es_resume=${"A".repeat(4097)}`],
    ["not base64url", "?es_resume=a+b/c"],
    ["not JSON", `?es_resume=${Buffer.from("{nope").toString("base64url")}`],
    ["an array", `?es_resume=${b64([1])}`],
    ["a token that is not a string", `?es_resume=${b64({ token: 5 })}`],
    ["a negative seq", `?es_resume=${b64({ rooms: { a: { epoch: "E", seq: -1 } } })}`],
    ["a fractional seq", `?es_resume=${b64({ rooms: { a: { epoch: "E", seq: 1.5 } } })}`],
    ["an epoch that is not a string", `?es_resume=${b64({ rooms: { a: { epoch: 1, seq: 1 } } })}`],
    [
      "101 rooms",
      `?es_resume=${b64({ rooms: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`r${i}`, { epoch: "E", seq: 0 }])) })}`,
    ],
    ["two parameters", `?es_resume=${b64({})}&es_resume=${b64({})}`],
  ])("ignores %s as a whole, and the connection works", async (_what, query) => {
    const c = await raw(`${app.url}${query}`);
    try {
      await until(() => app.sockets.length > 0);
      expect(app.sockets[0]!.resume).toBeUndefined();
      c.ws.send('{"event":"say","data":{"text":"still here"}}');
      await until(() => app.received.length === 1);
    } finally {
      c.ws.terminate();
    }
  });
});

describe("the client against a real events route", () => {
  it("keeps a quiet connection open with its heartbeat, and requests and server requests work", async () => {
    const client = connect<ChatOut, typeof Chat>(app.url, {
      ...node,
      heartbeat: 200,
      heartbeatTimeout: 300,
    });
    const log = record(client);
    client.handle("confirm", (q) => `yes: ${q}`);
    await reach(client, "open");
    expect(await client.request("say", { text: "hi" })).toEqual({ ok: true, text: "hi" });
    await sleep(1500); // > 3 x (heartbeat + heartbeatTimeout): only pongs kept it alive
    expect(log.statuses).toEqual(["connecting", "open"]);
    expect(log.errors).toEqual([]);
    const socket = app.sockets[0]!;
    expect(await socket.request("confirm", "sure?")).toBe("yes: sure?");
    const bad = client.request("say", { text: 5 as unknown as string });
    await expect(bad).rejects.toMatchObject({ code: "ERR_INVALID_MESSAGE" });
    expect(app.received).toEqual([{ event: "say", data: { text: "hi" } }]);
  });

  it("presents its saved session and positions: the route reads them in socket.resume", async () => {
    const saved = JSON.stringify({ token: "T", rooms: { lobby: { epoch: "E", seq: 3 } } });
    const client = connect(app.url, {
      ...node,
      storage: { getItem: () => saved, setItem: () => {} },
    });
    await reach(client, "open");
    expect(app.sockets[0]!.resume).toEqual({
      token: "T",
      rooms: { lobby: { epoch: "E", seq: 3 } },
    });
  });
});
