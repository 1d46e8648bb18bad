// The adapter seam: the only way a Hub reaches other processes. The hub keeps this process's
// sockets and rooms; the adapter carries publications and registry queries between processes
// and owns whatever is shared (per-room sequence, epoch and history, presence). `LocalAdapter`
// is the in-process default; a Redis adapter implements the same interface.
//
// The division of work, and why it will not have to change:
//
// - Publishing. The hub never delivers a publication by itself: it validates and encodes the
//   event once, then calls `adapter.publish(publication)`. The adapter decides when and where
//   it is delivered, and calls `host.deliver(publication, positions)` for this process's
//   members. In-process that is at once. With history (section 6) the adapter first assigns
//   each targeted room its next position (sequence with no gaps + epoch) and appends to the
//   room's history, in one atomic step (Redis: one Lua script, as Centrifugo does), then
//   delivers with those positions; other processes get the publication from the room's own
//   pub/sub channel (sharded per room) and deliver it with the same positions. Targets are
//   names only (rooms, socket ids): a publication is plain data that can cross a process.
// - Rooms. The hub tells the adapter when this process starts and stops having members in a
//   named room (`subscribe` / `unsubscribe`, always paired, in order): a Redis adapter
//   subscribes to that room's channel then. `join()` waits for `subscribe`, so a message
//   published after `join()` resolved reaches the new member on every process. Rooms named by
//   a socket id are not announced (there would be one per socket); an adapter routes them
//   another way (socket.io's sharded adapter: a channel per process, or the common channel).
// - Recovery (section 6). `join()` asks `adapter.recover(room, since)` for what a returning
//   client missed: every message after `since`, in order, or "not recovered" (epoch changed or
//   position no longer kept): never a partial list. The hub queues the replay on the socket
//   before any new message of that room (messages delivered while `recover` is pending are
//   held for that member and sent after the replay, skipping those already replayed).
// - Registry. `count`, `fetch`, `disconnect`, `addRooms` and `removeRooms` (socket.io's
//   fetchSockets, disconnectSockets, addSockets, delSockets) take the same kind of selector as
//   a publication and act on every process: the adapter asks the others (with `timeout`:
//   a process that does not answer in time makes the call reject with ERR_HUB_TIMEOUT rather
//   than hang) and adds this process's answer, which it gets from `host`.
// - Trouble (section 8). After a lost connection to the shared store comes back, the adapter
//   checks each room in `host.rooms()` for a gap and, for a room that had one, closes its local
//   members with 1013 (`host.disconnect`), so their clients resume and recover or refetch.

import type { SocketData } from "../core/socket";

/**
 * Who a publication or a registry query is for: the members of any of `rooms` (every socket
 * when `rooms` is null) that are in none of `except`. Rooms and exclusions are names; a
 * socket's id names the room that holds only that socket.
 */
export interface Selector {
  readonly rooms: readonly string[] | null;
  readonly except: readonly string[];
}

/** A named event: every transport encodes it from `event` and the JSON text of its data. */
export interface EmitMessage {
  readonly kind: "emit";
  readonly event: string;
  /** The data as a value (for sockets that take values) ... */
  readonly data: unknown;
  /** ... and as JSON text, computed once by the hub (what crosses processes). */
  readonly json: string;
}

/**
 * A value sent as each socket's own `sender` would send it. To cross processes it must be a
 * string, a Uint8Array or JSON-serialisable; an adapter that cannot carry it rejects.
 */
export interface SendMessage {
  readonly kind: "send";
  readonly value: unknown;
}

export type HubMessage = EmitMessage | SendMessage;

/** One message for a selection of sockets, across every process of the adapter. */
export interface Publication extends Selector {
  readonly message: HubMessage;
}

/**
 * A room's position after a message (section 6): its sequence number (no gaps) and the epoch
 * of its history, which changes whenever the history is lost.
 */
export interface Position {
  readonly offset: number;
  readonly epoch: string;
}

/** What a delivery did to this process's members (the `broadcast()` counts, plus `failed`). */
export interface DeliveryResult {
  /** Sockets the message was written to or queued on. */
  readonly delivered: number;
  /** Sockets already closing or closed: skipped. */
  readonly closed: number;
  /** Open sockets too far behind to take it (their backlog is full): they miss it. */
  readonly dropped: number;
  /** Sockets whose transport cannot carry the message (e.g. an object to `sockets.messages()`). */
  readonly failed: number;
}

/** One socket as the registry reports it (`Hub.fetch`). */
export interface SocketInfo {
  readonly id: string;
  /** Every room it is in, its own id first. */
  readonly rooms: readonly string[];
  /** Its `socket.data`: the live object for this process's sockets, a copy for others. */
  readonly data: SocketData;
}

/**
 * What a room's history keeps per message (section 6): the publication as it was sent (its
 * `except` names included, so a replay skips whom the live message skipped) and the position it
 * got in every targeted room that keeps history (a message to two rooms has a position in each:
 * a client in both drops the second copy by either one).
 */
export interface KeptMessage {
  readonly publication: Publication;
  readonly positions: ReadonlyMap<string, Position>;
}

/** How much history each room keeps: at most `size` messages, none older than `ttl` ms. */
export interface HistoryOptions {
  readonly size: number;
  readonly ttl: number;
}

/** What `recover` found: every missed message in order, or nothing at all. */
export type Recovery =
  | {
      readonly recovered: true;
      readonly messages: readonly KeptMessage[];
      readonly position: Position;
    }
  | { readonly recovered: false; readonly position: Position | null };

/** Bounds of a cross-process operation. */
export interface AdapterCallOptions {
  /** Milliseconds to wait for other processes; then the call rejects with ERR_HUB_TIMEOUT. */
  readonly timeout: number;
}

/** What a Hub offers its adapter: this process's side of every operation. Synchronous. */
export interface AdapterHost {
  /** Delivers to this process's members; `positions` (section 6) per targeted room with history. */
  deliver(
    publication: Publication,
    positions: ReadonlyMap<string, Position> | null,
  ): DeliveryResult;
  /** How many of this process's sockets the selector matches. */
  count(selector: Selector): number;
  /** This process's sockets the selector matches. */
  fetch(selector: Selector): SocketInfo[];
  /** Closes this process's sockets the selector matches with `code`; how many it closed. */
  disconnect(selector: Selector, code: number): number;
  /** Puts this process's sockets the selector matches in `rooms`; how many joined. */
  addRooms(selector: Selector, rooms: readonly string[]): Promise<number>;
  /** Takes this process's sockets the selector matches out of `rooms`; how many. */
  removeRooms(selector: Selector, rooms: readonly string[]): number;
  /** Named rooms with members in this process (to resubscribe or check for gaps). */
  rooms(): IterableIterator<string>;
  /**
   * The hub's history setting (section 6), null without history: with it, `publish` assigns
   * every targeted named room (not a socket's own id room, not "every socket") its next
   * position and keeps the message, in one atomic step, before delivering with the positions.
   */
  readonly history: HistoryOptions | null;
}

/**
 * How a Hub talks to other processes. Every method may be called only after `bind`. Async
 * methods must settle (never hang): bounded by `options.timeout` where other processes answer.
 */
export interface Adapter {
  /** Called once by the Hub it serves, before anything else. Throws if already bound. */
  bind(host: AdapterHost): void;
  /** Delivers `publication` on every process (here through `host.deliver`); this process's counts. */
  publish(publication: Publication): Promise<DeliveryResult>;
  /** This process now has members in `room` (a named room, not a socket id). */
  subscribe(room: string): Promise<void>;
  /** This process no longer has members in `room`. Paired with `subscribe`, in order. */
  unsubscribe(room: string): Promise<void>;
  /**
   * Section 6: the messages of `room` after `since`, all or nothing. An adapter without
   * history answers `{ recovered: false, position: null }`. The hub calls it, after
   * `subscribe`, for every room a join adds (its `$joined` tells the room's position): for a
   * room the client presented no position for, `since` is `{ epoch: "", offset: 0 }`, which
   * never recovers; the answer must still carry the room's current `position`.
   */
  recover(room: string, since: Position): Promise<Recovery>;
  /** Sockets the selector matches on every process. */
  count(selector: Selector, options: AdapterCallOptions): Promise<number>;
  /** Sockets the selector matches on every process. */
  fetch(selector: Selector, options: AdapterCallOptions): Promise<SocketInfo[]>;
  /** Closes the sockets the selector matches on every process; how many. */
  disconnect(selector: Selector, code: number, options: AdapterCallOptions): Promise<number>;
  /** Puts the sockets the selector matches on every process in `rooms` (socket.io's addSockets). */
  addRooms(
    selector: Selector,
    rooms: readonly string[],
    options: AdapterCallOptions,
  ): Promise<number>;
  /** Takes the sockets the selector matches on every process out of `rooms` (delSockets). */
  removeRooms(
    selector: Selector,
    rooms: readonly string[],
    options: AdapterCallOptions,
  ): Promise<number>;
  /** Stops: no more publications in or out. Idempotent. */
  close(): Promise<void>;
}
