// Line framing for followed files: turns the Buffers read from a file into messages of whole
// lines. Every message ends in `\n` and holds at most `maxBytes` bytes; a partial last line waits
// for its newline. A single line longer than `maxBytes` is the one exception: it is cut at a UTF-8
// character boundary, so no character is ever split. Splitting happens on byte 0x0A, which never
// occurs inside a multi-byte UTF-8 sequence, so the file's bytes are never decoded here.

const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);
const NEWLINE_BUFFER = Buffer.from("\n");

/** Where a message ends: emitted bytes and the file offset just after them. */
export type Emit = (data: Buffer, end: number) => void;

/**
 * The largest cut at or before `limit` in `buf` (searching no lower than `start + 1`) that does
 * not fall inside a UTF-8 sequence. Invalid UTF-8 (only continuation bytes) is cut at `limit`.
 */
export function utf8Boundary(buf: Buffer, start: number, limit: number): number {
  let cut = limit;
  // A byte 10xxxxxx continues a character: the cut must come before its lead byte.
  while (cut > start && cut < buf.length && ((buf[cut] as number) & 0xc0) === 0x80) cut--;
  return cut > start ? cut : limit;
}

/**
 * Accumulates bytes read from one file and emits messages of whole lines, tracking the byte
 * offset just after the last emitted byte (`end`). Holds at most one partial line (bounded by
 * `maxBytes`: a longer one is emitted in pieces).
 */
export class LineFramer {
  private pending: Buffer = EMPTY;
  private emitted: number;

  constructor(
    readonly maxBytes: number,
    start = 0,
  ) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 4) {
      throw new RangeError(`maxBytes must be an integer >= 4, got ${String(maxBytes)}`);
    }
    this.emitted = start;
  }

  /** Offset just after the last emitted byte. */
  get end(): number {
    return this.emitted;
  }

  /** Bytes held back waiting for a newline. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Starts over at `offset` (a new file or a truncation), forgetting any partial line. */
  reset(offset: number): void {
    this.pending = EMPTY;
    this.emitted = offset;
  }

  /** Adds the next bytes of the file; emits every complete message they make. */
  push(chunk: Buffer, emit: Emit): void {
    if (chunk.length === 0) return;
    const lastNewline = chunk.lastIndexOf(NEWLINE);
    if (lastNewline < 0) {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      this.cutLongLine(emit);
      return;
    }
    const head = chunk.subarray(0, lastNewline + 1);
    const data = this.pending.length === 0 ? head : Buffer.concat([this.pending, head]);
    this.pending = chunk.subarray(lastNewline + 1);
    this.emitLines(data, emit);
    this.cutLongLine(emit);
  }

  /**
   * Emits a held partial line followed by a `\n` that is not in the file: used when the file
   * ends for good (rotated away, truncated, deleted), so its last bytes are not lost and every
   * message still ends in a newline. The offset is the file's, without the added newline.
   */
  finish(emit: Emit): void {
    if (this.pending.length === 0) return;
    const data = Buffer.concat([this.pending, NEWLINE_BUFFER]);
    this.emitted += this.pending.length;
    this.pending = EMPTY;
    emit(data, this.emitted);
  }

  /** Emits a held partial line as it is (the end of a range that stops mid-line). */
  flushRaw(emit: Emit): void {
    if (this.pending.length === 0) return;
    const data = this.pending;
    this.pending = EMPTY;
    this.emitted += data.length;
    emit(data, this.emitted);
  }

  /** Emits `data` (whole lines) in messages of at most maxBytes, split after newlines. */
  private emitLines(data: Buffer, emit: Emit): void {
    const max = this.maxBytes;
    let start = 0;
    while (data.length - start > max) {
      const nl = data.lastIndexOf(NEWLINE, start + max - 1);
      const cut = nl >= start ? nl + 1 : utf8Boundary(data, start, start + max);
      this.emitted += cut - start;
      emit(data.subarray(start, cut), this.emitted);
      start = cut;
    }
    if (start < data.length) {
      this.emitted += data.length - start;
      emit(start === 0 ? data : data.subarray(start), this.emitted);
    }
  }

  /** A partial line longer than maxBytes is emitted in character-aligned pieces of maxBytes or less. */
  private cutLongLine(emit: Emit): void {
    const max = this.maxBytes;
    while (this.pending.length > max) {
      const cut = utf8Boundary(this.pending, 0, max);
      const piece = this.pending.subarray(0, cut);
      this.pending = this.pending.subarray(cut);
      this.emitted += piece.length;
      emit(piece, this.emitted);
    }
  }
}
