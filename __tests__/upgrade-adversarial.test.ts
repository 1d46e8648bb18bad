// Adversarial review of attach() and the factories: the ways real apps, sloppy middleware and
// hostile clients misuse the upgrade path. Real Express apps on loopback ports, raw `net`
// sockets writing HTTP by hand, real `ws` clients.

import net from "node:net";
import express from "express";
import { sockets } from "../lib/sockets";
import {
  closed,
  nextMessages,
  open,
  rawExchange,
  serve,
  upgradeRequest,
  type Served,
} from "./fixtures/upgrade-server";

const quiet = { skipLogging: true } as const;

let served: Served | null = null;
afterEach(async () => {
  await served?.close();
  served = null;
});

describe("middleware that answers and still calls next()", () => {
  it("sends only the middleware's 401, never a 101 after it", async () => {
    const app = express();
    let handlerRan = false;
    app.use((_req, res, next) => {
      res.status(401).send("no");
      next(); // a classic bug: answering and continuing
    });
    app.get("/ws", sockets.messages(quiet), () => {
      handlerRan = true;
    });
    served = await serve(app);
    const res = await rawExchange(served.port, upgradeRequest("/ws"));
    expect(res.status).toBe(401);
    expect(res.raw).not.toContain("101 Switching");
    expect(res.closedByServer).toBe(true);
    expect(handlerRan).toBe(false);
    expect(served.attachment.size).toBe(0);
  });
});
