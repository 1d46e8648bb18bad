// The in-process adapter, the Hub's default: one process is the whole world, so every operation
// is the hub's own local one, answered at once. No history yet: `recover` never recovers.

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

const NOT_RECOVERED: Recovery = Object.freeze({ recovered: false, position: null });
const DONE: Promise<void> = Promise.resolve();

/** The in-process Adapter: publications and registry queries never leave this process. */
export class LocalAdapter implements Adapter {
  private host: AdapterHost | null = null;

  bind(host: AdapterHost): void {
    if (this.host !== null)
      throw new Error("this adapter already serves a Hub: give each Hub its own");
    this.host = host;
  }

  private get local(): AdapterHost {
    if (this.host === null) throw new Error("adapter used before a Hub bound it");
    return this.host;
  }

  publish(publication: Publication): Promise<DeliveryResult> {
    return Promise.resolve(this.local.deliver(publication, null));
  }

  subscribe(_room: string): Promise<void> {
    return DONE;
  }

  unsubscribe(_room: string): Promise<void> {
    return DONE;
  }

  recover(_room: string, _since: Position): Promise<Recovery> {
    return Promise.resolve(NOT_RECOVERED);
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
    return DONE;
  }
}
