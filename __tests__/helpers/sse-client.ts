// Test helper: a Server-Sent Events client over a real HTTP connection that parses the stream
// as the HTML standard's EventSource does (fields, multi-line data, ids, comments, retry).

import * as http from "node:http";
import { StringDecoder } from "node:string_decoder";

export interface SseMessage {
  event: string;
  data: string;
  /** The last event id after this event (ids persist, as in EventSource). */
  id: string;
}

export class SseClient {
  readonly events: SseMessage[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  /** Every byte of the body as received. */
  raw = "";
  ended = false;
  readonly closed: Promise<void>;
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private lastId = "";
  private waiters: (() => void)[] = [];
  private readonly decoder = new StringDecoder("utf8");

  private constructor(
    readonly req: http.ClientRequest,
    readonly res: http.IncomingMessage,
  ) {
    res.on("data", (chunk: Buffer) => this.feed(this.decoder.write(chunk)));
    this.closed = new Promise((resolve) => {
      const end = (): void => {
        this.ended = true;
        this.wake();
        resolve();
      };
      res.on("end", end);
      res.on("close", end);
      res.on("error", end);
    });
  }

  /** Connects and resolves once the response headers arrived. */
  static connect(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, {
        headers: { Accept: "text/event-stream", ...headers },
        agent: false,
      });
      req.on("response", (res) => resolve(new SseClient(req, res)));
      req.on("error", reject);
    });
  }

  get status(): number {
    return this.res.statusCode ?? 0;
  }

  get headers(): http.IncomingHttpHeaders {
    return this.res.headers;
  }

  /** Resolves once `predicate` holds (checked after every parsed line), or rejects on timeout. */
  async until(predicate: () => boolean, ms = 3000, what = "condition"): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0 || this.ended) {
        if (predicate()) return;
        throw new Error(`SSE client: timed out waiting for ${what} (${this.events.length} events)`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for `n` events in all. */
  async count(n: number, ms = 3000): Promise<SseMessage[]> {
    await this.until(() => this.events.length >= n, ms, `${n} events`);
    return this.events;
  }

  /** The concatenated data of all events. */
  text(): string {
    return this.events.map((e) => e.data).join("");
  }

  close(): Promise<void> {
    this.req.destroy();
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private feed(text: string): void {
    this.raw += text;
    this.buffer += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (m === null) break;
      // A lone CR at the end may be the start of CRLF: wait for the next byte.
      if (m[0] === "\r" && m.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
    this.wake();
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0) {
        this.events.push({
          event: this.event || "message",
          data: this.data.join("\n"),
          id: this.lastId,
        });
      }
      this.data = [];
      this.event = "";
      return;
    }
    if (line.startsWith(":")) {
      this.comments.push(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }
}
