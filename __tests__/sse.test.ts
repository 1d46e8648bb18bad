// sockets.sse(): the res.locals.socket shape over Server-Sent Events, checked with a real HTTP
// client that parses the stream as EventSource does.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import compression from "compression";
import express from "express";
import { Channel } from "../lib/channels/channel";
import { ChannelClosedError } from "../lib/core/errors";
import { sse, SseEncodeError, SseEvent, type SseOptions, type SseSocket } from "../lib/sse/sse";
import type { CloseInfo } from "../lib/core/socket";
import { SseClient } from "./helpers/sse-client";

type Handler = (socket: SseSocket, req: express.Request) => unknown;

interface Server {
  url: string;
  sockets: Channel<SseSocket>;
  logs: string[];
  close(): Promise<void>;
}

const servers: Server[] = [];

async function start(handler: Handler, options: SseOptions = {}): Promise<Server> {
  const app = express();
  const sockets = new Channel<SseSocket>(100);
  const logs: string[] = [];
  const sink = (line: string): void => {
    logs.push(line);
  };
  app.get(
    "/events",
    sse({
      logger: { error: sink, warn: sink, info: sink, debug: sink },
      logLevel: "debug",
      ...options,
    }),
    (req, res) => {
      const socket = res.locals.socket;
      sockets.trySend(socket);
      return handler(socket, req);
    },
  );
  app.post("/events", sse(), () => undefined);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const s: Server = {
    url: `http://127.0.0.1:${port}/events`,
    sockets,
    logs,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function nextSocket(server: Server): Promise<SseSocket> {
  const r = await server.sockets.recv();
  if (r.done) throw new Error("no socket");
  return r.value;
}

describe("sockets.sse()", () => {
  it("answers with an uncached, unbuffered event stream and a retry field", async () => {
    const server = await start(() => undefined, { retry: 1234 });
    const client = await SseClient.connect(server.url);
    try {
      expect(client.status).toBe(200);
      expect(client.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
      expect(client.headers["cache-control"]).toBe("no-cache, no-transform");
      expect(client.headers["x-accel-buffering"]).toBe("no");
      expect(client.headers["content-encoding"]).toBeUndefined();
      await client.until(() => client.retry !== undefined);
      expect(client.retry).toBe(1234);
    } finally {
      await client.close();
    }
  });

  it("is never compressed, even behind compression middleware and a client that accepts gzip", async () => {
    const app = express();
    app.use(compression({ threshold: 0 }));
    app.get("/events", sse({ skipLogging: true }), async (_req, res) => {
      await res.locals.socket.sender.send("x".repeat(2000)); // compressible, over any threshold
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    servers.push({
      url: "",
      sockets: new Channel<SseSocket>(),
      logs: [],
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    });
    const client = await SseClient.connect(`http://127.0.0.1:${port}/events`, {
      "Accept-Encoding": "gzip, deflate, br",
    });
    try {
      expect(client.headers["content-encoding"]).toBeUndefined();
      await client.until(() => client.events.length > 0);
      expect(client.events[0]?.data).toBe("x".repeat(2000));
    } finally {
      await client.close();
    }
  });

  it("sends strings as data lines, other values as JSON, and SseEvent ids and types", async () => {
    const server = await start(async (socket) => {
      await socket.sender.send("one line");
      await socket.sender.send("two\nlines\n");
      await socket.sender.send({ n: 1, s: "é" });
      await socket.sender.send(new SseEvent("with id", { id: "42", event: "log" }));
      await socket.sender.send("after");
    });
    const client = await SseClient.connect(server.url);
    try {
      const events = await client.count(5);
      expect(events).toEqual([
        { event: "message", data: "one line", id: "" },
        { event: "message", data: "two\nlines\n", id: "" },
        { event: "message", data: '{"n":1,"s":"é"}', id: "" },
        { event: "log", data: "with id", id: "42" },
        { event: "message", data: "after", id: "42" },
      ]);
      expect(client.raw).toContain("data: two\ndata: lines\ndata: \n\n");
    } finally {
      await client.close();
    }
  });

  it("refuses CR, LF and NUL in ids and event names", () => {
    expect(() => new SseEvent("x", { id: "1\n2" })).toThrow(TypeError);
    expect(() => new SseEvent("x", { id: "1\r" })).toThrow(TypeError);
    expect(() => new SseEvent("x", { id: "a\0" })).toThrow(TypeError);
    expect(() => new SseEvent("x", { event: "a\nb" })).toThrow(TypeError);
    expect(() => new SseEvent("x", { id: "ok", event: "fine" })).not.toThrow();
  });

  it("exposes Last-Event-ID to the handler and keeps the receiver closed", async () => {
    const server = await start((socket) =>
      socket.sender.send(`resume after ${socket.lastEventId}`),
    );
    const client = await SseClient.connect(server.url, { "Last-Event-ID": "1234" });
    try {
      const socket = await nextSocket(server);
      expect(socket.transport).toBe("sse");
      expect(socket.receiver.closed).toBe(true);
      expect(await socket.receiver.recv()).toEqual({ value: undefined, done: true });
      expect((await client.count(1))[0]?.data).toBe("resume after 1234");
    } finally {
      await client.close();
    }
  });

  it("sends a keep-alive comment after keepAlive ms of silence, and none while busy", async () => {
    const server = await start(() => undefined, { keepAlive: 60, retry: null });
    const client = await SseClient.connect(server.url);
    try {
      await client.until(() => client.comments.length >= 2, 2000, "two keep-alives");
      expect(client.comments.slice(0, 2)).toEqual(["keep-alive", "keep-alive"]);
      const socket = await nextSocket(server);
      const before = client.comments.length;
      for (let i = 0; i < 10; i++) {
        await socket.sender.send(`tick ${i}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(client.comments.length).toBe(before);
    } finally {
      await client.close();
    }
  });

  it("yields done with 1001 when the client goes away; sends then reject", async () => {
    const server = await start(() => undefined);
    const client = await SseClient.connect(server.url);
    const socket = await nextSocket(server);
    await client.close();
    const r = await socket.done.recv();
    expect(r).toEqual({ value: { code: 1001, reason: "client went away" }, done: false });
    expect(await socket.done.recv()).toEqual({ value: undefined, done: true });
    await expect(socket.sender.send("late")).rejects.toBeInstanceOf(ChannelClosedError);
  });

  it("disconnect flushes queued events, ends the response and reports the code", async () => {
    const server = await start(async (socket) => {
      for (let i = 0; i < 5; i++) socket.sender.trySend(`queued ${i}`);
      await socket.disconnect.send({ code: 4000, reason: "bye" });
    });
    const client = await SseClient.connect(server.url);
    const socket = await nextSocket(server);
    await client.closed;
    expect(client.events.map((e) => e.data)).toEqual([0, 1, 2, 3, 4].map((i) => `queued ${i}`));
    expect(await socket.done.recv()).toEqual({
      value: { code: 4000, reason: "bye" },
      done: false,
    });
  });

  it("pushes back through sender when the client does not read, and loses nothing", async () => {
    const big = "x".repeat(64 * 1024);
    const server = await start(() => undefined, { sendChannelBuffer: 2 });
    const client = await SseClient.connect(server.url);
    try {
      client.res.pause();
      const socket = await nextSocket(server);
      let sent = 0;
      let blocked = false;
      while (!blocked && sent < 2000) {
        const send = socket.sender.send(`${sent} ${big}`);
        const timeout = new Promise<"blocked">((r) => setTimeout(() => r("blocked"), 100));
        blocked = (await Promise.race([send.then(() => "sent" as const), timeout])) === "blocked";
        sent++;
        if (blocked) void send.catch(() => undefined);
      }
      expect(blocked).toBe(true);
      expect(sent).toBeLessThan(2000); // bounded: a few MB in socket buffers, not everything
      client.res.resume();
      await client.count(sent, 10_000);
      expect(client.events.map((e) => Number(e.data.split(" ")[0]))).toEqual(
        Array.from({ length: sent }, (_, i) => i),
      );
    } finally {
      await client.close();
    }
  });

  it("ends a stream whose writes are not flushed within writeWait (done 1006)", async () => {
    const big = "y".repeat(256 * 1024);
    const server = await start(() => undefined, { writeWait: 100, sendChannelBuffer: 1 });
    const client = await SseClient.connect(server.url);
    try {
      client.res.pause();
      const socket = await nextSocket(server);
      const done = socket.done.recv();
      for (let i = 0; i < 200 && !socket.sender.closed; i++) {
        await socket.sender.send(big).catch(() => undefined);
      }
      const r = await done;
      expect((r.value as CloseInfo).code).toBe(1006);
      expect(server.logs.some((l) => l.includes("not flushed within 100 ms"))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it("reports a value it cannot encode on `error` and keeps streaming", async () => {
    const server = await start(async (socket) => {
      await socket.sender.send({ big: BigInt(1) });
      await socket.sender.send("still here");
    });
    const client = await SseClient.connect(server.url);
    try {
      const socket = await nextSocket(server);
      const err = await socket.error.recv();
      expect(err.value).toBeInstanceOf(SseEncodeError);
      expect((err.value as SseEncodeError).code).toBe("ERR_SSE_ENCODE");
      expect((await client.count(1))[0]?.data).toBe("still here");
    } finally {
      await client.close();
    }
  });

  it("answers 405 to a method other than GET", async () => {
    const server = await start(() => undefined);
    const res = await fetch(server.url, { method: "POST" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
    await res.text();
  });

  it("throws at factory time for invalid options", () => {
    expect(() => sse({ keepAlive: -1 })).toThrow(RangeError);
    expect(() => sse({ retry: 1.5 })).toThrow(RangeError);
    expect(() => sse({ sendChannelBuffer: "10" as unknown as number })).toThrow(TypeError);
    expect(() => sse({ writeWait: Number.NaN })).toThrow(TypeError);
  });
});
