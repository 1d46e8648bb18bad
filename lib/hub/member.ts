// One socket as a Hub holds it, and how one hub message is encoded once per encoding for all of
// them. A WebSocket member gets a frame built once (`frameOf`, as `broadcast()` does) and shared
// by every member with the same encoding; an SSE member gets one `SseEvent` whose wire text is
// computed once; any other socket of this package gets the value on its `sender`.

import type { Codec } from "../core/codec";
import type { Socket } from "../core/socket";
import { SseEvent } from "../sse/sse";
import { Connection, type Frame } from "../websocket/connection";
import { frameOf } from "../websocket/broadcast";
import type { HubMessage, Position } from "./adapter";

/** How a member is written to. */
export const WEBSOCKET = 0;
export const SSE = 1;
export const OTHER = 2;

/**
 * A socket in a hub: about 64 bytes. Its named rooms are kept as nothing, one string, or an
 * array (a Set per socket would cost more than the rest of the member): joins and leaves scan
 * it, which `maxRoomsPerSocket` bounds.
 */
export class Member {
  /** The named rooms it is in (not its own id): none, one, or several. */
  private named: string | string[] | null = null;
  /** The last delivery that reached (or excluded) it: a socket in many targeted rooms gets one copy. */
  mark = 0;
  /**
   * While a join with history is replaying (section 6): deliveries held for after the replay,
   * in order, and what each room joined meanwhile was at (its `$joined` seq). Null otherwise.
   */
  held: Held | null = null;
  /** WEBSOCKET (a Connection of this package: frames), SSE or OTHER. */
  readonly kind: number;

  constructor(
    readonly socket: Socket<unknown, unknown>,
    readonly id: string,
  ) {
    this.kind = socket instanceof Connection ? WEBSOCKET : socket.transport === "sse" ? SSE : OTHER;
  }

  /** The socket as a Connection (only when `kind` is WEBSOCKET). */
  get conn(): Connection<unknown, unknown> {
    return this.socket as Connection<unknown, unknown>;
  }

  /** How many named rooms it is in. */
  get roomCount(): number {
    const r = this.named;
    return r === null ? 0 : typeof r === "string" ? 1 : r.length;
  }

  has(room: string): boolean {
    const r = this.named;
    return r === null ? false : typeof r === "string" ? r === room : r.includes(room);
  }

  /** Adds a room it is not in yet. */
  add(room: string): void {
    const r = this.named;
    if (r === null) this.named = room;
    else if (typeof r === "string") this.named = [r, room];
    else r.push(room);
  }

  /** Removes a room; false when it was not in it. */
  remove(room: string): boolean {
    const r = this.named;
    if (r === null) return false;
    if (typeof r === "string") {
      if (r !== room) return false;
      this.named = null;
      return true;
    }
    const i = r.indexOf(room);
    if (i < 0) return false;
    r.splice(i, 1);
    if (r.length === 1) this.named = r[0]!;
    return true;
  }

  /** Its named rooms, as a new array. */
  namedRooms(): string[] {
    const r = this.named;
    return r === null ? [] : typeof r === "string" ? [r] : [...r];
  }

  /** Every room it is in, its own id first. */
  roomList(): string[] {
    const r = this.named;
    return r === null ? [this.id] : typeof r === "string" ? [this.id, r] : [this.id, ...r];
  }
}

/** What a member holds while it joins rooms with history (see Hub.join). */
export class Held {
  /** Joins in progress on the member: the held deliveries go out when the last one ends. */
  joins = 0;
  readonly messages: Encoded[] = [];
  /** Each room joined meanwhile: its epoch and seq in `$joined` (everything up to it was handled). */
  readonly at = new Map<string, Position>();
  /** Too many held: the member is being closed with 1013. */
  overflow = false;
}

/** A codec that could not encode the message: its members are counted as failed. */
const UNENCODABLE = null;

/**
 * One hub message, encoded lazily and at most once per encoding: the text frame of an emit is
 * the same bytes for json, events and messages sockets; its binary frame is for bytes sockets.
 */
export class Encoded {
  private text: Frame | null = null;
  private binary: Frame | null = null;
  private sse: SseEvent | typeof UNENCODABLE | undefined = undefined;
  private lastCodec: Codec<unknown, unknown> | null = null;
  private lastFrame: Frame | typeof UNENCODABLE = null;
  private frames: Map<Codec<unknown, unknown>, Frame | typeof UNENCODABLE> | null = null;
  /** Why the last encoding failed, for the log. */
  failure = "";

  /** `,"at":{...}` (section 6): the rooms' positions, for frames of rooms with history; "" without. */
  private readonly at: string;

  constructor(
    readonly message: HubMessage,
    /** Each targeted room's position (rooms with history), or null. */
    readonly positions: ReadonlyMap<string, Position> | null = null,
  ) {
    this.at = positions === null || positions.size === 0 ? "" : atJson(positions);
  }

  /** The frame for a WebSocket with this codec, or null when the codec cannot encode the message. */
  frameFor(codec: Codec<unknown, unknown>): Frame | null {
    if (codec === this.lastCodec) return this.lastFrame;
    const m = this.message;
    let frame: Frame | null;
    if (m.kind === "emit") {
      frame =
        codec.transport === "bytes"
          ? (this.binary ??= frameOf(Buffer.from(envelope(m.event, m.json, this.at), "utf8")))
          : (this.text ??= frameOf(envelope(m.event, m.json, this.at)));
    } else {
      const cached = this.frames?.get(codec);
      if (cached !== undefined) {
        frame = cached;
      } else {
        try {
          const encoded = codec.encode(m.value);
          frame = frameOf(withAt(encoded, this.at, codec.transport));
        } catch (err) {
          this.failure = (err as Error).message;
          frame = UNENCODABLE;
        }
        (this.frames ??= new Map()).set(codec, frame);
      }
    }
    this.lastCodec = codec;
    this.lastFrame = frame;
    return frame;
  }

  /** The event for an SSE socket (wire text computed once), or null when it cannot be encoded. */
  sseEvent(): SseEvent | null {
    if (this.sse !== undefined) return this.sse;
    const m = this.message;
    try {
      const ev =
        m.kind === "emit"
          ? new SseEvent(m.json, { event: m.event })
          : m.value instanceof SseEvent
            ? m.value
            : new SseEvent(m.value);
      ev.encode();
      this.sse = ev;
    } catch (err) {
      this.failure = (err as Error).message;
      this.sse = UNENCODABLE;
    }
    return this.sse;
  }

  /** The value for a socket that takes values on its sender. */
  value(): unknown {
    const m = this.message;
    if (m.kind === "send") return m.value;
    if (this.positions === null || this.at === "") return { event: m.event, data: m.data };
    return { event: m.event, data: m.data, at: JSON.parse(this.at.slice(6)) as unknown };
  }
}

/** `{"event": event, "data": data}` from the data's JSON text, with `at` (or "") after it. */
export function envelope(event: string, json: string, at = ""): string {
  return `{"event":${JSON.stringify(event)},"data":${json}${at}}`;
}

/** `,"at":{"room":["epoch",seq],...}` */
function atJson(positions: ReadonlyMap<string, Position>): string {
  let out = ',"at":{';
  let first = true;
  for (const [room, p] of positions) {
    out += `${first ? "" : ","}${JSON.stringify(room)}:[${JSON.stringify(p.epoch)},${p.offset}]`;
    first = false;
  }
  return out + "}";
}

/**
 * A `send()` message to a room with history, as an events or json socket's text: a JSON object
 * gets the `at` member too (so clients keep counting); any other value, or another transport,
 * is written as it is.
 */
function withAt(encoded: string | Buffer, at: string, transport: string): string | Buffer {
  if (at === "" || typeof encoded !== "string") return encoded;
  if (transport !== "events" && transport !== "json") return encoded;
  const text = encoded.trimEnd();
  if (!text.startsWith("{") || !text.endsWith("}")) return encoded;
  const body = text.slice(1, -1).trim();
  return body === "" ? `{${at.slice(1)}}` : `${text.slice(0, -1)}${at}}`;
}
