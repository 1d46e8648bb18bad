// The Hub: rooms and a registry over any sockets of this package (json, messages, bytes, events,
// sse), and delivery of one message to many of them, each in its own encoding.
//
// State, all of it for this process's sockets only (other processes are the adapter's):
//   members  Map<Socket, Member>      every socket that joined (its own id room is implicit)
//   byId     Map<id, Member>          the rooms named by socket ids
//   rooms    Map<name, Room>          named rooms with at least one member here
// A member's named rooms are also on the member (see member.ts). A room exists while it has
// members: the last one leaving deletes it (and tells the adapter). A socket that closes is
// removed from all three at once, synchronously, from inside its close (the socket tells the
// hub through WATCH_CLOSE, with no promise or closure per socket): nothing about it stays.
//
// Limits (documented in the README): a socket may be in at most `maxRoomsPerSocket` named rooms
// (default 1024; a join past it rejects with ERR_HUB_TOO_MANY_ROOMS and joins none of them); a
// room name is 1 to `maxRoomNameLength` (default 256) UTF-16 units; an event name is 1 to 256
// units, does not start with `$` (reserved for the package's own control messages) and holds no
// CR, LF or NUL (it must fit an SSE `event:` line). So a hub holds at most
// sockets x maxRoomsPerSocket memberships, and forgets a socket the moment it closes.
//
// Delivery: one pass over the targeted rooms. Exclusions are marked first with the delivery's
// stamp, then each member of each targeted room not yet stamped is stamped and written to: one
// copy per socket however many targeted rooms it is in, and no allocation per member. Each
// write is `broadcast()`'s: a frame offered without waiting; a socket too far behind misses it
// (counted in `dropped`, logged rate-limited). See member.ts for the encoding once per encoding.
//
// Recovery (API.md section 6, RECOVERY-PROTOCOL.md), with `history` (or a `secret`):
// - Sessions. The first join of an events socket verifies the token it presented
//   (`socket.resume.token`, session.ts); a genuine, unexpired one whose id no live socket of this
//   hub holds gives the socket that id (`adoptId`, before it is registered or sent anything).
//   Then `$session` {id, token} is sent, before any `$joined`.
// - Joining a room with history: the member is put in the room at once (so nothing published
//   from now on can pass it by) but everything delivered to it is *held* (Member.held) while
//   the join asks the adapter to `recover` each new room. Then, in order: per room `$joined`
//   {room, epoch, seq, recovered} and, when recovered, its missed messages (each skipped when
//   its `except` names the session id or one of the socket's rooms), written with backpressure
//   (waiting for room, never dropped); then the held deliveries, less those the `$joined`
//   positions already cover (replayed, or from before the join point). No interleaving, no
//   duplicates. More than MAX_HELD held deliveries: the socket is closed with 1013 to resume.
// - A member too slow to take a message that carries positions is closed with 1013 (it resumes
//   and recovers): a room with history never has holes. Without positions, the backlog rule.

import { createLog, type Log, type LoggerLike, type LogLevel } from "../core/logger";
import { checkCount, checkTime } from "../core/options";
import {
  isWatchable,
  UNWATCH_CLOSE,
  WATCH_CLOSE,
  type CloseWatcher,
  type Socket,
} from "../core/socket";
import { EventsConnection } from "../events/connection";
import { frameOf } from "../websocket/broadcast";
import type { Frame, Sender } from "../websocket/connection";
import type {
  Adapter,
  AdapterHost,
  DeliveryResult,
  HistoryOptions,
  HubMessage,
  KeptMessage,
  Position,
  Publication,
  Recovery,
  Selector,
  SocketInfo,
} from "./adapter";
import { HubError } from "./errors";
import { checkHistory } from "./history";
import { LocalAdapter } from "./local-adapter";
import { Encoded, Held, Member, SSE, WEBSOCKET } from "./member";
import { checkSecret, Sessions } from "./session";
import { Target, type EventMap, type RoomRef } from "./target";

/** Options of `new Hub()`. Every field is optional. */
export interface HubOptions {
  /** How the hub reaches other processes. Defaults to a new in-process `LocalAdapter`. */
  adapter?: Adapter;
  /** Named rooms one socket may be in (its own id room not counted). Defaults to `1024`. */
  maxRoomsPerSocket?: number;
  /** Longest room name, in UTF-16 code units. Defaults to `256`. */
  maxRoomNameLength?: number;
  /** Milliseconds `count`, `fetch` and `disconnect` wait for other processes. Defaults to `5000`. */
  timeout?: number;
  /**
   * Keep, per room, the last `size` messages (at most 100,000) for `ttl` ms (at most a day),
   * and replay what a returning client missed (API.md section 6). Defaults to `null` (none).
   */
  history?: HistoryOptions | null;
  /**
   * Signs session tokens (HMAC-SHA256), at least 16 bytes; every process of an adapter needs
   * the same one. Defaults to a random secret made by the hub (enough for one process).
   */
  secret?: string | Uint8Array;
  /** Where log lines go. Defaults to stdout, prefixed `[sockets] `. */
  logger?: LoggerLike;
  /** The most verbose level written. Defaults to `"info"`. */
  logLevel?: LogLevel;
  /** No logging at all. Defaults to `false`. */
  skipLogging?: boolean;
}

/** What `join` says about each room it joined, by name. */
export interface RoomJoin {
  /**
   * Whether the socket's missed messages of this room were replayed (section 6). Always false
   * without history, or when the client presented no position.
   */
  readonly recovered: boolean;
  /** The room's position when the socket joined it: null without history. */
  readonly position: Position | null;
}

/** `join`'s answer: one entry per room named in the call (a null-prototype object). */
export type JoinResult = Readonly<Record<string, RoomJoin>>;

/** Longest event name, in UTF-16 code units. */
export const MAX_EVENT_NAME = 256;

const NOT_RECOVERED: RoomJoin = Object.freeze({ recovered: false, position: null });
/** What `recover` is asked for a room the client presented no position for: never recovered. */
const NO_POSITION: Position = Object.freeze({ epoch: "", offset: 0 });
/** Deliveries held for one member while it joins rooms with history; past it: closed with 1013. */
export const MAX_HELD = 1024;
/** The close code of a member that cannot keep up with a room with history. */
export const TOO_SLOW = 1013;
/** Session tokens' lifetime without history (a hub with only a `secret`). */
const SESSION_TTL = 120_000;
const BAD_EVENT_CHARS = /[\r\n\0]/;
const HUB = "hub";

/** Whether a member is an events socket (the only kind the `$` control messages go to). */
function isEvents(m: Member): m is Member & { readonly conn: EventsConnection } {
  return m.kind === WEBSOCKET && m.socket instanceof EventsConnection;
}

/**
 * Whether a held delivery is already accounted for by the joins it waited on: every room of
 * the member it carries a position for was joined meanwhile, at or past that position (so it
 * was replayed, or is from before the join point).
 */
function covered(
  member: Member,
  held: Held,
  positions: ReadonlyMap<string, Position> | null,
): boolean {
  if (positions === null) return false;
  let mine = false;
  for (const [room, p] of positions) {
    if (!member.has(room)) continue;
    mine = true;
    const at = held.at.get(room);
    if (at === undefined || at.epoch !== p.epoch || p.offset > at.offset) return false;
  }
  return mine;
}

/** A named room with members in this process. */
class Room {
  readonly members = new Set<Member>();
  /** The adapter's `subscribe` while it runs; joins wait for it. */
  ready: Promise<void> | null = null;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

/**
 * Rooms, a registry and delivery to many sockets at once. `Events` types what `emit` may send
 * (event name to data), e.g. `new Hub<{ said: { text: string } }>()`; any name and data by default.
 */
export class Hub<Events extends EventMap = EventMap> implements CloseWatcher {
  private readonly adapter: Adapter;
  private readonly log: Log;
  private readonly maxRooms: number;
  private readonly maxName: number;
  private readonly timeout: number;
  private readonly members = new Map<Socket<unknown, unknown>, Member>();
  private readonly byId = new Map<string, Member>();
  private readonly roomMap = new Map<string, Room>();
  private readonly host: AdapterHost;
  private readonly target: Target<Events>;
  private stamp = 0;
  private closed = false;
  private droppedTotal = 0;
  private failedTotal = 0;
  /** Section 6: the history setting, and the sessions (with history or a secret), or null. */
  private readonly history: HistoryOptions | null;
  private readonly sessions: Sessions | null;
  /** Renews the tokens of live events sockets every ttl/2 (see `renewTokens`); unref'd. */
  private renewTimer: NodeJS.Timeout | null = null;

  constructor(options: HubOptions = {}) {
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      throw new TypeError("new Hub(options): options must be an object");
    }
    this.log = createLog(options);
    this.maxRooms = checkCount("maxRoomsPerSocket", options.maxRoomsPerSocket, 1024);
    this.maxName = checkCount("maxRoomNameLength", options.maxRoomNameLength, 256);
    if (this.maxName === 0) throw new RangeError("options.maxRoomNameLength must be at least 1");
    this.timeout = checkTime("timeout", options.timeout, 5000);
    this.history = checkHistory(options.history);
    const secret = checkSecret(options.secret);
    this.sessions =
      this.history === null && secret === undefined
        ? null
        : new Sessions(secret, this.history?.ttl ?? SESSION_TTL);
    const adapter = options.adapter ?? new LocalAdapter();
    for (const m of [
      "bind",
      "publish",
      "subscribe",
      "unsubscribe",
      "recover",
      "count",
      "fetch",
      "disconnect",
      "addRooms",
      "removeRooms",
      "close",
    ] as const) {
      if (typeof (adapter as unknown as Record<string, unknown>)[m] !== "function") {
        throw new TypeError(`options.adapter must implement Adapter: ${m}() is missing`);
      }
    }
    this.adapter = adapter;
    this.host = {
      deliver: (p, positions) => this.deliver(p, positions),
      count: (s) => this.localCount(s),
      fetch: (s) => this.localFetch(s),
      disconnect: (s, code) => this.localDisconnect(s, code),
      addRooms: (s, rooms) => this.localAddRooms(s, rooms),
      removeRooms: (s, rooms) => this.localRemoveRooms(s, rooms),
      rooms: () => this.roomMap.keys(),
      history: this.history,
    };
    adapter.bind(this.host);
    if (this.sessions !== null) {
      const every = Math.max(Math.floor(this.sessions.ttl / 2), 1000);
      this.renewTimer = setInterval(() => this.renewTokens(), every);
      this.renewTimer.unref();
    }
    this.target = new Target<Events>(this.targetHost(), null, []);
  }

  // ---------------------------------------------------------------- membership

  /**
   * Puts `socket` in `rooms` (names or arrays of names; none: it only enters the registry and
   * its own id room). Resolves once it will receive every message published to them from now
   * on, with `{ [room]: { recovered, position } }`. Rejects with TypeError for an object that
   * is not a socket of this package or a bad room name, HubError ERR_HUB_SOCKET_CLOSED for a
   * closed socket, ERR_HUB_TOO_MANY_ROOMS past `maxRoomsPerSocket` (then it joins none).
   */
  async join(
    socket: Socket<unknown, unknown>,
    ...rooms: (string | readonly string[])[]
  ): Promise<JoinResult> {
    this.checkOpen("join");
    const names = this.namesOnly(rooms, "join");
    const known = this.members.has(socket);
    const member = this.register(socket);
    const unique = new Set(names.filter((n) => n !== member.id && !member.has(n)));
    const have = member.roomCount;
    if (have + unique.size > this.maxRooms) {
      if (!known) this.forget(member);
      throw new HubError(
        "ERR_HUB_TOO_MANY_ROOMS",
        `hub.join: socket ${member.id} would be in ${have + unique.size} rooms; maxRoomsPerSocket is ${this.maxRooms}`,
      );
    }
    const sessionNew = !known && this.sessions !== null && isEvents(member);
    if (sessionNew) this.sendSession(member);
    const waits: Promise<void>[] = [];
    const added: string[] = [];
    for (const name of names) {
      if (name === member.id) continue;
      let room = this.roomMap.get(name);
      if (room === undefined) {
        room = new Room();
        this.roomMap.set(name, room);
        const r = room;
        room.ready = this.adapter.subscribe(name).then(() => {
          if (r.ready !== null) r.ready = null;
        });
      }
      if (!room.members.has(member)) {
        room.members.add(member);
        member.add(name);
        added.push(name);
      }
      if (room.ready !== null) waits.push(room.ready);
    }
    const result: Record<string, RoomJoin> = Object.create(null) as Record<string, RoomJoin>;
    for (const name of names) result[name] = NOT_RECOVERED;
    if (this.sessions === null || added.length === 0) {
      await this.subscribed(socket, member, waits, added);
      return result;
    }
    // Section 6: hold what is delivered to it until its replay is written (see the top).
    const held = (member.held ??= new Held());
    held.joins++;
    try {
      await this.subscribed(socket, member, waits, added);
      const recoveries = await Promise.all(added.map((name) => this.recoverFor(member, name)));
      for (let i = 0; i < added.length; i++) {
        const name = added[i]!;
        const joined = await this.replay(member, name, recoveries[i]!);
        if (joined === null) break; // it closed
        result[name] = joined;
      }
      if (this.members.get(socket) !== member) {
        throw new HubError(
          "ERR_HUB_SOCKET_CLOSED",
          `hub.join: socket ${member.id} closed while joining`,
        );
      }
    } finally {
      if (--held.joins === 0) this.release(member, held);
    }
    return result;
  }

  /** Waits for the adapter's subscriptions of a join; leaves the new rooms if they failed. */
  private async subscribed(
    socket: Socket<unknown, unknown>,
    member: Member,
    waits: Promise<void>[],
    added: string[],
  ): Promise<void> {
    if (waits.length === 0) return;
    try {
      await Promise.all(waits);
    } catch (err) {
      this.leave(socket, added); // the rooms it was in before stay
      throw new HubError(
        "ERR_HUB_ADAPTER",
        `hub.join: the adapter could not subscribe: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (this.members.get(socket) !== member) {
      throw new HubError(
        "ERR_HUB_SOCKET_CLOSED",
        `hub.join: socket ${member.id} closed while joining`,
      );
    }
  }

  /** What the member missed in `room`, from the position it presented (or none). */
  private async recoverFor(member: Member, name: string): Promise<Recovery & { asked: boolean }> {
    const presented = isEvents(member) ? member.conn.resume?.rooms[name] : undefined;
    const since: Position =
      presented === undefined ? NO_POSITION : { epoch: presented.epoch, offset: presented.seq };
    try {
      const r = await this.adapter.recover(name, since);
      return { ...r, asked: presented !== undefined };
    } catch (err) {
      this.log.warning(
        HUB,
        `adapter could not recover room ${JSON.stringify(name)} for ${member.id}: ${(err as Error).message}`,
      );
      return { recovered: false, position: null, asked: presented !== undefined };
    }
  }

  /**
   * Sends `$joined` for one room and, when recovered, its missed messages, with backpressure.
   * What the member gets in the room is then decided: held deliveries at or below the position
   * are left out. Null when the socket closed meanwhile.
   */
  private async replay(
    member: Member,
    name: string,
    r: Recovery & { asked: boolean },
  ): Promise<RoomJoin | null> {
    const held = member.held!;
    const position = r.position;
    const recovered = r.recovered && r.asked;
    if (position !== null) held.at.set(name, position);
    if (isEvents(member)) {
      const data =
        position === null
          ? r.asked
            ? { room: name, recovered: false }
            : { room: name }
          : { room: name, epoch: position.epoch, seq: position.offset, recovered };
      if (
        !(await this.writeTo(member, frameOf(`{"event":"$joined","data":${JSON.stringify(data)}}`)))
      ) {
        return null;
      }
    }
    if (recovered && r.recovered) {
      for (const kept of r.messages) {
        if (this.excludes(member, kept)) continue;
        if (!(await this.writeKept(member, kept))) return null;
      }
    }
    return recovered ? { recovered: true, position } : { recovered: false, position };
  }

  /** Whether a kept message's `except` left this member out (its session id, or one of its rooms). */
  private excludes(member: Member, kept: KeptMessage): boolean {
    const except = kept.publication.except;
    if (except.length === 0) return false;
    const presented = isEvents(member) ? member.conn.resume?.rooms : undefined;
    for (const name of except) {
      if (name === member.id || member.has(name)) return true;
      if (presented !== undefined && presented[name] !== undefined) return true;
    }
    return false;
  }

  /** Writes a replayed message to the member, waiting for room: never dropped. */
  private writeKept(member: Member, kept: KeptMessage): Promise<boolean> {
    const encoded = new Encoded(kept.publication.message, kept.positions);
    if (member.kind === WEBSOCKET) {
      const frame = encoded.frameFor(member.conn.codec);
      if (frame === null) return Promise.resolve(true); // cannot carry it: as live (failed)
      return this.writeTo(member, frame);
    }
    const value = member.kind === SSE ? encoded.sseEvent() : encoded.value();
    if (value === null) return Promise.resolve(true);
    return member.socket.sender.send(value).then(
      () => true,
      () => false,
    );
  }

  /** Writes a frame to a WebSocket member in order, waiting for room; false once it closed. */
  private async writeTo(member: Member, frame: Frame): Promise<boolean> {
    const tx = member.conn.sender as unknown as Sender<unknown>;
    while (!tx.offerFrame(frame)) {
      if (tx.closed) return false;
      try {
        await tx.whenWritable();
      } catch {
        return false;
      }
    }
    return true;
  }

  /** The last join in progress on the member ended: the held deliveries go out, less the covered. */
  private release(member: Member, held: Held): void {
    if (member.held === held) member.held = null;
    if (held.overflow || this.members.get(member.socket) !== member) return;
    const counts = { delivered: 0, closed: 0, dropped: 0, failed: 0, sse: 0 };
    for (const encoded of held.messages) {
      if (!covered(member, held, encoded.positions)) this.offer(member, encoded, counts);
    }
  }

  /**
   * A token expires `ttl` after it was made, but a connection may last much longer: every
   * ttl/2 each live events socket gets a fresh `$session` (same id), so the token it holds when
   * the link drops is always valid for at least ttl/2 more.
   */
  private renewTokens(): void {
    for (const member of this.members.values()) {
      // A member too far behind to take it keeps its older token (valid ttl/2 more).
      if (isEvents(member) && !member.socket.sender.closed) this.sendSession(member, false);
    }
  }

  /** Sends `$session` {id, token} to an events member (section 6). */
  private sendSession(member: Member, strict = true): void {
    const token = this.sessions!.issue(member.id);
    const text = `{"event":"$session","data":${JSON.stringify({ id: member.id, token })}}`;
    if (!member.conn.offerFrame(frameOf(text)) && strict) this.tooSlow(member);
  }

  /** Closes a member that cannot keep up with a room with history (1013: it resumes). */
  private tooSlow(member: Member): void {
    try {
      member.socket.disconnect.trySend({
        code: TOO_SLOW,
        reason: "too slow for a room with history",
      });
    } catch (err) {
      this.log.error(HUB, `could not close slow socket ${member.id}: ${(err as Error).message}`);
    }
  }

  /**
   * Takes `socket` out of `rooms` (none: out of every named room; it stays in the registry and
   * its own id room until it closes). Rooms it is not in, and its own id, are ignored.
   */
  leave(socket: Socket<unknown, unknown>, ...rooms: (string | readonly string[])[]): void {
    const names = this.namesOnly(rooms, "leave");
    const member = this.members.get(socket);
    if (member === undefined) return;
    const list = names.length === 0 ? member.namedRooms() : names;
    for (const name of list) {
      if (!member.remove(name)) continue;
      this.removeFrom(name, member);
      if (this.sessions !== null && isEvents(member)) {
        const text = `{"event":"$left","data":${JSON.stringify({ room: name })}}`;
        if (!member.conn.offerFrame(frameOf(text)) && !member.socket.sender.closed) {
          this.tooSlow(member);
        }
      }
    }
  }

  /** The rooms `socket` is in, its own id first; empty when it is not in this hub. */
  rooms(socket: Socket<unknown, unknown>): string[] {
    const member = this.members.get(socket);
    return member === undefined ? [] : member.roomList();
  }

  /** @internal A socket of this hub closed: it leaves everything now. */
  socketClosed(socket: Socket<unknown, unknown>): void {
    const member = this.members.get(socket);
    if (member !== undefined) this.forget(member);
  }

  private register(socket: Socket<unknown, unknown>): Member {
    const known = this.members.get(socket);
    if (known !== undefined) return known;
    if (!isWatchable(socket)) {
      throw new TypeError(
        `hub.join: expected a socket bound by express-sockets (res.locals.socket), got ${describe(socket)}`,
      );
    }
    if (this.sessions !== null && socket instanceof EventsConnection && !socket.sender.closed) {
      const token = socket.resume?.token;
      if (token !== undefined) {
        const id = this.sessions.verify(token);
        if (id === null)
          this.log.debug(HUB, "session token refused (altered, foreign or expired): a new session");
        else if (this.byId.has(id))
          this.log.debug(HUB, `session ${id} is live on another socket: a new session`);
        else socket.adoptId(id);
      }
    }
    const id = socket.id;
    if (socket.sender.closed || !socket[WATCH_CLOSE](this)) {
      throw new HubError("ERR_HUB_SOCKET_CLOSED", `hub.join: socket ${id} is closed`);
    }
    const member = new Member(socket, id);
    this.members.set(socket, member);
    this.byId.set(id, member);
    return member;
  }

  /** Removes a member from everything. */
  private forget(member: Member): void {
    const socket = member.socket;
    this.members.delete(socket);
    if (this.byId.get(member.id) === member) this.byId.delete(member.id);
    if (isWatchable(socket)) socket[UNWATCH_CLOSE](this);
    for (const name of member.namedRooms()) {
      member.remove(name);
      this.removeFrom(name, member);
    }
  }

  private removeFrom(name: string, member: Member): void {
    const room = this.roomMap.get(name);
    if (room === undefined) return;
    room.members.delete(member);
    if (room.members.size > 0) return;
    this.roomMap.delete(name);
    this.adapter.unsubscribe(name).catch((err: unknown) => {
      this.log.error(
        HUB,
        `adapter could not unsubscribe from room ${JSON.stringify(name)}: ${(err as Error).message}`,
      );
    });
  }

  // ---------------------------------------------------------------- targets

  /** The sockets in any of `rooms` (names, sockets, arrays). Chain `except()` and `to()`. */
  to(...rooms: RoomRef[]): Target<Events> {
    return this.target.to(...rooms);
  }

  /** Every socket but those in `rooms` (names, sockets, arrays). */
  except(...rooms: RoomRef[]): Target<Events> {
    return this.target.except(...rooms);
  }

  /** Sends the event to every socket of the hub, on every process. See `Target.emit`. */
  emit<E extends keyof Events & string>(event: E, data: Events[E]): Promise<DeliveryResult> {
    return this.target.emit(event, data);
  }

  /** Sends `message` to every socket of the hub, on every process. See `Target.send`. */
  send(message: unknown): Promise<DeliveryResult> {
    return this.target.send(message);
  }

  // ---------------------------------------------------------------- registry

  /** The socket of this process with this id. */
  get(id: string): Socket<unknown, unknown> | undefined {
    return this.byId.get(id)?.socket;
  }

  /** This process's sockets: all of them, or the members of `room`. */
  sockets(room?: string): Socket<unknown, unknown>[] {
    if (room === undefined) return [...this.members.keys()];
    return this.target.to(room).sockets();
  }

  /** How many sockets this process holds. */
  get size(): number {
    return this.members.size;
  }

  /** How many sockets (in `room`), on every process. */
  count(room?: string): Promise<number> {
    return room === undefined ? this.target.count() : this.target.to(room).count();
  }

  /** `{ id, rooms, data }` of every socket (in `room`), on every process. */
  fetch(room?: string): Promise<SocketInfo[]> {
    return room === undefined ? this.target.fetch() : this.target.to(room).fetch();
  }

  /**
   * Closes the socket with this id, or every socket in this room, on every process, with
   * `code` (default 1000) after flushing what is queued for them. Resolves to how many.
   */
  disconnect(idOrRoom: string, code = 1000): Promise<number> {
    return this.target.to(idOrRoom).disconnect(code);
  }

  /**
   * Stops the hub: it forgets every socket (they stay open) and closes its adapter. Every call
   * after this rejects or throws ERR_HUB_CLOSED. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.renewTimer !== null) clearInterval(this.renewTimer);
    this.renewTimer = null;
    for (const member of [...this.members.values()]) this.forget(member);
    await this.adapter.close();
  }

  // ---------------------------------------------------------------- internals

  private checkOpen(what: string): void {
    if (this.closed) throw new HubError("ERR_HUB_CLOSED", `hub.${what}: the hub is closed`);
  }

  private checkRoom(name: unknown, where: string): string {
    if (typeof name !== "string") {
      throw new TypeError(`hub.${where}: a room is a string or a socket, got ${describe(name)}`);
    }
    if (name.length === 0 || name.length > this.maxName) {
      throw new RangeError(
        `hub.${where}: a room name must be 1 to ${this.maxName} characters, got ${name.length}`,
      );
    }
    return name;
  }

  /** Room names from names and arrays of names (join, leave). */
  private namesOnly(rooms: readonly unknown[], where: string): string[] {
    const out: string[] = [];
    for (const r of rooms) {
      if (Array.isArray(r)) for (const n of r as unknown[]) out.push(this.checkRoom(n, where));
      else out.push(this.checkRoom(r, where));
    }
    return out;
  }

  /** @internal Room names from names, sockets and arrays of both (to, except). */
  roomNames(refs: readonly RoomRef[], where: string): string[] {
    const out: string[] = [];
    const one = (r: unknown): void => {
      if (typeof r === "object" && r !== null && !Array.isArray(r)) {
        const id = (r as { id?: unknown }).id;
        if (typeof id !== "string") {
          throw new TypeError(
            `hub.${where}: a room is a string or a socket, got an object without an id`,
          );
        }
        out.push(id);
      } else {
        out.push(this.checkRoom(r, where));
      }
    };
    for (const r of refs) {
      if (Array.isArray(r)) for (const x of r as unknown[]) one(x);
      else one(r);
    }
    return out;
  }

  private targetHost() {
    return {
      roomNames: (refs: readonly RoomRef[], where: string) => this.roomNames(refs, where),
      emitTo: (selector: Selector, event: string, data: unknown) =>
        this.emitTo(selector, event, data),
      sendTo: (selector: Selector, message: unknown) =>
        this.publish(selector, { kind: "send", value: message }),
      countOf: (s: Selector) =>
        this.query("count", () => this.adapter.count(s, { timeout: this.timeout })),
      fetchOf: (s: Selector) =>
        this.query("fetch", () => this.adapter.fetch(s, { timeout: this.timeout })),
      disconnectOf: (s: Selector, code: number) => this.disconnectOf(s, code),
      joinOf: (s: Selector, rooms: readonly (string | readonly string[])[]) =>
        this.query("join", () =>
          this.adapter.addRooms(s, this.namesOnly(rooms, "to().join"), { timeout: this.timeout }),
        ),
      leaveOf: (s: Selector, rooms: readonly (string | readonly string[])[]) =>
        this.query("leave", () =>
          this.adapter.removeRooms(s, this.namesOnly(rooms, "to().leave"), {
            timeout: this.timeout,
          }),
        ),
      socketsOf: (s: Selector) => this.collect(s).map((m) => m.socket),
    };
  }

  private async query<T>(what: string, run: () => Promise<T>): Promise<T> {
    this.checkOpen(what);
    return run();
  }

  private async emitTo(selector: Selector, event: string, data: unknown): Promise<DeliveryResult> {
    if (typeof event !== "string") {
      throw new TypeError(`hub emit: the event name must be a string, got ${describe(event)}`);
    }
    if (event.length === 0 || event.length > MAX_EVENT_NAME) {
      throw new RangeError(
        `hub emit: an event name must be 1 to ${MAX_EVENT_NAME} characters, got ${event.length}`,
      );
    }
    if (event.charCodeAt(0) === 36 /* $ */) {
      throw new RangeError(
        `hub emit: event names starting with "$" are reserved for the package: ${JSON.stringify(event)}`,
      );
    }
    if (BAD_EVENT_CHARS.test(event)) {
      throw new RangeError(
        `hub emit: an event name must not contain CR, LF or NUL: ${JSON.stringify(event)}`,
      );
    }
    let json: string | undefined;
    try {
      json = data === undefined ? "null" : JSON.stringify(data);
    } catch (err) {
      throw new TypeError(
        `hub emit: data of event ${JSON.stringify(event)} is not JSON-serialisable: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (json === undefined) {
      throw new TypeError(
        `hub emit: data of event ${JSON.stringify(event)} is not JSON-serialisable (${typeof data})`,
      );
    }
    return this.publish(selector, {
      kind: "emit",
      event,
      data: data === undefined ? null : data,
      json,
    });
  }

  private async publish(selector: Selector, message: HubMessage): Promise<DeliveryResult> {
    this.checkOpen(message.kind);
    const publication: Publication = { rooms: selector.rooms, except: selector.except, message };
    return this.adapter.publish(publication);
  }

  private async disconnectOf(selector: Selector, code: number): Promise<number> {
    if (
      typeof code !== "number" ||
      !Number.isInteger(code) ||
      !(
        (code >= 1000 && code <= 1003) ||
        (code >= 1007 && code <= 1014) ||
        (code >= 3000 && code <= 4999)
      )
    ) {
      throw new RangeError(
        `hub.disconnect: close code must be 1000-1003, 1007-1014 or 3000-4999, got ${String(code)}`,
      );
    }
    this.checkOpen("disconnect");
    return this.adapter.disconnect(selector, code, { timeout: this.timeout });
  }

  /**
   * Stamps the members the selector excludes, then calls `each` once for every member it
   * reaches. Synchronous: nothing else runs between the stamping and the calls.
   */
  private forEach(selector: Selector, each: (m: Member) => void): void {
    const stamp = this.nextStamp();
    for (const name of selector.except) {
      const room = this.roomMap.get(name);
      if (room !== undefined) for (const m of room.members) m.mark = stamp;
      const own = this.byId.get(name);
      if (own !== undefined) own.mark = stamp;
    }
    const rooms = selector.rooms;
    if (rooms === null) {
      for (const m of this.members.values()) {
        if (m.mark !== stamp) {
          m.mark = stamp;
          each(m);
        }
      }
      return;
    }
    for (const name of rooms) {
      const room = this.roomMap.get(name);
      if (room !== undefined) {
        for (const m of room.members) {
          if (m.mark !== stamp) {
            m.mark = stamp;
            each(m);
          }
        }
      }
      const own = this.byId.get(name);
      if (own !== undefined && own.mark !== stamp) {
        own.mark = stamp;
        each(own);
      }
    }
  }

  /**
   * The next delivery stamp: a small integer (a Smi, stored in place in every member). After
   * 2^30 deliveries the stamps start again from 1, and every mark is cleared first.
   */
  private nextStamp(): number {
    if (this.stamp >= 0x3fffffff) {
      this.stamp = 0;
      for (const m of this.members.values()) m.mark = 0;
    }
    return ++this.stamp;
  }

  private collect(selector: Selector): Member[] {
    const out: Member[] = [];
    this.forEach(selector, (m) => out.push(m));
    return out;
  }

  /** Delivers to this process's members: the adapter calls it (AdapterHost.deliver). */
  private deliver(
    publication: Publication,
    positions: ReadonlyMap<string, Position> | null,
  ): DeliveryResult {
    const encoded = new Encoded(publication.message, positions);
    const counts = { delivered: 0, closed: 0, dropped: 0, failed: 0, sse: 0 };
    this.forEach(publication, (m) => {
      const held = m.held;
      if (held === null) {
        this.offer(m, encoded, counts);
      } else if (held.overflow) {
        counts.closed++;
      } else if (held.messages.length < MAX_HELD) {
        held.messages.push(encoded);
        counts.delivered++;
      } else {
        held.overflow = true;
        counts.dropped++;
        this.tooSlow(m);
      }
    });
    if (counts.sse > 0) this.countDropped(counts.sse);
    if (counts.failed > 0) this.countFailed(counts.failed, publication.message, encoded.failure);
    const { delivered, closed, dropped, failed } = counts;
    return { delivered, closed, dropped, failed };
  }

  /**
   * Offers one message to one member without waiting (the `broadcast()` rule); a member too
   * slow for a message with positions (a room with history) is closed with 1013.
   */
  private offer(
    m: Member,
    encoded: Encoded,
    counts: { delivered: number; closed: number; dropped: number; failed: number; sse: number },
  ): void {
    const socket = m.socket;
    if (m.kind === WEBSOCKET) {
      const conn = m.conn;
      const frame = encoded.frameFor(conn.codec);
      if (frame === null) counts.failed++;
      else if (conn.offerFrame(frame)) counts.delivered++;
      else if (conn.sender.closed) counts.closed++;
      else {
        counts.dropped++;
        if (encoded.positions !== null) this.tooSlow(m);
      }
      return;
    }
    const sender = socket.sender;
    if (sender.closed) {
      counts.closed++;
      return;
    }
    let value: unknown;
    if (m.kind === SSE) {
      value = encoded.sseEvent();
      if (value === null) {
        counts.failed++;
        return;
      }
    } else {
      value = encoded.value();
    }
    let ok: boolean;
    try {
      ok = sender.trySend(value);
    } catch (err) {
      encoded.failure = (err as Error).message;
      counts.failed++;
      return;
    }
    if (ok) counts.delivered++;
    else {
      counts.dropped++;
      counts.sse++;
      if (encoded.positions !== null) this.tooSlow(m);
    }
  }

  /** Sockets other than WebSockets (whose connections log their own) too slow to take a message. */
  private countDropped(n: number): void {
    const before = this.droppedTotal;
    this.droppedTotal += n;
    // The first, then every 1000th: a stalled client cannot flood the log.
    if (before === 0 || Math.floor(before / 1000) !== Math.floor(this.droppedTotal / 1000)) {
      this.log.warning(
        HUB,
        `${n} slow socket(s) missed a message (${this.droppedTotal} missed so far)`,
      );
    }
  }

  private countFailed(n: number, message: HubMessage, why: string): void {
    const before = this.failedTotal;
    this.failedTotal += n;
    if (before === 0 || Math.floor(before / 1000) !== Math.floor(this.failedTotal / 1000)) {
      const what =
        message.kind === "emit" ? `event ${JSON.stringify(message.event)}` : "hub.send() message";
      this.log.warning(
        HUB,
        `${what} not sent to ${n} socket(s) whose transport cannot carry it: ${why} (${this.failedTotal} so far)`,
      );
    }
  }

  private localCount(selector: Selector): number {
    let n = 0;
    this.forEach(selector, () => n++);
    return n;
  }

  private localFetch(selector: Selector): SocketInfo[] {
    return this.collect(selector).map((m) => ({
      id: m.id,
      rooms: m.roomList(),
      data: m.socket.data,
    }));
  }

  private localDisconnect(selector: Selector, code: number): number {
    let n = 0;
    for (const m of this.collect(selector)) {
      try {
        if (m.socket.disconnect.trySend(code)) n++;
      } catch (err) {
        this.log.error(HUB, `could not disconnect ${m.id}: ${(err as Error).message}`);
      }
    }
    return n;
  }

  private async localAddRooms(selector: Selector, rooms: readonly string[]): Promise<number> {
    const joins = this.collect(selector).map((m) => this.join(m.socket, rooms));
    let n = 0;
    for (const r of await Promise.allSettled(joins)) {
      if (r.status === "fulfilled") n++;
      else this.log.warning(HUB, `to().join: ${(r.reason as Error).message}`);
    }
    return n;
  }

  private localRemoveRooms(selector: Selector, rooms: readonly string[]): number {
    const members = this.collect(selector);
    for (const m of members) this.leave(m.socket, rooms);
    return members.length;
  }

  /** @internal For tests: how many entries the hub's maps hold (all zero once every socket closed). */
  get internals(): { members: number; ids: number; rooms: number } {
    return { members: this.members.size, ids: this.byId.size, rooms: this.roomMap.size };
  }
}
