// Broadcast: one message to many connections, encoded once and framed once. The same frame
// (header and payload buffers, built by ws's public `WebSocket.Sender.frame`) is written to
// every socket, so a broadcast to N clients costs N socket writes and no per-client encoding,
// UTF-8 conversion or header allocation.
//
// Each connection keeps its own order and backpressure: a connection with queued sends gets
// the frame after them; a backed-up one holds it in its outbox. A broadcast never waits: a
// connection so far behind that it already holds BROADCAST_BACKLOG undelivered broadcast frames
// (a client that stopped reading) misses this one; that is counted in the result, in its
// `stats.broadcastsDropped`, and logged. One slow client never stalls the others.

import { WebSocket } from "ws";
import type { Codec } from "../core/codec";
import { Connection, Frame } from "./connection";
import type { Socket } from "../core/socket";

/** What a broadcast did. */
export interface BroadcastResult {
  /** Connections the message was written to or queued on. */
  readonly delivered: number;
  /** Connections already closing or closed: skipped. */
  readonly closed: number;
  /** Open connections too far behind to take it (their backlog is full): they miss it. */
  readonly dropped: number;
}

interface FrameOptions {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
}

/** `WebSocket.Sender.frame`: public in ws, missing from @types/ws. */
const frameMessage = (
  WebSocket as unknown as {
    Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] };
  }
).Sender.frame;

const TEXT: FrameOptions = { fin: true, rsv1: false, opcode: 0x01, mask: false, readOnly: false };
const BINARY: FrameOptions = { fin: true, rsv1: false, opcode: 0x02, mask: false, readOnly: false };

function frameFor<Out>(codec: Codec<unknown, Out>, message: Out): Frame {
  return frameOf(codec.encode(message));
}

/**
 * @internal One message framed once for many connections (`Connection.offerFrame`): a string
 * as a text frame, a Buffer as a binary frame. Used by `broadcast` and by the Hub.
 */
export function frameOf(encoded: string | Buffer): Frame {
  const payload = typeof encoded === "string" ? Buffer.from(encoded, "utf8") : encoded;
  const parts = frameMessage(payload, typeof encoded === "string" ? TEXT : BINARY);
  // One buffer: every socket then gets a single plain write instead of a corked writev.
  return new Frame(
    [parts.length === 1 ? parts[0]! : Buffer.concat(parts)],
    payload,
    typeof encoded !== "string",
  );
}

/**
 * Sends `message` to every socket in `sockets` without waiting, in each connection's send
 * order. WebSocket connections bound by this package get one shared frame per codec (json,
 * messages and bytes connections may be mixed); other sockets (e.g. Server-Sent Events) get
 * `sender.trySend(message)`. Throws the codec's TypeError if the message cannot be encoded.
 */
export function broadcast<Out>(
  sockets: Iterable<Socket<unknown, Out>>,
  message: Out,
): BroadcastResult {
  let delivered = 0;
  let closed = 0;
  let dropped = 0;
  let lastCodec: Codec<unknown, Out> | null = null;
  let lastFrame: Frame | null = null;
  let frames: Map<Codec<unknown, Out>, Frame> | null = null;
  for (const socket of sockets) {
    if (socket instanceof Connection) {
      const conn = socket as Connection<unknown, Out>;
      const codec = conn.codec;
      let frame: Frame;
      if (codec === lastCodec) {
        frame = lastFrame as Frame;
      } else {
        let cached = frames?.get(codec);
        if (cached === undefined) {
          cached = frameFor(codec, message);
          if (lastCodec !== null) (frames ??= new Map()).set(lastCodec, lastFrame as Frame);
          (frames ??= new Map()).set(codec, cached);
        }
        frame = cached;
        lastCodec = codec;
        lastFrame = frame;
      }
      if (conn.offerFrame(frame)) delivered++;
      else if (conn.sender.closed) closed++;
      else dropped++;
    } else if (socket.sender.closed) {
      closed++;
    } else if (socket.sender.trySend(message)) {
      delivered++;
    } else {
      dropped++;
    }
  }
  return { delivered, closed, dropped };
}
