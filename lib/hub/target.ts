// A target: the sockets a message or a registry query is for, built by chaining `to()` (a
// union of rooms) and `except()` (a union of exclusions) over room names, sockets (a socket
// names the room of its own id) and arrays of both. Immutable: every call returns a new target,
// so a target kept in a variable can be reused and narrowed without surprises.

import type { Socket } from "../core/socket";
import type { DeliveryResult, Selector, SocketInfo } from "./adapter";

/** A room: its name, a socket (the room of its id), or an array of both. */
export type RoomRef =
  string | Socket<unknown, unknown> | readonly (string | Socket<unknown, unknown>)[];

/** The events a hub may emit: event name to data type. */
export type EventMap = Record<string, unknown>;

/** What a Target needs from its Hub. */
export interface TargetHost<Events extends EventMap> {
  roomNames(refs: readonly RoomRef[], where: string): string[];
  emitTo<E extends keyof Events & string>(
    selector: Selector,
    event: E,
    data: Events[E],
  ): Promise<DeliveryResult>;
  sendTo(selector: Selector, message: unknown): Promise<DeliveryResult>;
  countOf(selector: Selector): Promise<number>;
  fetchOf(selector: Selector): Promise<SocketInfo[]>;
  disconnectOf(selector: Selector, code: number): Promise<number>;
  joinOf(selector: Selector, rooms: readonly (string | readonly string[])[]): Promise<number>;
  leaveOf(selector: Selector, rooms: readonly (string | readonly string[])[]): Promise<number>;
  socketsOf(selector: Selector): Socket<unknown, unknown>[];
}

/** Some of a hub's sockets, across every process of its adapter. */
export class Target<Events extends EventMap = EventMap> {
  /** Who it is for, as plain data (what an adapter carries to other processes). */
  readonly selector: Selector;

  /** @internal */
  constructor(
    private readonly hub: TargetHost<Events>,
    rooms: readonly string[] | null,
    except: readonly string[],
  ) {
    this.selector = Object.freeze({ rooms, except });
  }

  /** Adds rooms: the target reaches the members of any of them. */
  to(...rooms: RoomRef[]): Target<Events> {
    const names = this.hub.roomNames(rooms, "to()");
    const { rooms: mine, except } = this.selector;
    return new Target(this.hub, mine === null ? names : [...mine, ...names], except);
  }

  /** Leaves out the members of these rooms (a socket: that socket). */
  except(...rooms: RoomRef[]): Target<Events> {
    const names = this.hub.roomNames(rooms, "except()");
    const { rooms: mine, except } = this.selector;
    return new Target(this.hub, mine, [...except, ...names]);
  }

  /**
   * Sends the event `{"event": event, "data": data}` to every matching socket once, in its own
   * encoding; never waits on a slow socket. Resolves to this process's counts. Throws TypeError
   * (rejects) when `data` is not JSON-serialisable or `event` is not a valid name.
   */
  emit<E extends keyof Events & string>(event: E, data: Events[E]): Promise<DeliveryResult> {
    return this.hub.emitTo(this.selector, event, data);
  }

  /** Sends `message` to every matching socket as its own `sender` would send it, once each. */
  send(message: unknown): Promise<DeliveryResult> {
    return this.hub.sendTo(this.selector, message);
  }

  /** How many sockets match, on every process. */
  count(): Promise<number> {
    return this.hub.countOf(this.selector);
  }

  /** The matching sockets on every process: `{ id, rooms, data }`. */
  fetch(): Promise<SocketInfo[]> {
    return this.hub.fetchOf(this.selector);
  }

  /** Closes every matching socket with `code` (default 1000), on every process; how many. */
  disconnect(code = 1000): Promise<number> {
    return this.hub.disconnectOf(this.selector, code);
  }

  /**
   * Puts every matching socket, on every process, in `rooms` (names or arrays of names);
   * resolves to how many joined. A socket the join refuses (ERR_HUB_TOO_MANY_ROOMS, closed)
   * is skipped and logged.
   */
  join(...rooms: (string | readonly string[])[]): Promise<number> {
    return this.hub.joinOf(this.selector, rooms);
  }

  /** Takes every matching socket, on every process, out of `rooms`; resolves to how many. */
  leave(...rooms: (string | readonly string[])[]): Promise<number> {
    return this.hub.leaveOf(this.selector, rooms);
  }

  /** The matching sockets of this process. */
  sockets(): Socket<unknown, unknown>[] {
    return this.hub.socketsOf(this.selector);
  }
}
