// Test helper: a TCP proxy (node:net) between a client and a server that injects network faults:
// drop every connection (RST), hold them half-open (nothing forwarded either way, no FIN: a link
// that died silently), and delay data in both directions (order kept).

import net from "node:net";
import type { AddressInfo } from "node:net";

export interface FaultProxy {
  /** The port clients connect to. */
  port: number;
  /** Connections currently forwarded (held ones not counted). */
  readonly size: number;
  /** Cuts every connection with a TCP RST (both sides). */
  drop(): void;
  /** The current connections go silent: their data is swallowed and nothing is closed (as a
   * NAT that forgot them). New connections are forwarded normally. */
  hold(): void;
  /** Adds this many ms of latency to every chunk, each way (0 = none). */
  delay(ms: number): void;
  close(): Promise<void>;
}

interface Pair {
  a: net.Socket;
  b: net.Socket;
  held: boolean;
}

export async function startFaultProxy(targetPort: number, host = "127.0.0.1"): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let latency = 0;

  /** Forwards chunks from one side to the other, late by `latency` but in order, unless held. */
  const pipe = (pair: Pair, from: net.Socket, to: net.Socket): void => {
    let last = 0;
    from.on("data", (chunk: Buffer) => {
      if (pair.held) return;
      if (latency === 0 && last <= Date.now()) {
        to.write(chunk);
        return;
      }
      const at = Math.max(Date.now() + latency, last);
      last = at;
      setTimeout(() => {
        if (!pair.held && !to.destroyed) to.write(chunk);
      }, at - Date.now());
    });
    from.on("end", () => {
      if (!pair.held) to.end();
    });
  };

  const server = net.createServer((a) => {
    a.setNoDelay(true);
    const b = net.connect(targetPort, host);
    b.setNoDelay(true);
    const pair: Pair = { a, b, held: false };
    pairs.add(pair);
    const gone = (): void => {
      if (pair.held) return; // a held link never tells the other side
      a.destroy();
      b.destroy();
      pairs.delete(pair);
    };
    a.on("error", () => {});
    b.on("error", () => {});
    a.on("close", gone);
    b.on("close", gone);
    pipe(pair, a, b);
    pipe(pair, b, a);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));

  return {
    port: (server.address() as AddressInfo).port,
    get size() {
      return [...pairs].filter((p) => !p.held).length;
    },
    drop() {
      for (const p of pairs) {
        p.a.resetAndDestroy();
        p.b.resetAndDestroy();
      }
      pairs.clear();
    },
    hold() {
      for (const p of pairs) p.held = true;
    },
    delay(ms) {
      latency = ms;
    },
    async close() {
      for (const p of pairs) {
        p.a.destroy();
        p.b.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
