// Subprotocol negotiation (`protocols`, `requireProtocol`): the route's choice from the client's
// offer is `res.locals.socket.protocol` (and the client's `ws.protocol`); an offer with nothing
// acceptable, a malformed offer, or no offer on a route that requires one is a real HTTP 400
// before any handshake.

import type { IncomingMessage } from "node:http";
import express from "express";
import { WebSocket } from "ws";
import { sockets } from "../lib/sockets";
import type { SocketOptions } from "../lib/core/options";
import { captureLog, rawExchange, servePerTest, upgradeRequest } from "./fixtures/upgrade-server";

const serve = servePerTest();

type Outcome =
  | { kind: "open"; client: string; server: string }
  | { kind: "refused"; status: number; body: string };

/**
 * Connects offering `protocols` and reports either the protocol both sides agreed on (the
 * client's `ws.protocol` and what the route saw in `res.locals.socket.protocol`) or the HTTP
 * answer that refused the handshake.
 */
function offer(url: string, protocols: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.on("message", (data) => {
      resolve({ kind: "open", client: ws.protocol, server: String(data) });
      ws.close();
    });
    ws.on("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        resolve({
          kind: "refused",
          status: res.statusCode ?? 0,
          body: String(Buffer.concat(chunks)),
        });
        ws.terminate();
      });
    });
    ws.on("error", reject);
  });
}

/** A route that tells every client the protocol it saw on `res.locals.socket`. */
function tellProtocol(options: SocketOptions) {
  const app = express();
  app.get("/ws", sockets.messages({ skipLogging: true, ...options }), async (_req, res) => {
    const protocol: string | undefined = res.locals.socket.protocol;
    await res.locals.socket.sender.send(String(protocol));
  });
  return app;
}

describe("protocols: names in order of preference", () => {
  it("chooses the route's most preferred name among those offered, whatever the client's order", async () => {
    const served = await serve(tellProtocol({ protocols: ["v2.chat", "v1.chat"] }));
    const url = served.url("/ws");
    expect(await offer(url, ["v1.chat", "v2.chat"])).toEqual({
      kind: "open",
      client: "v2.chat",
      server: "v2.chat",
    });
    expect(await offer(url, ["other", "v1.chat"])).toEqual({
      kind: "open",
      client: "v1.chat",
      server: "v1.chat",
    });
  });

  it("refuses with 400 before the handshake when nothing offered is spoken", async () => {
    const { logger, lines } = captureLog();
    const served = await serve(
      tellProtocol({ protocols: ["v2.chat", "v1.chat"], logger, skipLogging: false }),
    );
    const out = await offer(served.url("/ws"), ["mqtt", "stomp"]);
    expect(out).toEqual({
      kind: "refused",
      status: 400,
      body: 'No acceptable subprotocol in the offer "mqtt", "stomp"; this route speaks "v2.chat", "v1.chat"\n',
    });
    expect(
      lines.some((l) => l.includes("Handshake refused with 400: No acceptable subprotocol")),
    ).toBe(true);
  });

  it("accepts a client that offers none, without a protocol", async () => {
    const served = await serve(tellProtocol({ protocols: ["v1.chat"] }));
    expect(await offer(served.url("/ws"), [])).toEqual({ kind: "open", client: "", server: "" });
  });

  it("with requireProtocol, refuses a client that offers none with 400", async () => {
    const served = await serve(tellProtocol({ protocols: ["v1.chat"], requireProtocol: true }));
    expect(await offer(served.url("/ws"), [])).toEqual({
      kind: "refused",
      status: 400,
      body: 'This route requires a subprotocol (Sec-WebSocket-Protocol); this route speaks "v1.chat"\n',
    });
    expect(await offer(served.url("/ws"), ["v1.chat"])).toMatchObject({ server: "v1.chat" });
  });

  it("answers a malformed offer with 400 (raw request)", async () => {
    const served = await serve(tellProtocol({ protocols: ["v1.chat"] }));
    for (const header of ["v1.chat, v1.chat", "v1.chat,,x", "bad name", ""]) {
      const res = await rawExchange(
        served.port,
        upgradeRequest("/ws", { headers: { "Sec-WebSocket-Protocol": header } }),
      );
      expect({ header, status: res.status, closed: res.closedByServer }).toEqual({
        header,
        status: 400,
        closed: true,
      });
      expect(res.body).toMatch(/Invalid Sec-WebSocket-Protocol header/);
    }
  });
});

describe("protocols: a chooser function", () => {
  it("gets the offer in the client's order and the request, and its choice is used", async () => {
    const calls: { offered: readonly string[]; path: string | undefined }[] = [];
    const chooser = (offered: readonly string[], req: IncomingMessage) => {
      calls.push({ offered: [...offered], path: req.url });
      return offered.find((p) => p.startsWith("tenant-")) ?? false;
    };
    const served = await serve(tellProtocol({ protocols: chooser }));
    const url = served.url("/ws?x=1");
    expect(await offer(url, ["json", "tenant-42"])).toEqual({
      kind: "open",
      client: "tenant-42",
      server: "tenant-42",
    });
    expect(calls).toEqual([{ offered: ["json", "tenant-42"], path: "/ws?x=1" }]);
    expect(await offer(url, ["json"])).toMatchObject({ kind: "refused", status: 400 });
    // Not called for a client that offers nothing: accepted without a protocol.
    expect(await offer(url, [])).toEqual({ kind: "open", client: "", server: "" });
    expect(calls).toHaveLength(2);
  });

  it("a chooser that picks a name the client did not offer is a server error (500), not a handshake", async () => {
    const { logger, lines } = captureLog();
    const served = await serve(tellProtocol({ protocols: () => "invented" }), {
      logger,
      skipLogging: false,
    });
    expect(await offer(served.url("/ws"), ["a"])).toMatchObject({ kind: "refused", status: 500 });
    expect(lines.some((l) => l.includes("which the client did not offer"))).toBe(true);
  });
});

describe("protocols: not configured", () => {
  it("takes the client's first offer, as ws does (browsers fail a handshake that offered some and got none)", async () => {
    const served = await serve(tellProtocol({}));
    expect(await offer(served.url("/ws"), ["b", "a"])).toEqual({
      kind: "open",
      client: "b",
      server: "b",
    });
    expect(await offer(served.url("/ws"), [])).toEqual({ kind: "open", client: "", server: "" });
  });

  it("requireProtocol alone refuses only clients that offer none", async () => {
    const served = await serve(tellProtocol({ requireProtocol: true }));
    expect(await offer(served.url("/ws"), [])).toMatchObject({ kind: "refused", status: 400 });
    expect(await offer(served.url("/ws"), ["x"])).toMatchObject({ kind: "open", server: "x" });
  });
});

describe("protocols: checked when the factory is called", () => {
  it.each([
    [{ protocols: [] }, RangeError, /at least one/],
    [{ protocols: ["ok", "ok"] }, RangeError, /twice/],
    [{ protocols: ["has space"] }, TypeError, /not a valid subprotocol name/],
    [{ protocols: [""] }, TypeError, /not a valid subprotocol name/],
    [{ protocols: "v1" }, TypeError, /array of subprotocol names/],
    [{ requireProtocol: "yes" }, TypeError, /requireProtocol must be a boolean/],
  ])("%j throws", (options, type, message) => {
    expect(() => sockets.messages(options as SocketOptions)).toThrow(type);
    expect(() => sockets.messages(options as SocketOptions)).toThrow(message);
  });
});
