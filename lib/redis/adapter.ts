// The Redis adapter: every process with a Hub on the same Redis and prefix acts as one hub.
//
// Keys and channels, all under `prefix` (default "es"):
//   <p>:m:<room>      hash {e: epoch, s: last sequence}        rooms with history; expires metaTtl
//   <p>:h:<room>      stream of kept messages (o, a, b)       trimmed by size and age; expires ttl
//   <p>:procs         sorted set: live process id -> expiry   the heartbeat entries
//   channel <p>:r:<room>   a room's publications (only processes with members subscribe)
//   channel <p>:all        publications to every socket, and to targets nobody subscribed to
//                          (socket ids: a socket's own room is never subscribed)
//   channel <p>:q          registry requests (every process)
//   channel <p>:a:<id>     answers to one process's requests, and its reconnect probe
//
// Publishing: one Lua script per publication (scripts.ts) assigns positions, keeps the message
// and PUBLISHes it; every process, this one too, delivers it when it comes back on the
// subscriber connection, so every process delivers a room's messages in sequence order. The
// publisher's `publish()` resolves with its own delivery counts when its copy arrives (or at
// once when no copy will come: no member here).
//
// Faults: while Redis does not answer (a command outlasts `timeout`, or the client reports an
// error), publications are delivered here only, without positions, and cross-process calls
// reject with ERR_HUB_ADAPTER / ERR_HUB_TIMEOUT; one warning per outage. When the subscriber
// connection is back, every room is subscribed again and the subscription count verified on
// the server (CLIENT LIST), then every room with history and members here is checked for a gap
// (its last position delivered here against Redis's, after a probe flushed what was in flight):
// members of a room with a gap are closed with 1013, so their clients resume.
//
// Bounds: publications waiting for their copy, registry requests and the "given up" list are
// capped (maxPending); the per-room state exists only for subscribed rooms.

import { randomBytes } from "node:crypto";
import { createLog, type Log, type LoggerLike, type LogLevel } from "../core/logger";
import { checkCount, checkTime } from "../core/options";
import {
  HubError,
  type Adapter,
  type AdapterCallOptions,
  type AdapterHost,
  type DeliveryResult,
  type KeptMessage,
  type Position,
  type Publication,
  type Recovery,
  type Selector,
  type SocketInfo,
} from "../hub";
import { closeClient, type RedisClientLike, type RedisListener } from "./client";
import { HEAD, HEARTBEAT, PUBLISH, type Script } from "./scripts";
import { decodeBody, decodePositions, decodeMessage, encodeBody } from "./wire";

/** Options of `redisAdapter()`. */
export interface RedisAdapterOptions {
  /** A node-redis client (`createClient()` from `redis`); connected by the adapter if not open. */
  client: RedisClientLike;
  /** Prefix of every key and channel: hubs sharing Redis and prefix are one hub. Default `"es"`. */
  prefix?: string;
  /** Milliseconds a Redis command may take before Redis counts as away. Defaults to `5000`. */
  timeout?: number;
  /** Milliseconds between heartbeats. Defaults to `2000`. */
  heartbeat?: number;
  /** Milliseconds after its last heartbeat a process counts as gone. Defaults to `3 * heartbeat`. */
  heartbeatTtl?: number;
  /** Milliseconds a room's epoch and sequence outlive its last message. Defaults to one day. */
  metaTtl?: number;
  /** Messages read per Redis call when replaying. Defaults to `100`. */
  recoverBatch?: number;
  /** Most messages one recovery replays; a client further behind is not recovered. Defaults to `10000`. */
  recoverCap?: number;
  /** Publications and requests waiting at once; past it publications are delivered here only. Defaults to `10000`. */
  maxPending?: number;
  logger?: LoggerLike;
  logLevel?: LogLevel;
  skipLogging?: boolean;
}

const REDIS = "redis";
const ZERO: DeliveryResult = Object.freeze({ delivered: 0, closed: 0, dropped: 0, failed: 0 });
const NOT_RECOVERED: Recovery = Object.freeze({ recovered: false, position: null });
/** A socket's id (randomUUID): such a target gets no position (it is not a named room). */
const SOCKET_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Op = "count" | "fetch" | "disconnect" | "addRooms" | "removeRooms";

interface Request {
  readonly id: string;
  readonly op: Op;
  readonly s: Selector;
  readonly c?: number;
  readonly rm?: readonly string[];
  /** Requester. */
  readonly f: string;
}

interface PendingPublish {
  readonly publication: Publication;
  resolve(result: DeliveryResult): void;
  timer: NodeJS.Timeout | null;
}

interface PendingRequest {
  readonly answers: unknown[];
  readonly from: Set<string>;
  expected: number;
  finish(): void;
}

/** The last position of a room delivered here (the gap check compares it with Redis's). */
interface RoomState {
  epoch: string | null;
  offset: number;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A Hub adapter over Redis. See README "Across processes: Redis". */
export class RedisAdapter implements Adapter {
  /** This process's id in the registry. */
  readonly id = randomBytes(9).toString("base64url");
  private readonly client: RedisClientLike;
  private readonly sub: RedisClientLike;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly timeout: number;
  private readonly heartbeatEvery: number;
  private readonly heartbeatTtl: number;
  private readonly metaTtl: number;
  private readonly batch: number;
  private readonly cap: number;
  private readonly maxPending: number;
  private readonly log: Log;
  private readonly chAll: string;
  private readonly chReq: string;
  private readonly chAnswer: string;
  private readonly procsKey: string;
  private host: AdapterHost | null = null;
  private readonly rooms = new Map<string, RoomState>();
  private readonly pending = new Map<number, PendingPublish>();
  /** Publication numbers delivered here without their copy: the copy is skipped if it comes. */
  private readonly givenUp = new Set<number>();
  private readonly requests = new Map<string, PendingRequest>();
  private readonly probes = new Map<string, () => void>();
  private counter = 0;
  private epochs = 0;
  /** Body + number of the last publication delivered (a message to two rooms comes twice). */
  private lastOrigin = "";
  private lastNumber = -1;
  private started: Promise<void> | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatBusy = false;
  private closed = false;
  /** Redis is away (since the first failure); one warning per outage. */
  private away = false;
  /** The subscriber lost its connection: resubscribe and check for gaps once it is back. */
  private subLost = false;
  private checking: Promise<void> | null = null;
  private readonly listener: RedisListener = (message, channel) => this.onMessage(message, channel);
  private readonly onClientError = (err: unknown) => this.down(`client: ${errorText(err)}`);
  private readonly onSubError = (err: unknown) => {
    this.subLost = true;
    this.down(`subscriber: ${errorText(err)}`);
  };
  private readonly onSubEnd = () => {
    this.subLost = true;
  };
  private readonly onSubReady = () => {
    if (this.subLost && !this.closed) void this.afterReconnect();
  };
  private readonly onClientReady = () => {
    // A restarted Redis lost the live-process set: be in it again at once, not at the next beat.
    if (this.heartbeatTimer !== null) void this.beat();
    else if (this.away && !this.subLost) this.up();
  };

  constructor(options: RedisAdapterOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("redisAdapter(options): options must be an object");
    }
    const client = options.client;
    for (const m of ["duplicate", "sendCommand", "subscribe", "connect", "on"] as const) {
      if (typeof client !== "object" || client === null || typeof client[m] !== "function") {
        throw new TypeError(
          `redisAdapter: options.client must be a node-redis client (createClient() from "redis"): ${m}() is missing`,
        );
      }
    }
    const prefix = options.prefix ?? "es";
    if (typeof prefix !== "string" || prefix.length === 0 || prefix.length > 200) {
      throw new TypeError("redisAdapter: options.prefix must be a string of 1 to 200 characters");
    }
    this.client = client;
    this.prefix = prefix;
    this.timeout = checkTime("timeout", options.timeout, 5000);
    this.heartbeatEvery = checkTime("heartbeat", options.heartbeat, 2000);
    this.heartbeatTtl = checkTime("heartbeatTtl", options.heartbeatTtl, this.heartbeatEvery * 3);
    if (this.heartbeatTtl <= this.heartbeatEvery) {
      throw new RangeError("redisAdapter: options.heartbeatTtl must be longer than heartbeat");
    }
    this.metaTtl = checkTime("metaTtl", options.metaTtl, 86_400_000);
    this.batch = Math.max(1, checkCount("recoverBatch", options.recoverBatch, 100));
    this.cap = checkCount("recoverCap", options.recoverCap, 10_000);
    this.maxPending = Math.max(1, checkCount("maxPending", options.maxPending, 10_000));
    this.log = createLog(options);
    this.chAll = `${prefix}:all`;
    this.chReq = `${prefix}:q`;
    this.chAnswer = `${prefix}:a:${this.id}`;
    this.procsKey = `${prefix}:procs`;
    this.ownsClient = !client.isOpen;
    this.sub = client.duplicate({ name: this.subName() });
  }

  private subName(): string {
    // CLIENT SETNAME takes no spaces; the name identifies our subscriber in CLIENT LIST.
    return `es-sub-${this.id}`;
  }

  // ---------------------------------------------------------------- lifecycle

  bind(host: AdapterHost): void {
    if (this.host !== null) {
      throw new Error("this adapter already serves a Hub: give each Hub its own");
    }
    this.host = host;
    this.client.on("error", this.onClientError);
    this.client.on("ready", this.onClientReady);
    this.sub.on("error", this.onSubError);
    this.sub.on("end", this.onSubEnd);
    this.sub.on("ready", this.onSubReady);
    this.started = this.start();
    this.started.catch((err: unknown) => this.down(`could not start: ${errorText(err)}`));
  }

  private async start(): Promise<void> {
    if (!this.client.isOpen) await this.client.connect();
    await this.sub.connect();
    await this.sub.subscribe([this.chAll, this.chReq, this.chAnswer], this.listener);
    await this.beat();
    this.heartbeatTimer = setInterval(() => void this.beat(), this.heartbeatEvery);
    this.heartbeatTimer.unref();
  }

  /** Waits for the start, bounded by `timeout`; rejects when Redis could not be reached. */
  private ready(): Promise<void> {
    if (this.started === null)
      return Promise.reject(new Error("adapter used before a Hub bound it"));
    return this.bounded(this.started, "connect");
  }

  private get local(): AdapterHost {
    if (this.host === null) throw new Error("adapter used before a Hub bound it");
    return this.host;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    for (const [n, p] of this.pending) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.resolve(ZERO);
      this.pending.delete(n);
    }
    for (const r of this.requests.values()) r.finish();
    for (const resolve of this.probes.values()) resolve();
    this.probes.clear();
    this.givenUp.clear();
    this.rooms.clear();
    if (this.started !== null) {
      try {
        await this.ready();
        await this.command(
          ["EVALSHA", HEARTBEAT.sha, "1", this.procsKey, this.id, "1", "0"],
          HEARTBEAT,
        );
      } catch {
        // Redis away: our entry expires with its ttl.
      }
    }
    this.client.off("error", this.onClientError);
    this.client.off("ready", this.onClientReady);
    try {
      if (this.sub.isReady) await this.bounded(this.sub.unsubscribe(), "unsubscribe");
    } catch {
      // closing anyway
    }
    closeClient(this.sub);
    this.sub.off("error", this.onSubError);
    this.sub.off("end", this.onSubEnd);
    this.sub.off("ready", this.onSubReady);
    // node-redis emits 'error' while it dies; keep a listener so nothing is unhandled.
    this.sub.on("error", () => {});
    if (this.ownsClient) {
      this.client.on("error", () => {});
      closeClient(this.client);
    }
  }

  // ---------------------------------------------------------------- Redis calls

  /** `p`, rejected after `timeout` ms (the command itself may still run later). */
  private bounded<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new HubError(
            "ERR_HUB_ADAPTER",
            `Redis did not answer ${what} within ${this.timeout} ms (is it reachable?)`,
          ),
        );
      }, this.timeout);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(
            err instanceof HubError
              ? err
              : new HubError("ERR_HUB_ADAPTER", `Redis ${what} failed: ${errorText(err)}`, {
                  cause: err,
                }),
          );
        },
      );
    });
  }

  /** One command, bounded; EVALSHA falls back to EVAL when Redis does not know the script. */
  private async command(args: string[], script?: Script): Promise<unknown> {
    if (!this.client.isReady) {
      throw new HubError("ERR_HUB_ADAPTER", "Redis is not connected");
    }
    try {
      return await this.bounded(this.client.sendCommand(args), args[0]!);
    } catch (err) {
      if (script !== undefined && /NOSCRIPT/.test(errorText(err))) {
        return this.bounded(
          this.client.sendCommand(["EVAL", script.text, ...args.slice(2)]),
          "EVAL",
        );
      }
      throw err;
    }
  }

  private newEpoch(): string {
    return `${this.id}${(++this.epochs).toString(36)}`;
  }

  private down(why: string): void {
    if (this.closed) return;
    if (!this.away) {
      this.away = true;
      this.log.warning(
        REDIS,
        `Redis is away (${why}): publications reach this process only, cross-process calls fail until it is back`,
      );
    }
  }

  private up(): void {
    if (!this.away || this.closed) return;
    this.away = false;
    this.log.info(REDIS, "Redis is back");
  }

  private async beat(): Promise<void> {
    if (this.heartbeatBusy || this.closed) return;
    this.heartbeatBusy = true;
    try {
      await this.command(
        ["EVALSHA", HEARTBEAT.sha, "1", this.procsKey, this.id, String(this.heartbeatTtl), "1"],
        HEARTBEAT,
      );
      if (this.away && !this.subLost) this.up();
    } catch (err) {
      this.down(errorText(err));
    } finally {
      this.heartbeatBusy = false;
    }
  }

  // ---------------------------------------------------------------- publishing

  private roomChannel(room: string): string {
    return `${this.prefix}:r:${room}`;
  }

  async publish(publication: Publication): Promise<DeliveryResult> {
    const host = this.local;
    if (this.closed) return host.deliver(publication, null);
    const n = ++this.counter;
    const body = encodeBody(this.id, n, publication); // throws TypeError for what cannot cross
    // Only the publishing connection decides: with the subscriber away (killed, reconnecting)
    // the client still reaches Redis, and a publication kept from Redis then would be lost for
    // every other process. Our own copy comes back when the subscriber does, or is delivered
    // here after `timeout`; the gap check after the reconnect resumes members if needed.
    if (!this.client.isReady || this.pending.size >= this.maxPending) {
      if (!this.away)
        this.down(
          this.client.isReady ? `${this.maxPending} publications waiting` : "not connected",
        );
      return host.deliver(publication, null);
    }
    const history = host.history;
    const rooms = publication.rooms === null ? null : [...new Set(publication.rooms)];
    const kept = history === null || rooms === null ? [] : rooms.filter((r) => !SOCKET_ID.test(r));
    const keys: string[] = [];
    for (const r of kept) keys.push(`${this.prefix}:m:${r}`, `${this.prefix}:h:${r}`);
    const args = [
      "EVALSHA",
      PUBLISH.sha,
      String(keys.length),
      ...keys,
      body,
      String(history?.size ?? 0),
      String(history?.ttl ?? 0),
      String(this.metaTtl),
      this.newEpoch(),
      this.chAll,
      ...kept,
      ...(rooms === null ? [] : rooms.map((r) => this.roomChannel(r))),
    ];
    const heardHere = rooms === null || rooms.some((r) => this.rooms.has(r));
    return new Promise<DeliveryResult>((resolve) => {
      const entry: PendingPublish = { publication, resolve, timer: null };
      this.pending.set(n, entry);
      this.command(args, PUBLISH).then(
        (reply) => {
          if (!this.pending.has(n)) return; // our copy came first
          const [pos, common] = reply as [string, number | string];
          if (!heardHere && Number(common) !== 1) {
            this.pending.delete(n);
            this.givenUp.add(n);
            this.trimGivenUp();
            resolve(ZERO);
            return;
          }
          // Our copy is on its way on the subscriber: wait for it, bounded.
          entry.timer = setTimeout(() => {
            if (this.pending.get(n) !== entry) return;
            this.pending.delete(n);
            this.givenUp.add(n);
            this.trimGivenUp();
            this.down("a publication did not come back on the subscriber");
            resolve(host.deliver(publication, decodePositions(pos)));
          }, this.timeout);
          entry.timer.unref?.();
        },
        (err: unknown) => {
          if (this.pending.get(n) !== entry) return;
          this.pending.delete(n);
          this.givenUp.add(n);
          this.trimGivenUp();
          this.down(errorText(err));
          resolve(host.deliver(publication, null));
        },
      );
    });
  }

  private trimGivenUp(): void {
    while (this.givenUp.size > this.maxPending) {
      const first = this.givenUp.values().next().value as number;
      this.givenUp.delete(first);
    }
  }

  private onMessage(message: string, channel: string): void {
    if (this.closed) return;
    try {
      if (channel === this.chReq) this.onRequest(message);
      else if (channel === this.chAnswer) this.onAnswer(message);
      else this.onPublication(message);
    } catch (err) {
      this.log.warning(REDIS, `dropped a malformed message on ${channel}: ${errorText(err)}`);
    }
  }

  private onPublication(message: string): void {
    const w = decodeMessage(message);
    if (w.origin === this.lastOrigin && w.number === this.lastNumber) return; // second copy
    this.lastOrigin = w.origin;
    this.lastNumber = w.number;
    if (w.positions !== null) {
      for (const [room, p] of w.positions) {
        const state = this.rooms.get(room);
        if (state !== undefined) {
          state.epoch = p.epoch;
          state.offset = p.offset;
        }
      }
    }
    const host = this.local;
    if (w.origin === this.id) {
      const entry = this.pending.get(w.number);
      if (entry !== undefined) {
        this.pending.delete(w.number);
        if (entry.timer !== null) clearTimeout(entry.timer);
        entry.resolve(host.deliver(entry.publication, w.positions));
        return;
      }
      if (this.givenUp.delete(w.number)) return; // delivered here already
    }
    host.deliver(w.publication, w.positions);
  }

  // ---------------------------------------------------------------- rooms

  async subscribe(room: string): Promise<void> {
    if (this.rooms.has(room)) return;
    const state: RoomState = { epoch: null, offset: 0 };
    this.rooms.set(room, state);
    if (this.closed || this.away) return; // subscribed (and checked) when Redis is back
    await this.ready();
    await this.bounded(this.sub.subscribe(this.roomChannel(room), this.listener), "SUBSCRIBE");
    if (this.local.history !== null && !SOCKET_ID.test(room) && this.rooms.get(room) === state) {
      const head = await this.head(room);
      // Messages that came while the head was read are newer: keep the newest.
      if (state.epoch === null) {
        state.epoch = head.epoch;
        state.offset = Math.max(state.offset, head.offset);
      }
    }
  }

  async unsubscribe(room: string): Promise<void> {
    if (!this.rooms.delete(room)) return;
    if (this.closed || this.away || !this.sub.isReady) return;
    await this.bounded(this.sub.unsubscribe(this.roomChannel(room), this.listener), "UNSUBSCRIBE");
  }

  private async head(room: string): Promise<Position & { now: number }> {
    const reply = (await this.command(
      ["EVALSHA", HEAD.sha, "1", `${this.prefix}:m:${room}`, this.newEpoch(), String(this.metaTtl)],
      HEAD,
    )) as [string, string, string];
    return { epoch: reply[0], offset: Number(reply[1]), now: Number(reply[2]) };
  }

  /** After the subscriber reconnected: resubscribe, verify on the server, check for gaps. */
  private afterReconnect(): Promise<void> {
    if (this.checking !== null) return this.checking;
    this.checking = this.recheck()
      .then(
        () => {
          this.subLost = false;
          this.up();
        },
        (err: unknown) => {
          this.down(`could not resubscribe: ${errorText(err)}`);
          if (this.sub.isReady && !this.closed) {
            const t = setTimeout(() => void this.afterReconnect(), this.heartbeatEvery);
            t.unref();
          }
        },
      )
      .finally(() => {
        this.checking = null;
      });
    return this.checking;
  }

  private async recheck(): Promise<void> {
    const channels = [this.chAll, this.chReq, this.chAnswer];
    for (const room of this.rooms.keys()) channels.push(this.roomChannel(room));
    // The client may or may not have resubscribed by itself: ask it, then verify on the server.
    await this.bounded(this.sub.subscribe(channels, this.listener), "SUBSCRIBE");
    let held: number;
    try {
      held = await this.subscriptionCount();
    } catch (err) {
      // CLIENT LIST may be refused (ACLs, managed Redis): subscribe again from scratch instead.
      this.log.debug(REDIS, `cannot verify subscriptions (${errorText(err)}): subscribing again`);
      held = -1;
    }
    if (held < channels.length) {
      if (held >= 0) {
        this.log.warning(REDIS, "the subscriber lost its subscriptions: subscribing again");
      }
      await this.bounded(this.sub.unsubscribe(), "UNSUBSCRIBE");
      await this.bounded(this.sub.subscribe(channels, this.listener), "SUBSCRIBE");
      if (held >= 0) {
        const n = await this.subscriptionCount();
        if (n < channels.length) {
          throw new Error(`subscribed to ${n} of ${channels.length} channels`);
        }
      }
    }
    const host = this.local;
    if (host.history === null) return;
    const rooms = [...host.rooms()].filter((r) => this.rooms.has(r) && !SOCKET_ID.test(r));
    const heads = await Promise.all(rooms.map((r) => this.head(r)));
    await this.probe(); // everything published before the heads were read has been delivered
    let gaps = 0;
    rooms.forEach((room, i) => {
      const state = this.rooms.get(room);
      const head = heads[i]!;
      if (state === undefined) return;
      const gap =
        (state.epoch !== null && state.epoch !== head.epoch) || head.offset > state.offset;
      state.epoch = head.epoch;
      state.offset = Math.max(state.offset, head.offset);
      if (gap) {
        gaps++;
        host.disconnect({ rooms: [room], except: [] }, 1013);
      }
    });
    this.log.info(
      REDIS,
      `resubscribed after a lost connection; ${rooms.length} room(s) checked, ${gaps} with a gap (members closed with 1013 to resume)`,
    );
  }

  /** How many channels our subscriber connection holds, as Redis sees it. */
  private async subscriptionCount(): Promise<number> {
    const list = String(await this.command(["CLIENT", "LIST", "TYPE", "pubsub"]));
    const name = `name=${this.subName()} `;
    for (const line of list.split("\n")) {
      if (line.includes(name)) {
        const m = / sub=(\d+)/.exec(line);
        return m === null ? 0 : Number(m[1]);
      }
    }
    return 0;
  }

  /** Publishes a probe to our own channel and waits for it on the subscriber. */
  private probe(): Promise<void> {
    const token = `probe:${randomBytes(6).toString("hex")}`;
    const arrived = new Promise<void>((resolve) => this.probes.set(token, resolve));
    return this.bounded(
      this.command(["PUBLISH", this.chAnswer, token]).then(() => arrived),
      "probe",
    ).finally(() => this.probes.delete(token));
  }

  // ---------------------------------------------------------------- recovery

  async recover(room: string, since: Position): Promise<Recovery> {
    const history = this.local.history;
    if (history === null) return NOT_RECOVERED;
    try {
      await this.ready();
      return await this.read(room, since, history.ttl);
    } catch (err) {
      this.down(errorText(err));
      return NOT_RECOVERED;
    }
  }

  private async read(room: string, since: Position, ttl: number): Promise<Recovery> {
    const head = await this.head(room);
    const position: Position = { epoch: head.epoch, offset: head.offset };
    const no: Recovery = { recovered: false, position };
    if (since.epoch !== head.epoch || since.offset > head.offset || since.offset < 0) return no;
    const missing = head.offset - since.offset;
    if (missing === 0) return { recovered: true, messages: [], position };
    if (missing > this.cap) return no;
    const stream = `${this.prefix}:h:${room}`;
    const out: KeptMessage[] = [];
    let end = "+";
    let next = head.offset; // the offset we need next, going backwards
    const oldest = head.now - ttl;
    for (let calls = 0; next > since.offset; calls++) {
      if (calls > Math.ceil(this.cap / this.batch) + 2) return no;
      const count = Math.min(this.batch, next - since.offset + 8);
      const entries = (await this.command([
        "XREVRANGE",
        stream,
        end,
        "-",
        "COUNT",
        String(count),
      ])) as [string, string[]][];
      if (entries.length === 0) return no; // trimmed, expired or lost
      for (const [id, fields] of entries) {
        end = `(${id}`;
        const f = new Map<string, string>();
        for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
        const offset = Number(f.get("o"));
        if (offset > head.offset) continue; // published after the head was read: comes live
        if (offset !== next) return no; // a hole: never a partial replay
        if (Number(id.slice(0, id.indexOf("-"))) < oldest) return no; // older than ttl
        const w = decodeBody(f.get("b") ?? "", decodePositions(f.get("a") ?? ""));
        out.push({ publication: w.publication, positions: w.positions ?? new Map() });
        next--;
        if (next === since.offset) break;
      }
    }
    out.reverse();
    return { recovered: true, messages: out, position };
  }

  // ---------------------------------------------------------------- registry

  count(selector: Selector, options: AdapterCallOptions): Promise<number> {
    return this.ask<number>({ op: "count", s: selector }, options, (local, others) =>
      others.reduce<number>((a, b) => a + Number(b), local),
    );
  }

  fetch(selector: Selector, options: AdapterCallOptions): Promise<SocketInfo[]> {
    return this.ask<SocketInfo[]>({ op: "fetch", s: selector }, options, (local, others) => {
      const all = [...local];
      for (const list of others) all.push(...(list as SocketInfo[]));
      return all;
    });
  }

  disconnect(selector: Selector, code: number, options: AdapterCallOptions): Promise<number> {
    return this.ask<number>({ op: "disconnect", s: selector, c: code }, options, (l, o) =>
      o.reduce<number>((a, b) => a + Number(b), l),
    );
  }

  addRooms(
    selector: Selector,
    rooms: readonly string[],
    options: AdapterCallOptions,
  ): Promise<number> {
    return this.ask<number>({ op: "addRooms", s: selector, rm: rooms }, options, (l, o) =>
      o.reduce<number>((a, b) => a + Number(b), l),
    );
  }

  removeRooms(
    selector: Selector,
    rooms: readonly string[],
    options: AdapterCallOptions,
  ): Promise<number> {
    return this.ask<number>({ op: "removeRooms", s: selector, rm: rooms }, options, (l, o) =>
      o.reduce<number>((a, b) => a + Number(b), l),
    );
  }

  /** This process's answer to a request (from `host`). */
  private async answer(r: Omit<Request, "id" | "f">): Promise<unknown> {
    const host = this.local;
    switch (r.op) {
      case "count":
        return host.count(r.s);
      case "fetch":
        return host.fetch(r.s);
      case "disconnect":
        return host.disconnect(r.s, r.c ?? 1000);
      case "addRooms":
        return host.addRooms(r.s, r.rm ?? []);
      case "removeRooms":
        return host.removeRooms(r.s, r.rm ?? []);
    }
  }

  /**
   * Asks every other live process, and this one. Waits for one answer from each live process
   * (heartbeat entries, and no more than the subscribers the request reached), bounded by
   * `options.timeout`: past it, rejects with ERR_HUB_TIMEOUT.
   */
  private async ask<T>(
    req: Omit<Request, "id" | "f">,
    options: AdapterCallOptions,
    merge: (local: T, others: unknown[]) => T,
  ): Promise<T> {
    if (this.closed) throw new HubError("ERR_HUB_CLOSED", `hub.${req.op}: the adapter is closed`);
    if (this.away) {
      throw new HubError(
        "ERR_HUB_ADAPTER",
        `hub.${req.op}: Redis is away; other processes cannot be reached`,
      );
    }
    if (this.requests.size >= this.maxPending) {
      throw new HubError(
        "ERR_HUB_ADAPTER",
        `hub.${req.op}: ${this.maxPending} requests already waiting`,
      );
    }
    const deadline = Date.now() + options.timeout;
    const id = randomBytes(9).toString("base64url");
    const state: PendingRequest = {
      answers: [],
      from: new Set(),
      expected: Infinity,
      finish: () => {},
    };
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new HubError(
            "ERR_HUB_TIMEOUT",
            `hub.${req.op}: ${state.from.size} of ${state.expected === Infinity ? "?" : state.expected} other process(es) answered within ${options.timeout} ms`,
          ),
        );
      }, options.timeout);
      state.finish = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.requests.set(id, state);
    done.catch(() => {}); // observed below; never unhandled
    try {
      const local = this.answer(req) as Promise<T>;
      local.catch(() => {});
      const within = <V>(p: Promise<V>): Promise<V> => Promise.race([p, done.then(() => p)]);
      const live = (await within(
        this.command(
          ["EVALSHA", HEARTBEAT.sha, "1", this.procsKey, this.id, String(this.heartbeatTtl), "1"],
          HEARTBEAT,
        ),
      )) as string[];
      const others = live.filter((p) => p !== this.id).length;
      const message = JSON.stringify({ ...req, id, f: this.id } satisfies Request);
      const reached = Number(await within(this.command(["PUBLISH", this.chReq, message])));
      // `reached` counts subscribers, ours included: a dead process is not waited on.
      state.expected = Math.min(others, Math.max(0, reached - 1));
      if (state.from.size >= state.expected) state.finish();
      await done;
      return merge(await local, state.answers);
    } catch (err) {
      if (err instanceof HubError) {
        if (err.code === "ERR_HUB_ADAPTER") this.down(err.message);
        if (Date.now() >= deadline && err.code !== "ERR_HUB_TIMEOUT") {
          throw new HubError("ERR_HUB_TIMEOUT", `hub.${req.op}: ${err.message}`, { cause: err });
        }
        throw err;
      }
      throw new HubError("ERR_HUB_ADAPTER", `hub.${req.op}: ${errorText(err)}`, { cause: err });
    } finally {
      this.requests.delete(id);
    }
  }

  private onRequest(message: string): void {
    const r = JSON.parse(message) as Request;
    if (r.f === this.id) return;
    this.answer(r)
      .then((value) => {
        let v = value;
        if (r.op === "fetch") {
          v = (value as SocketInfo[]).map((s) => ({
            id: s.id,
            rooms: s.rooms,
            data: plain(s.data),
          }));
        }
        return this.command([
          "PUBLISH",
          `${this.prefix}:a:${r.f}`,
          JSON.stringify({ i: r.id, f: this.id, v }),
        ]);
      })
      .catch((err: unknown) => {
        this.log.warning(REDIS, `could not answer a ${r.op} request: ${errorText(err)}`);
      });
  }

  private onAnswer(message: string): void {
    if (message.startsWith("probe:")) {
      this.probes.get(message)?.();
      return;
    }
    const a = JSON.parse(message) as { i: string; f: string; v: unknown };
    const state = this.requests.get(a.i);
    if (state === undefined || state.from.has(a.f)) return;
    state.from.add(a.f);
    state.answers.push(a.v);
    if (state.from.size >= state.expected) state.finish();
  }
}

/** `socket.data` as JSON can carry it (a copy); `{}` when it cannot. */
function plain(data: unknown): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(data ?? {})) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** A Hub adapter over Redis (node-redis): `new Hub({ adapter: redisAdapter({ client }) })`. */
export function redisAdapter(options: RedisAdapterOptions): RedisAdapter {
  return new RedisAdapter(options);
}
