// The in-process adapter, the Hub's default: one process is the whole world, so every operation
// is the hub's own local one, answered at once. With the hub's history setting it keeps each
// room's sequence, epoch and last messages in memory (history.ts) and replays from them.

import type {
  Adapter,
  AdapterHost,
  DeliveryResult,
  Position,
  Publication,
  Recovery,
  Selector,
  SocketInfo,
} from "./adapter";
import { History } from "./history";

const NOT_RECOVERED: Recovery = Object.freeze({ recovered: false, position: null });
const DONE: Promise<void> = Promise.resolve();

/** The in-process Adapter: publications and registry queries never leave this process. */
export class LocalAdapter implements Adapter {
  private host: AdapterHost | null = null;
  /** The rooms' logs, when the hub keeps history. */
  private history: History | null = null;

  bind(host: AdapterHost): void {
    if (this.host !== null)
      throw new Error("this adapter already serves a Hub: give each Hub its own");
    this.host = host;
    if (host.history !== null) this.history = new History(host.history);
  }

  private get local(): AdapterHost {
    if (this.host === null) throw new Error("adapter used before a Hub bound it");
    return this.host;
  }

  publish(publication: Publication): Promise<DeliveryResult> {
    const host = this.local;
    // Positions and the kept copy first, delivery after: all in this one synchronous step.
    const positions = this.history === null ? null : this.history.append(publication);
    return Promise.resolve(host.deliver(publication, positions));
  }

  subscribe(room: string): Promise<void> {
    this.history?.subscribe(room);
    return DONE;
  }

  unsubscribe(room: string): Promise<void> {
    this.history?.unsubscribe(room);
    return DONE;
  }

  recover(room: string, since: Position): Promise<Recovery> {
    if (this.history === null) return Promise.resolve(NOT_RECOVERED);
    return Promise.resolve(this.history.recover(room, since));
  }

  count(selector: Selector): Promise<number> {
    return Promise.resolve(this.local.count(selector));
  }

  fetch(selector: Selector): Promise<SocketInfo[]> {
    return Promise.resolve(this.local.fetch(selector));
  }

  disconnect(selector: Selector, code: number): Promise<number> {
    return Promise.resolve(this.local.disconnect(selector, code));
  }

  addRooms(selector: Selector, rooms: readonly string[]): Promise<number> {
    return this.local.addRooms(selector, rooms);
  }

  removeRooms(selector: Selector, rooms: readonly string[]): Promise<number> {
    return Promise.resolve(this.local.removeRooms(selector, rooms));
  }

  close(): Promise<void> {
    this.history?.close();
    return DONE;
  }

  /** @internal For tests: rooms with a log and messages kept (all zero without history). */
  get internals(): { rooms: number; kept: number } {
    return this.history === null ? { rooms: 0, kept: 0 } : this.history.internals;
  }
}
