// The codecs on their own: what each decodes and encodes, and how each rejects bad input.

import { bytesCodec, jsonCodec, textCodec } from "../lib/core/codec";
import { InvalidMessageError } from "../lib/core/errors";
import { z } from "zod";

const utf8 = (s: string) => Buffer.from(s, "utf8");

describe("jsonCodec", () => {
  it("parses text and binary frames holding JSON", () => {
    const codec = jsonCodec();
    expect(codec.transport).toBe("json");
    expect(codec.decode(utf8('{"a":[1,"é"]}'), false)).toEqual({ a: [1, "é"] });
    expect(codec.decode(utf8("42"), true)).toBe(42);
  });

  it("throws InvalidMessageError with the text and one issue for bad JSON", () => {
    const codec = jsonCodec();
    let caught: unknown;
    try {
      codec.decode(utf8("{oops"), false);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidMessageError);
    const e = caught as InvalidMessageError;
    expect(e.code).toBe("ERR_INVALID_MESSAGE");
    expect(e.data).toBe("{oops");
    expect(e.issues).toHaveLength(1);
    expect(e.message).toMatch(/^message is not valid JSON/);
  });

  it("rejects a binary frame that is not UTF-8, keeping the raw bytes", () => {
    const raw = Buffer.from([0x7b, 0xff, 0x7d]);
    try {
      jsonCodec().decode(raw, true);
      throw new Error("no error");
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidMessageError);
      expect((err as InvalidMessageError).data).toBe(raw);
    }
  });

  it("validates with a type guard", () => {
    const isPoint = (v: unknown): v is { x: number } =>
      typeof v === "object" && v !== null && typeof (v as { x?: unknown }).x === "number";
    const codec = jsonCodec(isPoint);
    const p = codec.decode(utf8('{"x":1}'), false) as { x: number };
    expect(p.x).toBe(1);
    expect(() => codec.decode(utf8('{"y":1}'), false)).toThrow(
      "message failed validation: message rejected by type guard isPoint",
    );
  });

  it("validates with a sync Standard Schema and returns its output (transforms applied)", () => {
    const codec = jsonCodec(z.object({ n: z.string().transform((s) => s.length) }));
    expect(codec.decode(utf8('{"n":"abc"}'), false)).toEqual({ n: 3 });
    try {
      codec.decode(utf8('{"n":5}'), false);
      throw new Error("no error");
    } catch (err) {
      const e = err as InvalidMessageError;
      expect(e).toBeInstanceOf(InvalidMessageError);
      expect(e.issues[0]?.path).toEqual(["n"]);
      expect(e.data).toBe('{"n":5}');
    }
  });

  it("returns a promise for an async Standard Schema, rejecting with InvalidMessageError", async () => {
    const codec = jsonCodec(z.string().refine(async (s) => s !== "no"));
    const ok = codec.decode(utf8('"yes"'), false);
    expect(ok).toBeInstanceOf(Promise);
    await expect(ok).resolves.toBe("yes");
    await expect(codec.decode(utf8('"no"'), false)).rejects.toBeInstanceOf(InvalidMessageError);
  });

  it("throws TypeError when called with something that is not a schema", () => {
    expect(() => jsonCodec({} as never)).toThrow(TypeError);
    expect(() => jsonCodec(42 as never)).toThrow(TypeError);
    expect(() => jsonCodec({ "~standard": { version: 2, validate: () => 0 } } as never)).toThrow(
      TypeError,
    );
  });

  it("encodes values as JSON text and refuses what JSON cannot carry", () => {
    const codec = jsonCodec();
    expect(codec.encode({ a: 1 })).toBe('{"a":1}');
    expect(codec.encode("s")).toBe('"s"');
    expect(() => codec.encode(undefined)).toThrow(TypeError);
    expect(() => codec.encode(() => 1)).toThrow(TypeError);
    expect(() => codec.encode(1n)).toThrow(TypeError);
  });
});

describe("textCodec", () => {
  it("decodes text and UTF-8 binary frames to strings, encodes strings as is", () => {
    const codec = textCodec();
    expect(codec.transport).toBe("messages");
    expect(codec.decode(utf8("héllo"), false)).toBe("héllo");
    expect(codec.decode(utf8("héllo"), true)).toBe("héllo");
    expect(codec.encode("x")).toBe("x");
    expect(() => codec.encode(5 as unknown as string)).toThrow(TypeError);
  });

  it("rejects a binary frame that is not UTF-8", () => {
    expect(() => textCodec().decode(Buffer.from([0xc3, 0x28]), true)).toThrow(InvalidMessageError);
  });
});

describe("bytesCodec", () => {
  it("delivers frames as Buffers and sends Buffers and Uint8Array views without copying", () => {
    const codec = bytesCodec();
    expect(codec.transport).toBe("bytes");
    const b = utf8("abc");
    expect(codec.decode(b, false)).toBe(b);
    expect(codec.encode(b)).toBe(b);
    const backing = new Uint8Array([1, 2, 3, 4]);
    const view = codec.encode(backing.subarray(1, 3));
    expect(Buffer.isBuffer(view)).toBe(true);
    expect([...view]).toEqual([2, 3]);
    backing[1] = 9;
    expect(view[0]).toBe(9); // same memory
    expect(() => codec.encode("nope" as unknown as Uint8Array)).toThrow(TypeError);
  });
});
