// One Server-Sent Events stream carrying several followed files, so a page with many tabs holds
// one HTTP connection (browsers allow six per host over HTTP/1.1).
//
// Each file is followed by watchFile() into an in-process socket of its own (transport "json",
// so every value carries the byte offset after its lines); a `select` loop takes from whichever
// is ready, fairly, and forwards it as one event:
//
//   data: {"f": <index of the file in this stream>, "o": <offset after these lines>, "t": "<lines>"}
//   id:   <offset of file 0>,<offset of file 1>,...   (empty for a file that has sent nothing yet)
//
// The id is every file's position after this event, so the browser's Last-Event-ID (sent on its
// own reconnect) resumes every file exactly where the page is: no line twice, none missing. The
// same positions may be given as `?o=` parameters (the page uses them when it reconnects by
// itself). Backpressure: each file's socket holds one value; the loop waits on the response's
// own backpressure, so a slow page slows its followers, and a follower that falls more than
// `maxQueueBytes` behind ends the stream (1013 in the log) for the page to resume.

import { Channel } from "../channels/channel";
import { select } from "../channels/select";
import type { CloseInfo, DisconnectRequest, Socket } from "../core/socket";
import { SseEvent, type SseSocket } from "../sse/sse";
import { watchFile, type WatchFileOptions } from "../tail/tail";

/** What one file's follower sends on a json socket (see sockets.tail). */
interface JsonChunk {
  offset: number;
  data: string;
}

/** A socket that only exists in this process: watchFile writes into it, the loop reads from it. */
interface InnerSocket {
  socket: Socket<unknown, unknown>;
  sender: Channel<unknown>;
  done: Channel<CloseInfo>;
}

function innerSocket(outer: SseSocket, index: number): InnerSocket {
  const sender = new Channel<unknown>(1);
  const done = new Channel<CloseInfo>(1);
  const disconnect = new Channel<DisconnectRequest>(1);
  const receiver = new Channel<never>(0);
  receiver.close();
  // A follower that gives up (too slow: 1013; failed: 1011) ends the whole stream: the page
  // reconnects with its positions and loses nothing.
  disconnect.recv().then(
    (r) => {
      if (!r.done) outer.disconnect.trySend(r.value);
    },
    () => undefined,
  );
  const socket: Socket<unknown, unknown> = Object.freeze({
    receiver,
    sender,
    done,
    disconnect,
    error: new Channel<Error>(1),
    id: `${outer.id}#${index}`,
    transport: "json" as const,
    data: {},
  });
  return { socket, sender, done };
}

/**
 * Streams `paths` into the SSE socket until it closes. `starts[i]` is where file i resumes (a
 * byte offset), or undefined for its last `tail.lines` lines.
 */
export async function streamFiles(
  paths: readonly string[],
  starts: readonly (number | undefined)[],
  socket: SseSocket,
  tail: Omit<WatchFileOptions, "from" | "signal">,
): Promise<void> {
  const positions = starts.map((s) => (s === undefined ? "" : String(s)));
  const inner = paths.map((_, i) => innerSocket(socket, i));
  const finish = (info: CloseInfo): void => {
    for (const s of inner) {
      s.done.trySend(info);
      s.done.close();
      s.sender.close();
    }
  };
  const watching = paths.map((file, i) =>
    watchFile(file, inner[i]!.socket, { ...tail, from: starts[i] }),
  );
  void socket.done.recv().then(
    (r) => finish(r.done ? { code: 1001, reason: "" } : r.value),
    () => finish({ code: 1001, reason: "" }),
  );
  const cases: Record<string, Channel<unknown>> = {};
  inner.forEach((s, i) => (cases[String(i)] = s.sender));
  try {
    for await (const c of select(cases)) {
      const f = Number(c.from);
      const chunk = c.value as JsonChunk;
      positions[f] = String(chunk.offset);
      const event = new SseEvent(
        { f, o: chunk.offset, t: chunk.data },
        { id: positions.join(",") },
      );
      await socket.sender.send(event);
    }
  } catch {
    // The stream closed while an event waited: the page resumes from the id it last saw.
  } finally {
    finish({ code: 1001, reason: "" });
    await Promise.all(watching);
  }
}
