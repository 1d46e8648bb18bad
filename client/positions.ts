// Per-room positions for recovery (RECOVERY-PROTOCOL / README "Recovery on the wire"): the last
// (epoch, seq) seen in each room, the session token, the duplicate and gap rules applied to every
// room message, the `es_resume` parameter sent on reconnect, and a copy in sessionStorage so a
// reloaded page resumes too.

/** One room's position: epoch, last seq seen, and the seq it was (re)set to by `recovered: false`. */
interface Position {
  e: string;
  s: number;
  /** Messages at or below this were never seen here (skipped by a reset): they veto nothing. */
  f: number;
}

/** At most this many rooms are remembered and presented: the server ignores a bigger resume. */
const MAX_ROOMS = 100;
/** The server ignores an `es_resume` longer than this (base64url characters). */
const MAX_RESUME = 4096;

/** A message's positions: `{ room: [epoch, seq] }`. */
export type At = Record<string, [string, number]>;

/** The storage the client keeps its positions in: sessionStorage's shape. */
export interface PositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export class Positions {
  /** Remembered rooms, least recently advanced first (bounded by MAX_ROOMS). */
  #rooms = new Map<string, Position>();
  /** Rooms the server joined this connection to. */
  #joined = new Set<string>();
  /** A gap was seen on this connection: nothing more is taken until the resume. */
  #gap = false;
  #saving: ReturnType<typeof setTimeout> | undefined;
  token: string | undefined;
  id: string | undefined;

  constructor(
    readonly key: string,
    readonly storage: PositionStorage | null,
  ) {
    try {
      const saved = JSON.parse(storage?.getItem(key) ?? "null") as {
        token?: unknown;
        rooms?: Record<string, { epoch: unknown; seq: unknown }>;
      } | null;
      if (typeof saved?.token === "string") this.token = saved.token;
      for (const [room, p] of Object.entries(saved?.rooms ?? {})) {
        if (typeof p.epoch === "string" && typeof p.seq === "number")
          this.#set(room, p.epoch, p.seq);
      }
    } catch {
      // An unreadable copy is a fresh start.
    }
  }

  /** A new connection: it has joined nothing yet. */
  reset(): void {
    this.#joined.clear();
    this.#gap = false;
  }

  session(id: unknown, token: unknown): void {
    if (typeof id === "string") this.id = id;
    if (typeof token === "string") this.token = token;
    this.#save();
  }

  /** `$joined`: returns whether the room was recovered. */
  joined(room: string, epoch: unknown, seq: unknown, recovered: unknown): boolean {
    this.#joined.add(room);
    const p = this.#rooms.get(room);
    const ok = recovered === true && p !== undefined && p.e === epoch;
    if (typeof epoch === "string" && typeof seq === "number") {
      if (!ok) this.#set(room, epoch, seq);
    } else this.#rooms.delete(room);
    this.#save();
    return ok;
  }

  left(room: string): void {
    this.#joined.delete(room);
    this.#rooms.delete(room);
    this.#save();
  }

  /**
   * Applies a room message's positions. Returns whether the app gets it: it advanced a joined
   * room and no joined room has already delivered it (a message none of whose rooms this client
   * joined came another way: delivered). A gap (a joined room skipped a seq) advances nothing
   * and delivers nothing, now or later on this connection: the client must resume, and the
   * replay brings this message again, in its place. A joined room whose epoch differs is left
   * out when another joined room of the message has the current epoch (an old message, replayed
   * for that other room, from before this room lost its history); otherwise it is a gap too.
   */
  accept(at: At): { deliver: boolean; gap: boolean } {
    if (this.#gap) return { deliver: false, gap: true };
    const advance: [string, Position][] = [];
    let mine = false;
    let current = false;
    let otherEpoch = false;
    let skip = false;
    let seen = false;
    for (const room in at) {
      const p = this.#rooms.get(room);
      if (!this.#joined.has(room) || p === undefined) continue;
      mine = true;
      const pos = at[room];
      const s = pos?.[1];
      if (typeof s !== "number" || pos?.[0] !== p.e) {
        otherEpoch = true;
        continue;
      }
      current = true;
      if (s > p.s + 1) {
        skip = true;
        break;
      }
      if (s === p.s + 1) advance.push([room, p]);
      else if (s > p.f) seen = true;
    }
    if (skip || (otherEpoch && !current)) {
      this.#gap = true;
      return { deliver: false, gap: true };
    }
    for (const [room, p] of advance) this.#set(room, p.e, p.s + 1, p.f);
    if (advance.length > 0) this.#save();
    return { deliver: !mine || (advance.length > 0 && !seen), gap: false };
  }

  /** The `es_resume` value for the next connection (bounded), or undefined with nothing to resume. */
  resume(): string | undefined {
    const rooms = [...this.#rooms].reverse();
    for (;;) {
      if (this.token === undefined && rooms.length === 0) return undefined;
      const value = base64url(
        JSON.stringify({
          token: this.token,
          rooms: Object.fromEntries(rooms.map(([r, p]) => [r, { epoch: p.e, seq: p.s }])),
        }),
      );
      if (value.length <= MAX_RESUME) return value;
      if (rooms.length === 0) return undefined;
      rooms.pop();
    }
  }

  /** Writes the pending copy now (page hiding, client closing). */
  flush(): void {
    if (this.#saving === undefined) return;
    clearTimeout(this.#saving);
    this.#write();
  }

  #write(): void {
    this.#saving = undefined;
    try {
      this.storage?.setItem(
        this.key,
        JSON.stringify({
          token: this.token,
          rooms: Object.fromEntries(
            [...this.#rooms].map(([r, p]) => [r, { epoch: p.e, seq: p.s }]),
          ),
        }),
      );
    } catch {
      // Storage full or refused: positions still live in memory.
    }
  }

  #set(room: string, e: string, s: number, f = s): void {
    this.#rooms.delete(room);
    this.#rooms.set(room, { e, s, f });
    if (this.#rooms.size > MAX_ROOMS) this.#rooms.delete(this.#rooms.keys().next().value!);
  }

  /** Coalesces writes: one per burst of messages. */
  #save(): void {
    if (this.storage !== null && this.#saving === undefined) {
      this.#saving = setTimeout(() => this.#write(), 50);
    }
  }
}

/** base64url of a string's UTF-8 bytes, without padding. */
function base64url(text: string): string {
  let bin = "";
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
