// Plain JavaScript gets no compiler to catch a misspelt option: every factory and attach() reject
// a key they do not know, with the hint TypeScript gives ("Did you mean to write 'pongWait'?"),
// instead of silently ignoring it.

import http from "node:http";
import express from "express";
import { attach, sockets } from "../lib/index";

/** Options as plain JavaScript passes them: whatever object the caller wrote. */
const js = <T>(o: Record<string, unknown>): T => o as T;

describe("unknown option keys", () => {
  it.each([
    ["sockets.json", () => sockets.json(undefined, js({ pongwait: 1000 })), "pongWait"],
    ["sockets.messages", () => sockets.messages(js({ maxMessagesize: 10 })), "maxMessageSize"],
    ["sockets.bytes", () => sockets.bytes(js({ allowedOrigins: "x" })), "allowedOrigin"],
    ["sockets.sse", () => sockets.sse(js({ keepalive: 0 })), "keepAlive"],
    ["sockets.tail", () => sockets.tail("x.log", js({ line: 5 })), "lines"],
  ])("%s throws a TypeError that names the key and suggests the option", (_name, call, hint) => {
    let error: unknown;
    try {
      call();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/unknown option '\w+'/);
    expect((error as Error).message).toContain(`Did you mean to write '${hint}'?`);
  });

  it("attach() too, and lists the options when nothing is close", () => {
    const server = http.createServer();
    const app = express();
    expect(() => attach(server, app, js({ handshaketimeout: 5 }))).toThrow(
      "attach() options: unknown option 'handshaketimeout'. Did you mean to write 'handshakeTimeout'?",
    );
    expect(() => attach(server, app, js({ zzz: 1 }))).toThrow(
      "attach() options: unknown option 'zzz'. Options are: logger, logLevel, skipLogging, handshakeTimeout.",
    );
    expect(server.listenerCount("upgrade")).toBe(0); // nothing was attached
  });

  it("accepts every documented option", () => {
    expect(() =>
      sockets.json(undefined, {
        logger: console,
        logLevel: "error",
        skipLogging: true,
        writeWait: 1,
        pongWait: 2,
        pingPeriod: 1,
        maxMessageSize: 10,
        sendChannelBuffer: 1,
        recvChannelBuffer: 1,
        allowedOrigin: /x/,
        requireOrigin: true,
        closeOnInvalidMessage: true,
      }),
    ).not.toThrow();
  });
});
