// The resume request a reconnecting client puts in its WebSocket URL (RECOVERY-PROTOCOL.md §1):
// `es_resume=<base64url(JSON)>`, `{"token"?: string, "rooms"?: {room: {"epoch", "seq"}}}`. Read
// once at bind into `socket.resume`, before the handler runs (it joins rooms right away).
// Bounded: a longer value, more rooms, or anything malformed is ignored as a whole (a fresh
// session), never an error for the handshake.

/** The query parameter. */
export const RESUME_PARAM = "es_resume";
/** Longest accepted value, in base64url characters. */
export const MAX_RESUME_LENGTH = 4096;
/** Most rooms a resume may name. */
export const MAX_RESUME_ROOMS = 100;

/** A room's last position the client saw: its epoch and the last sequence number. */
export interface RoomPosition {
  readonly epoch: string;
  readonly seq: number;
}

/** What a reconnecting client presented (`socket.resume`): verify the token before trusting it. */
export interface Resume {
  /** The session token it was given (unverified: the hub checks its signature). */
  readonly token?: string;
  /** Its last position per room (a null-prototype object: any room name is safe as a key). */
  readonly rooms: Readonly<Record<string, RoomPosition>>;
}

/** The resume of a request URL: the value, or why it was ignored (for a debug line), or neither. */
export function parseResume(url: string | undefined): { resume?: Resume; ignored?: string } {
  const q = url?.indexOf("?") ?? -1;
  if (url === undefined || q < 0) return {};
  const values = new URLSearchParams(url.slice(q + 1)).getAll(RESUME_PARAM);
  if (values.length === 0) return {};
  if (values.length > 1) return { ignored: `${values.length} ${RESUME_PARAM} parameters` };
  const raw = values[0]!;
  if (raw.length > MAX_RESUME_LENGTH) {
    return { ignored: `${RESUME_PARAM} longer than ${MAX_RESUME_LENGTH} characters` };
  }
  if (!/^[A-Za-z0-9_-]*$/.test(raw)) return { ignored: `${RESUME_PARAM} is not base64url` };
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    return { ignored: `${RESUME_PARAM} is not JSON` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ignored: `${RESUME_PARAM} is not a JSON object` };
  }
  const { token, rooms } = value as { token?: unknown; rooms?: unknown };
  if (token !== undefined && typeof token !== "string") {
    return { ignored: `${RESUME_PARAM} token is not a string` };
  }
  const out: Record<string, RoomPosition> = Object.create(null) as Record<string, RoomPosition>;
  if (rooms !== undefined) {
    if (typeof rooms !== "object" || rooms === null || Array.isArray(rooms)) {
      return { ignored: `${RESUME_PARAM} rooms is not an object` };
    }
    const entries = Object.entries(rooms);
    if (entries.length > MAX_RESUME_ROOMS) {
      return { ignored: `${RESUME_PARAM} names more than ${MAX_RESUME_ROOMS} rooms` };
    }
    for (const [room, p] of entries) {
      const { epoch, seq } = (p ?? {}) as { epoch?: unknown; seq?: unknown };
      if (typeof epoch !== "string" || !Number.isSafeInteger(seq) || (seq as number) < 0) {
        return { ignored: `${RESUME_PARAM} position of room ${JSON.stringify(room)} is malformed` };
      }
      out[room] = Object.freeze({ epoch, seq: seq as number });
    }
  }
  const resume: Resume =
    token === undefined ? { rooms: Object.freeze(out) } : { token, rooms: Object.freeze(out) };
  return { resume: Object.freeze(resume) };
}
