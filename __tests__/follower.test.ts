// The shared follower and its line framing, against real files: whole lines only, no split UTF-8
// character, one follower per file however many subscribers, released by the last one, bounded
// queues with the overflow policy, and backlog reads that never read a big file whole.

import fc from "fast-check";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import {
  type Chunk,
  follow,
  isLineStart,
  lastLinesStart,
  liveFollowers,
  readRange,
  type Subscription,
} from "../lib/tail/follower";
import { LineFramer, utf8Boundary } from "../lib/tail/lines";

let dir: string;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "follower-"));
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

afterAll(() => {
  expect(liveFollowers()).toBe(0);
});

function frame(maxBytes: number, pieces: (string | Buffer)[]): { data: Buffer; end: number }[] {
  const framer = new LineFramer(maxBytes);
  const out: { data: Buffer; end: number }[] = [];
  for (const p of pieces) {
    framer.push(typeof p === "string" ? Buffer.from(p) : p, (data, end) => {
      out.push({ data: Buffer.from(data), end });
    });
  }
  return out;
}

/** Takes live chunks until `bytes` bytes arrived (or the deadline passes). */
async function take(sub: Subscription, bytes: number, ms = 3000): Promise<Chunk[]> {
  const out: Chunk[] = [];
  let got = 0;
  const deadline = Date.now() + ms;
  while (got < bytes) {
    const c = sub.next();
    if (c !== undefined) {
      out.push(c);
      got += c.data.length;
      continue;
    }
    if (sub.ended !== null) break;
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      sub.wait(),
      new Promise<void>((r) => {
        timer = setTimeout(r, left);
      }),
    ]);
    clearTimeout(timer);
  }
  return out;
}

/** inotify watches this process holds (one line per watch in the inotify fd's fdinfo). */
function inotifyWatches(): number {
  let n = 0;
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      if (!fs.readlinkSync(`/proc/self/fd/${fd}`).includes("inotify")) continue;
      const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
      n += info.split("\n").filter((l) => l.startsWith("inotify wd:")).length;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** Descriptors this process holds on files under `root`. */
function openFilesUnder(root: string): number {
  let n = 0;
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(root)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

const text = (chunks: Chunk[]): string => Buffer.concat(chunks.map((c) => c.data)).toString();

describe("LineFramer", () => {
  it("emits whole lines and holds a partial last line until its newline", () => {
    const out = frame(1024, ["one\ntw", "o\nthr", "ee"]);
    expect(out.map((o) => o.data.toString())).toEqual(["one\n", "two\n"]);
    expect(out.map((o) => o.end)).toEqual([4, 8]);
    const more = new LineFramer(1024);
    const got: string[] = [];
    more.push(Buffer.from("abc"), (d) => got.push(d.toString()));
    expect(got).toEqual([]);
    expect(more.pendingBytes).toBe(3);
    more.push(Buffer.from("\n"), (d) => got.push(d.toString()));
    expect(got).toEqual(["abc\n"]);
  });

  it("never splits a UTF-8 character that arrives in two reads", () => {
    const euro = Buffer.from("€\n"); // e2 82 ac 0a
    const out = frame(1024, [euro.subarray(0, 2), euro.subarray(2)]);
    expect(out).toHaveLength(1);
    expect(out[0]?.data.toString()).toBe("€\n");
  });

  it("groups lines into messages of at most maxBytes, cut after a newline", () => {
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join("");
    const out = frame(32, [lines]);
    for (const o of out) {
      expect(o.data.length).toBeLessThanOrEqual(32);
      expect(o.data[o.data.length - 1]).toBe(0x0a);
    }
    expect(Buffer.concat(out.map((o) => o.data)).toString()).toBe(lines);
    expect(out[out.length - 1]?.end).toBe(Buffer.byteLength(lines));
  });

  it("cuts a line longer than maxBytes at character boundaries only", () => {
    const long = "é".repeat(100) + "\n"; // 2-byte characters: an odd limit would split one
    const out = frame(11, [long]);
    for (const o of out) {
      expect(o.data.length).toBeLessThanOrEqual(11);
      expect(o.data.toString()).not.toContain("\ufffd");
    }
    expect(out.map((o) => o.data.toString()).join("")).toBe(long);
  });

  it("cuts an over-long partial line without waiting for its newline", () => {
    const out = frame(8, ["aaaaaaaaaaaaaaaaaaaa"]);
    expect(out.map((o) => o.data.toString())).toEqual(["aaaaaaaa", "aaaaaaaa"]);
    expect(out[1]?.end).toBe(16);
  });

  it("finish() flushes a partial line with a newline but keeps the file's offset", () => {
    const framer = new LineFramer(64);
    const got: [string, number][] = [];
    framer.push(Buffer.from("a\npartial"), (d, e) => got.push([d.toString(), e]));
    framer.finish((d, e) => got.push([d.toString(), e]));
    expect(got).toEqual([
      ["a\n", 2],
      ["partial\n", 9],
    ]);
  });

  it("rejects a limit too small to hold a character", () => {
    expect(() => new LineFramer(3)).toThrow(RangeError);
  });

  it("utf8Boundary backs off continuation bytes", () => {
    const b = Buffer.from("a€b"); // 61 e2 82 ac 62
    expect(utf8Boundary(b, 0, 2)).toBe(1);
    expect(utf8Boundary(b, 0, 3)).toBe(1);
    expect(utf8Boundary(b, 0, 4)).toBe(4);
  });
});

describe("LineFramer properties", () => {
  // Text with ASCII, 2-, 3- and 4-byte characters and newlines, cut into arbitrary byte pieces.
  const textArb = fc
    .array(fc.constantFrom("a", "z", " ", "\n", "\n", "é", "€", "𝄞", "ü\n"), { maxLength: 300 })
    .map((parts) => Buffer.from(parts.join("")));
  const cutsArb = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 });

  it("whatever the read sizes: every byte once, in order, whole lines, whole characters", () => {
    fc.assert(
      fc.property(textArb, cutsArb, fc.integer({ min: 4, max: 64 }), (bytes, cuts, max) => {
        const framer = new LineFramer(max);
        const out: { data: Buffer; end: number }[] = [];
        const emit = (data: Buffer, end: number): void => {
          out.push({ data: Buffer.from(data), end });
        };
        let pos = 0;
        for (let i = 0; pos < bytes.length; i++) {
          const n = cuts[i % cuts.length] as number;
          framer.push(bytes.subarray(pos, pos + n), emit);
          pos += n;
        }
        const joined = Buffer.concat(out.map((o) => o.data));
        // Everything up to the last newline is out, nothing after it that fits in a message.
        expect(bytes.subarray(0, joined.length).equals(joined)).toBe(true);
        expect(framer.end).toBe(joined.length);
        expect(joined.length + framer.pendingBytes).toBe(bytes.length);
        expect(framer.pendingBytes).toBeLessThanOrEqual(max);
        expect(bytes.subarray(joined.length).includes(0x0a)).toBe(false);
        let end = 0;
        for (const o of out) {
          end += o.data.length;
          expect(o.end).toBe(end);
          expect(o.data.length).toBeLessThanOrEqual(max);
          expect(o.data.length).toBeGreaterThan(0);
          // Each message decodes on its own: no character is split.
          expect(Buffer.from(o.data.toString("utf8")).equals(o.data)).toBe(true);
          // Whole lines, unless a line longer than max had to be cut.
          if (o.data[o.data.length - 1] !== 0x0a) expect(o.data.length).toBeGreaterThan(max - 4);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("backlog reads", () => {
  it("lastLinesStart finds the last N lines, with or without a final newline", async () => {
    const file = path.join(dir, "a.log");
    await fsp.writeFile(file, "1\n22\n333\n4444\n");
    const fh = await fsp.open(file, "r");
    try {
      expect(await lastLinesStart(fh, 14, 2)).toBe(5);
      expect(await lastLinesStart(fh, 14, 4)).toBe(0);
      expect(await lastLinesStart(fh, 14, 99)).toBe(0);
      expect(await lastLinesStart(fh, 14, 0)).toBe(14);
      expect(await lastLinesStart(fh, 9, 1)).toBe(5); // a range ending mid-file
      expect(await isLineStart(fh, 5)).toBe(true);
      expect(await isLineStart(fh, 6)).toBe(false);
      expect(await isLineStart(fh, 0)).toBe(true);
    } finally {
      await fh.close();
    }
  });

  it("finds the last lines of a 2 GB file without reading it whole", async () => {
    const file = path.join(dir, "big.log");
    const tail = Array.from({ length: 20 }, (_, i) => `tail line ${i}\n`).join("");
    const size = 2 * 1024 ** 3;
    await fsp.writeFile(file, "");
    await fsp.truncate(file, size); // sparse: 2 GB of zeros without newlines, then the lines
    await fsp.appendFile(file, tail);
    const fh = await fsp.open(file, "r");
    try {
      const started = process.hrtime.bigint();
      const end = size + Buffer.byteLength(tail);
      const start = await lastLinesStart(fh, end, 10);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      expect(buf.toString()).toBe(tail.split("\n").slice(10).join("\n"));
      expect(ms).toBeLessThan(500); // reading 2 GB would take seconds
    } finally {
      await fh.close();
    }
  });

  it("readRange streams a range as whole-line chunks in bounded pieces", async () => {
    const file = path.join(dir, "r.log");
    const body = Array.from({ length: 5000 }, (_, i) => `row ${i} ünïcödé\n`).join("");
    await fsp.writeFile(file, body);
    const fh = await fsp.open(file, "r");
    try {
      const chunks: Chunk[] = [];
      for await (const c of readRange(fh, 0, Buffer.byteLength(body), 1000)) chunks.push(c);
      expect(chunks.length).toBeGreaterThan(50);
      for (const c of chunks) {
        expect(c.data.length).toBeLessThanOrEqual(1000);
        expect(c.data[c.data.length - 1]).toBe(0x0a);
      }
      expect(text(chunks)).toBe(body);
      expect(chunks[chunks.length - 1]?.end).toBe(Buffer.byteLength(body));
    } finally {
      await fh.close();
    }
  });
});

describe("follow()", () => {
  it("delivers appends through file-system events, not a poll", async () => {
    const file = path.join(dir, "app.log");
    await fsp.writeFile(file, "old line\n");
    const sub = await follow(file, { pollInterval: 0 });
    try {
      expect(sub.end).toBe(9);
      expect(sub.file).not.toBeNull();
      const started = Date.now();
      await fsp.appendFile(file, "new line\n");
      const got = await take(sub, 9);
      expect(text(got)).toBe("new line\n");
      expect(got[0]?.end).toBe(18);
      expect(Date.now() - started).toBeLessThan(500);
    } finally {
      sub.close();
    }
    expect(liveFollowers()).toBe(0);
  });

  it("holds a partial line until its newline is written", async () => {
    const file = path.join(dir, "partial.log");
    await fsp.writeFile(file, "");
    const sub = await follow(file, { pollInterval: 0 });
    try {
      await fsp.appendFile(file, "half a li");
      expect(await take(sub, 1, 150)).toEqual([]);
      await fsp.appendFile(file, "ne\nnext");
      const got = await take(sub, 12);
      expect(text(got)).toBe("half a line\n");
    } finally {
      sub.close();
    }
  });

  it("shares one follower among many subscribers and releases it with the last", async () => {
    const file = path.join(dir, "shared.log");
    await fsp.writeFile(file, "");
    const subs = await Promise.all(Array.from({ length: 100 }, () => follow(file)));
    expect(liveFollowers()).toBe(1);
    const body = Array.from({ length: 200 }, (_, i) => `event ${i}\n`).join("");
    for (let i = 0; i < body.length; i += 97) await fsp.appendFile(file, body.slice(i, i + 97));
    const all = await Promise.all(subs.map((s) => take(s, body.length)));
    for (const got of all) expect(text(got)).toBe(body);
    // One read of each byte: every subscriber holds the very same chunk objects.
    expect(all.every((got) => got.length === all[0]?.length)).toBe(true);
    expect(all.every((got) => got.every((c, i) => c === all[0]?.[i]))).toBe(true);
    for (const s of subs.slice(1)) s.close();
    expect(liveFollowers()).toBe(1);
    subs[0]?.close();
    expect(liveFollowers()).toBe(0);
  });

  it("stops feeding a subscriber past its queue limit without holding up the others", async () => {
    const file = path.join(dir, "slow.log");
    await fsp.writeFile(file, "");
    const slow = await follow(file, { maxQueueBytes: 4096 });
    const fast = await follow(file, { maxQueueBytes: 4096 });
    try {
      const line = "x".repeat(99) + "\n";
      let received = "";
      for (let i = 0; i < 100; i++) {
        await fsp.appendFile(file, line);
        received += text(await take(fast, 100)); // the fast one keeps up; the slow one never reads
      }
      expect(received).toBe(line.repeat(100));
      expect(slow.ended).toBe("overflow");
      expect(slow.queued).toBe(0); // its queue was released
      expect(fast.ended).toBeNull();
    } finally {
      slow.close();
      fast.close();
    }
  });

  it("waits for a file that does not exist yet and reads it from its start", async () => {
    const file = path.join(dir, "later.log");
    const sub = await follow(file, { pollInterval: 0 });
    try {
      expect(sub.file).toBeNull();
      await fsp.writeFile(file, "first\nsecond\n");
      expect(text(await take(sub, 13))).toBe("first\nsecond\n");
    } finally {
      sub.close();
    }
  });

  it("holds one watcher set and one descriptor per file, all released by the last subscriber", async () => {
    const real = await fsp.realpath(dir);
    const file = path.join(real, "watched.log");
    await fsp.writeFile(file, "x\n");
    const watchesBefore = inotifyWatches();
    const subs = await Promise.all(Array.from({ length: 20 }, () => follow(file)));
    // The file and its directory: two watches and one descriptor, however many subscribers
    // (each new subscriber's backlog descriptor is the follower's, shared).
    expect(inotifyWatches() - watchesBefore).toBe(2);
    for (const s of subs) s.releaseFile();
    expect(openFilesUnder(real)).toBe(1);
    for (const s of subs) s.close();
    expect(liveFollowers()).toBe(0);
    const deadline = Date.now() + 1000;
    while (openFilesUnder(real) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    expect(openFilesUnder(real)).toBe(0);
    expect(inotifyWatches()).toBe(watchesBefore);
  });

  it("finds a file whose directory appears later, through the poll", async () => {
    // Nothing can be watched yet: only the stat poll can notice the directory and the file.
    const file = path.join(dir, "later", "deeper", "app.log");
    const sub = await follow(file, { pollInterval: 30 });
    try {
      expect(sub.file).toBeNull();
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.writeFile(file, "found by polling\n");
      expect(text(await take(sub, 17))).toBe("found by polling\n");
      // Once found, the directory is watched too: an append arrives without waiting for polls.
      await fsp.appendFile(file, "then by events\n");
      expect(text(await take(sub, 15))).toBe("then by events\n");
    } finally {
      sub.close();
    }
  });
});
