// One events connection: a WebSocket Connection (same channels, keep-alive, backpressure and
// close) whose messages are named events, with acknowledgements both ways.
//
// Incoming frames are sorted before the receiver: an event is validated by its schema and
// delivered (with `ack` when the client asked for an answer); an answer settles the server's
// pending request it names and is never delivered; a reserved `$` name this server does not know
// is rejected. A rejected event goes to `error` and, when it asked for an answer, is answered
// with an error of code ERR_INVALID_MESSAGE.
//
// Requests the server sends (`request()`) wait in `pending`, keyed by their ack id. The map is
// bounded by `maxPendingRequests` (one more rejects at once, nothing sent); each entry leaves it
// when answered, timed out, aborted, or when the connection closes (all reject then): a closed
// connection keeps nothing. Answers travel behind the client's earlier events: while reading is
// paused by receive backpressure (a handler not reading `receiver`), an answer waits with them.

import type { WebSocket } from "ws";
import type { Codec } from "../core/codec";
import type { OpOptions, WriteChannel } from "../channels/channel";
import {
  ChannelClosedError,
  InvalidMessageError,
  SocketsError,
  TimeoutError,
} from "../core/errors";
import {
  compileSchema,
  isPromiseLike,
  type Schema,
  type StandardSchemaResult,
  type Validator,
} from "../core/schema";
import { Connection, CONSUMED, type ConnectionOptions } from "../websocket/connection";
import { Encoded, EventsCodec, type Outgoing } from "./codec";
import {
  checkOutgoingName,
  encodeAnswer,
  encodeErrorAnswer,
  encodeRequest,
  ERR_INVALID_MESSAGE,
  type WireAnswer,
} from "./protocol";
import type { Resume } from "./resume";
import type { Ack, EventMessage } from "./types";

/**
 * The client answered a `request()` with an error: `code` and `message` are the client's own
 * (`{"ack": n, "error": {"code", "message"}}`).
 */
export class AnswerError extends SocketsError {
  /** The event that was requested. */
  readonly event: string;
  constructor(code: string, message: string, event: string) {
    super(code, message);
    this.event = event;
  }
}

const NOOP = (): void => {};
/** The client's heartbeat and its answer (RECOVERY-PROTOCOL.md §5). */
const PING = "$ping";
const PONG = new Encoded('{"event":"$pong"}');
/** Error answers to rejected requests that may wait for room in the sender (see `refuse`). */
export const MAX_WAITING_REFUSALS = 16;
const RESOLVED: Promise<void> = Promise.resolve();

/** A request sent to the client and not yet answered. */
class Pending {
  timer: NodeJS.Timeout | null = null;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | null = null;
  constructor(
    readonly event: string,
    readonly resolve: (value: unknown) => void,
    readonly reject: (reason: unknown) => void,
    readonly validate: Validator<unknown> | null,
  ) {}
}

function onRequestTimeout(c: EventsConnection, id: number, ms: number): void {
  c.timedOut(id, ms);
}

/** A WebSocket connection of `sockets.events()`. Create it with `bindEvents()`. */
export class EventsConnection extends Connection<EventMessage, Outgoing> {
  /** Requests sent and not yet answered, by ack id. Allocated on the first request. */
  private pending: Map<number, Pending> | null = null;
  /** The next ack id this server gives a request: 0, 1, 2... */
  private nextAck = 0;
  /** What the client presented to resume (`es_resume` in its URL), read at bind; see resume.ts. */
  resume: Resume | undefined = undefined;
  /** Error answers waiting for room in the sender, and those dropped (see `refuse`). */
  private waitingRefusals = 0;
  private droppedAnswers = 0;

  override get transport(): "events" {
    return "events";
  }

  private get events(): EventsCodec {
    return this.codec as EventsCodec;
  }

  get pendingRequests(): number {
    return this.pending === null ? 0 : this.pending.size;
  }

  // ------------------------------------------------------------------ incoming

  protected override decode(
    data: Buffer,
    isBinary: boolean,
  ): EventMessage | Promise<EventMessage> | typeof CONSUMED {
    const codec = this.events;
    const msg = codec.parse(data, isBinary);
    if (msg.answer) {
      this.answered(msg, data);
      return CONSUMED;
    }
    if (msg.event === PING) {
      // The client's heartbeat: answered at once, never delivered. A full sender already holds
      // frames for the client (each one shows it the link lives), so the pong is then skipped.
      (this.sender as WriteChannel<Outgoing>).trySend(PONG);
      return CONSUMED;
    }
    const id = msg.ack;
    if (id === undefined) return codec.validate(msg, undefined, data);
    let value: EventMessage | Promise<EventMessage>;
    try {
      value = codec.validate(msg, this.acker(id, msg.event), data);
    } catch (err) {
      this.refuse(id, err);
      throw err;
    }
    if (value instanceof Promise) {
      return value.catch((err: unknown) => {
        this.refuse(id, err);
        throw err;
      });
    }
    return value;
  }

  /** The `ack` of an event whose sender asked for an answer: answers once. */
  private acker(id: number, event: string): Ack {
    let answered = false;
    return (value) => {
      if (answered) {
        throw new SocketsError(
          "ERR_ACK_ALREADY_SENT",
          `event ${JSON.stringify(event)} (ack ${id}) was already answered: ack() answers once`,
        );
      }
      const text = encodeAnswer(id, value);
      answered = true;
      return this.sendEnvelope(text);
    };
  }

  /**
   * Answers a rejected event with ERR_INVALID_MESSAGE (the error itself goes to `error`). These
   * answers are caused by what the client sends, so they are bounded: when the sender has no
   * room, at most MAX_WAITING_REFUSALS wait for it; beyond that a client that sends bad requests
   * without reading loses the answers, counted and logged (the first, then every 100th).
   */
  private refuse(id: number, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const answer = new Encoded(encodeErrorAnswer(id, ERR_INVALID_MESSAGE, message));
    const tx = this.sender as WriteChannel<Outgoing>;
    if (tx.trySend(answer)) return;
    if (tx.closed) return; // the connection is ending: counted as undelivered by it
    if (this.waitingRefusals < MAX_WAITING_REFUSALS) {
      this.waitingRefusals++;
      const done = (): void => {
        this.waitingRefusals--;
      };
      tx.send(answer).then(done, done);
      return;
    }
    if (this.droppedAnswers++ % 100 === 0) {
      this.options.log.warning(
        this.remote,
        `error answer to ack ${id} dropped: the client is not reading (${this.droppedAnswers} dropped so far)`,
      );
    }
  }

  /** An answer from the client: settles the request it names. */
  private answered(msg: WireAnswer, raw: Buffer): void {
    const p = this.pending?.get(msg.ack);
    if (p === undefined) {
      if (msg.ack < this.nextAck) {
        // It timed out or was aborted: the request already rejected.
        this.options.log.debug(this.remote, `answer to ack ${msg.ack} came too late; dropped`);
        return;
      }
      const message = `an answer to ack ${msg.ack}, which this server never sent`;
      throw new InvalidMessageError(message, raw.toString(), [{ message, path: ["ack"] }]);
    }
    this.settle(msg.ack, p);
    if (msg.error !== undefined) {
      p.reject(new AnswerError(msg.error.code, msg.error.message, p.event));
      return;
    }
    const validate = p.validate;
    if (validate === null) {
      p.resolve(msg.data);
      return;
    }
    const event = p.event;
    const check = (r: StandardSchemaResult<unknown>): void => {
      if (r.issues === undefined) {
        p.resolve(r.value);
        return;
      }
      const first = r.issues[0]?.message ?? "invalid";
      p.reject(
        new InvalidMessageError(
          `the answer to ${JSON.stringify(event)} (ack ${msg.ack}) failed validation: ${first}`,
          raw.toString(),
          r.issues,
        ),
      );
    };
    try {
      const result = validate(msg.data);
      if (isPromiseLike<StandardSchemaResult<unknown>>(result)) {
        Promise.resolve(result).then(check, p.reject);
      } else {
        check(result);
      }
    } catch (err) {
      p.reject(err);
    }
  }

  // ------------------------------------------------------------------ outgoing

  /** Writes an envelope through the sender (its order and backpressure). Never unhandled. */
  private sendEnvelope(text: string, options?: OpOptions): Promise<void> {
    const tx = this.sender as WriteChannel<Outgoing>;
    const envelope = new Encoded(text);
    // The common case (room to write now) costs no promise chain.
    if (options === undefined && tx.trySend(envelope)) return RESOLVED;
    const sent = tx.send(envelope, options);
    sent.catch(NOOP);
    return sent;
  }

  emit(event: string, data: unknown, options?: OpOptions): Promise<void> {
    return this.sender.send({ event, data }, options);
  }

  request(
    event: string,
    data: unknown,
    options?: { timeout?: number; signal?: AbortSignal | undefined; schema?: Schema | undefined },
  ): Promise<unknown> {
    let text: string;
    let timeout: number;
    let validate: Validator<unknown> | null = null;
    const signal = options?.signal;
    try {
      checkOutgoingName(event);
      timeout = options?.timeout ?? this.events.requestTimeout;
      if (typeof timeout !== "number" || !(timeout >= 0) || timeout > 2_147_483_647) {
        throw new RangeError(
          `request timeout must be a number of ms from 0 (none) to 2147483647, got ${String(timeout)}`,
        );
      }
      if (options?.schema !== undefined) validate = compileSchema(options.schema);
      if (signal?.aborted) throw signal.reason;
      if (!this.writable()) {
        throw new ChannelClosedError(
          `request ${JSON.stringify(event)}: the connection is closing or closed`,
        );
      }
      const pending = (this.pending ??= new Map());
      if (pending.size >= this.events.maxPendingRequests) {
        throw new SocketsError(
          "ERR_TOO_MANY_REQUESTS",
          `request ${JSON.stringify(event)}: ${pending.size} requests already wait for an answer on this connection (maxPendingRequests)`,
        );
      }
      text = encodeRequest(event, data, this.nextAck);
    } catch (err) {
      return Promise.reject(err);
    }
    const id = this.nextAck++;
    return new Promise<unknown>((resolve, reject) => {
      const p = new Pending(event, resolve, reject, validate);
      this.pending!.set(id, p);
      if (timeout > 0) p.timer = setTimeout(onRequestTimeout, timeout, this, id, timeout);
      if (signal !== undefined) {
        p.signal = signal;
        p.onAbort = () => this.fail(id, signal.reason);
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      const sent = this.sendEnvelope(text, signal === undefined ? undefined : { signal });
      if (sent !== RESOLVED) sent.catch((err: unknown) => this.fail(id, err));
    });
  }

  /** Removes a request from `pending` and releases its timer and abort listener. */
  private settle(id: number, p: Pending): void {
    this.pending!.delete(id);
    if (p.timer !== null) clearTimeout(p.timer);
    if (p.onAbort !== null) p.signal!.removeEventListener("abort", p.onAbort);
  }

  /** Rejects a pending request (aborted, or its send failed). */
  private fail(id: number, reason: unknown): void {
    const p = this.pending?.get(id);
    if (p === undefined) return;
    this.settle(id, p);
    p.reject(reason);
  }

  /** @internal A request's timeout passed. */
  timedOut(id: number, ms: number): void {
    const p = this.pending?.get(id);
    if (p === undefined) return;
    p.timer = null;
    this.settle(id, p);
    p.reject(
      new TimeoutError(
        "ERR_REQUEST_TIMEOUT",
        `request ${JSON.stringify(p.event)} (ack ${id}) was not answered within ${ms} ms`,
      ),
    );
  }

  /** @internal The connection closed: every pending request rejects; nothing is kept. */
  override closed_(code: number, reason: string): void {
    super.closed_(code, reason);
    const pending = this.pending;
    if (pending === null || pending === undefined || pending.size === 0) return;
    for (const [id, p] of [...pending]) {
      this.settle(id, p);
      p.reject(
        new ChannelClosedError(
          `request ${JSON.stringify(p.event)} (ack ${id}): the connection closed (${code}) before the client answered`,
        ),
      );
    }
  }
}

/** Binds an accepted ws WebSocket as an events connection (the factory's binder). */
export function bindEvents(
  ws: WebSocket,
  codec: Codec<EventMessage, Outgoing>,
  options: ConnectionOptions,
  remote: string,
  path = "",
): EventsConnection {
  return new EventsConnection(ws, codec, options, remote, path === "" ? "" : ` ${path}`);
}
