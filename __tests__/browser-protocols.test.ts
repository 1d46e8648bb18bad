// The protocol options in a real browser (Chromium): it offers permessage-deflate by itself, so a
// route with `perMessageDeflate` compresses both ways; `protocols` picks the route's preference
// from `new WebSocket(url, [...])`, which the page sees as `ws.protocol`; a browser offering no
// acceptable subprotocol gets no connection; and `sockets.frames()` echoes text as text and
// binary as binary.

import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { type Browser } from "playwright-core";
import { launchBrowser } from "./helpers/browser";
import { attach, type Attachment } from "../lib/websocket/upgrade";
import { sockets } from "../lib/sockets";

const PAGE = "<!doctype html><title>protocols</title><p>protocols</p>";

interface PageResult {
  opened: boolean;
  protocol: string;
  extensions: string;
  closeCode: number;
  replies: { kind: string; value: string }[];
}

describe("protocol options in Chromium", () => {
  let server: http.Server;
  let upgrades: Attachment;
  let origin: string;
  let browser: Browser;
  const serverRead: number[] = [];

  beforeAll(async () => {
    const app = express();
    app.get("/", (_req, res) => res.type("html").send(PAGE));
    app.get(
      "/echo",
      sockets.frames({
        skipLogging: true,
        perMessageDeflate: true,
        protocols: ["v2.chat", "v1.chat"],
        maxMessageSize: 1 << 20,
      }),
      async (req, res) => {
        const { receiver, sender } = res.locals.socket;
        const start = req.socket.bytesRead;
        for await (const m of receiver) {
          await sender.send(m);
          serverRead.push(req.socket.bytesRead - start);
        }
      },
    );
    server = http.createServer(app);
    upgrades = attach(server, app, { skipLogging: true });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await upgrades?.close({ timeout: 500 });
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Opens a WebSocket in the page offering `offer`, sends `text` and bytes, reports. */
  async function inPage(offer: string[], text: string): Promise<PageResult> {
    const page = await browser.newPage();
    try {
      await page.goto(`${origin}/`);
      return await page.evaluate(
        ({ url, offer, text }) =>
          new Promise<PageResult>((resolve) => {
            const ws = new WebSocket(url, offer);
            ws.binaryType = "arraybuffer";
            const result: PageResult = {
              opened: false,
              protocol: "",
              extensions: "",
              closeCode: 0,
              replies: [],
            };
            ws.onopen = () => {
              result.opened = true;
              result.protocol = ws.protocol;
              result.extensions = ws.extensions;
              ws.send(text);
              ws.send(new Uint8Array([0, 1, 2, 255]));
            };
            ws.onmessage = (e: MessageEvent) => {
              const data: unknown = e.data;
              result.replies.push(
                typeof data === "string"
                  ? { kind: "text", value: data.length > 64 ? `${data.length} chars` : data }
                  : {
                      kind: "binary",
                      value: Array.from(new Uint8Array(data as ArrayBuffer)).join(","),
                    },
              );
              if (result.replies.length === 2) ws.close(1000);
            };
            ws.onclose = (e: CloseEvent) => {
              result.closeCode = e.code;
              resolve(result);
            };
          }),
        { url: `${origin.replace("http", "ws")}/echo`, offer, text },
      );
    } finally {
      await page.close();
    }
  }

  it("negotiates compression and the preferred subprotocol, and echoes both frame types", async () => {
    serverRead.length = 0;
    const big = JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, ok: true })));
    const result = await inPage(["v1.chat", "v2.chat"], big);
    expect(result).toEqual({
      opened: true,
      protocol: "v2.chat",
      extensions: expect.stringMatching(/^permessage-deflate/),
      closeCode: 1000,
      replies: [
        { kind: "text", value: `${big.length} chars` },
        { kind: "binary", value: "0,1,2,255" },
      ],
    });
    // The browser compressed what it sent: the server read far less than the text's size.
    expect(serverRead[0]).toBeLessThan(big.length / 4);
  }, 30_000);

  it("gets no connection when it offers no subprotocol the route speaks (400 before the handshake)", async () => {
    const result = await inPage(["mqtt"], "never sent");
    expect(result).toMatchObject({ opened: false, closeCode: 1006, replies: [] });
  }, 30_000);

  it("connects without a subprotocol when it offers none", async () => {
    const result = await inPage([], "hi");
    expect(result).toMatchObject({ opened: true, protocol: "", closeCode: 1000 });
    expect(result.replies).toEqual([
      { kind: "text", value: "hi" },
      { kind: "binary", value: "0,1,2,255" },
    ]);
  }, 30_000);
});
