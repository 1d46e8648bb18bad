// How a publication crosses processes: one text, "<positions JSON>\n<header JSON>\n<payload>".
// The header says who sent it (process id and its publication number, to recognise its own
// copy and the second copy of a message to two rooms), its targets and its kind; the payload is
// an emit's data as the JSON text the hub computed once (parsed again only if a socket takes
// values), or a send's value: text as it is, bytes as base64, anything else as JSON.

import type { EmitMessage, HubMessage, Position, Publication } from "../hub";

/** The header of a publication on the wire. */
interface Header {
  /** Sending process. */
  o: string;
  /** Its publication number. */
  n: number;
  /** Rooms (null: every socket). */
  r: readonly string[] | null;
  /** Exclusions. */
  x: readonly string[];
  /** "e": emit of event `e`; "s": send, `t` "s" text, "b" bytes (base64), "j" JSON. */
  k: "e" | "s";
  e?: string;
  t?: "s" | "b" | "j";
}

/** A publication read back from Redis. */
export interface WirePublication {
  readonly origin: string;
  readonly number: number;
  readonly publication: Publication;
  readonly positions: ReadonlyMap<string, Position> | null;
}

/**
 * The body (header + payload) of a publication; throws TypeError for a `send` value that
 * cannot cross a process (not a string, bytes or JSON).
 */
export function encodeBody(origin: string, number: number, p: Publication): string {
  const m = p.message;
  const h: Header = { o: origin, n: number, r: p.rooms, x: p.except, k: "e" };
  let payload: string;
  if (m.kind === "emit") {
    h.e = m.event;
    payload = m.json;
  } else {
    h.k = "s";
    const v = m.value;
    if (typeof v === "string") {
      h.t = "s";
      payload = v;
    } else if (v instanceof Uint8Array) {
      h.t = "b";
      payload = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
    } else {
      h.t = "j";
      let json: string | undefined;
      try {
        json = JSON.stringify(v);
      } catch (err) {
        throw new TypeError(
          `redisAdapter: a hub.send() value must be a string, bytes or JSON to reach other processes: ${(err as Error).message}`,
          { cause: err },
        );
      }
      if (json === undefined) {
        throw new TypeError(
          `redisAdapter: a hub.send() value must be a string, bytes or JSON to reach other processes, got ${typeof v}`,
        );
      }
      payload = json;
    }
  }
  return `${JSON.stringify(h)}\n${payload}`;
}

/** An emit whose `data` is parsed from its JSON text only when a socket asks for it. */
class WireEmit implements EmitMessage {
  readonly kind = "emit";
  private parsed = false;
  private value: unknown = undefined;
  constructor(
    readonly event: string,
    readonly json: string,
  ) {}
  get data(): unknown {
    if (!this.parsed) {
      this.value = JSON.parse(this.json) as unknown;
      this.parsed = true;
    }
    return this.value;
  }
}

/** Positions from the script's JSON: `[[room, epoch, seq], ...]`; null when there are none. */
export function decodePositions(text: string): Map<string, Position> | null {
  if (text === "" || text === "{}" || text === "[]") return null;
  const list = JSON.parse(text) as [string, string, number | string][];
  const out = new Map<string, Position>();
  for (const [room, epoch, seq] of list) out.set(room, { epoch, offset: Number(seq) });
  return out.size === 0 ? null : out;
}

/** The body written by `encodeBody`, with its positions. Throws on a malformed one. */
export function decodeBody(body: string, positions: Map<string, Position> | null): WirePublication {
  const nl = body.indexOf("\n");
  if (nl < 0) throw new Error("malformed publication: no header");
  const h = JSON.parse(body.slice(0, nl)) as Header;
  const payload = body.slice(nl + 1);
  let message: HubMessage;
  if (h.k === "e") message = new WireEmit(String(h.e), payload);
  else if (h.t === "s") message = { kind: "send", value: payload };
  else if (h.t === "b")
    message = { kind: "send", value: new Uint8Array(Buffer.from(payload, "base64")) };
  else message = { kind: "send", value: JSON.parse(payload) as unknown };
  return {
    origin: h.o,
    number: h.n,
    publication: { rooms: h.r, except: h.x, message },
    positions,
  };
}

/** A message as it arrives on a room's channel: positions, then the body. */
export function decodeMessage(text: string): WirePublication {
  const nl = text.indexOf("\n");
  if (nl < 0) throw new Error("malformed publication: no positions line");
  return decodeBody(text.slice(nl + 1), decodePositions(text.slice(0, nl)));
}
