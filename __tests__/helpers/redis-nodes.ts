// Real Redis for the tests: server processes of a Redis-backed hub (fixtures/redis-node.js on
// dist/), a redis-server of a test's own on a free port (to kill, pause and restart), ws clients
// that record events, and removal of a test's keys by prefix.

import { fork, spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { createClient } from "redis";
import { WebSocket } from "ws";

const FIXTURE = path.join(__dirname, "..", "fixtures", "redis-node.js");

export interface Reply {
  id?: number;
  ok?: boolean;
  value?: unknown;
  error?: { code?: string; message: string };
  port?: number;
  unhandled?: string;
}

/** One server process: Express + attach() + Hub(redisAdapter). */
export class Node {
  readonly unhandled: string[] = [];
  private next = 0;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on("message", (m: Reply) => {
      if (m.unhandled !== undefined) this.unhandled.push(m.unhandled);
      if (m.id !== undefined) this.waiting.get(m.id)?.(m);
    });
  }

  static start(url: string, prefix: string, history = 0, heartbeat = 500): Promise<Node> {
    const child = fork(FIXTURE, [url, prefix, String(history), String(heartbeat)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("redis-node did not start")), 15_000);
      child.once("message", (m: Reply) => {
        clearTimeout(timer);
        resolve(new Node(child, m.port as number));
      });
      child.once("exit", (code) => reject(new Error(`redis-node exited with ${code}`)));
    });
  }

  url(rooms: string[], name = ""): string {
    return `ws://127.0.0.1:${this.port}/room?rooms=${encodeURIComponent(rooms.join(","))}&name=${name}`;
  }

  /** Runs an op in the process; resolves to its reply (ok or error), bounded. */
  call(op: string, args: Record<string, unknown> = {}, timeout = 20_000): Promise<Reply> {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${op} got no answer`)), timeout);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(r);
      });
      this.child.send({ id, op, ...args });
    });
  }

  async value<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const r = await this.call(op, args);
    if (!r.ok) throw new Error(`${op}: ${r.error?.message}`);
    return r.value as T;
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      await this.call("close", {}, 5000);
    } catch {
      // killed below
    }
    this.child.kill("SIGKILL");
  }
}

export interface Event {
  event: string;
  data: unknown;
}

/** A ws client of the /room route that records events. */
export class Member {
  readonly events: Event[] = [];
  closeCode: number | null = null;
  id = "";
  private constructor(readonly ws: WebSocket) {}

  static open(url: string): Promise<Member> {
    const ws = new WebSocket(url);
    const m = new Member(ws);
    ws.on("message", (d) => {
      const e = JSON.parse(String(d)) as Event;
      m.events.push(e);
    });
    ws.on("close", (code) => (m.closeCode = code));
    ws.on("error", () => {});
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("member did not join")), 15_000);
      const check = (d: unknown) => {
        const e = JSON.parse(String(d)) as Event;
        if (e.event === "ready") {
          clearTimeout(timer);
          ws.off("message", check);
          m.id = (e.data as { id: string }).id;
          resolve(m);
        } else if (e.event === "joinFailed") {
          clearTimeout(timer);
          reject(new Error(JSON.stringify(e.data)));
        }
      };
      ws.on("message", check);
    });
  }

  named(event: string): Event[] {
    return this.events.filter((e) => e.event === event);
  }

  close(): void {
    this.ws.close();
  }
}

/** Polling wait (the client tests' own), for the Redis tests that import it from here. */
export { until } from "./client-utils";

/** A free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A redis-server of a test's own, without persistence, that the test may kill or pause. */
export class OwnRedis {
  child: ChildProcess | null = null;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<OwnRedis> {
    const r = new OwnRedis(await freePort());
    await r.start();
    return r;
  }

  async start(): Promise<void> {
    this.child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    const end = Date.now() + 10_000;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(this.port, "127.0.0.1", () => {
          s.end();
          resolve(true);
        });
        s.on("error", () => resolve(false));
      });
      if (ok) return;
      if (Date.now() > end) throw new Error("redis-server did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async kill(): Promise<void> {
    const c = this.child;
    if (c === null || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await exited;
    this.child = null;
  }

  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  resume(): void {
    this.child?.kill("SIGCONT");
  }
}

/** Deletes every key under `prefix` on the Redis at `url`. */
export async function removeKeys(url: string, prefix: string): Promise<number> {
  const c = createClient({ url });
  c.on("error", () => {});
  await c.connect();
  let n = 0;
  for await (const keys of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
    const list = ([] as string[]).concat(keys as string | string[]);
    if (list.length > 0) n += await c.del(list);
  }
  await c.quit();
  return n;
}

/** Keys under `prefix`. */
export async function keysOf(url: string, prefix: string): Promise<string[]> {
  const c = createClient({ url });
  c.on("error", () => {});
  await c.connect();
  const out: string[] = [];
  for await (const keys of c.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
    out.push(...([] as string[]).concat(keys as string | string[]));
  }
  await c.quit();
  return out;
}
