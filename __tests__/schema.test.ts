// Standard Schema v1 and type guards: detection, compilation, and the types they infer.

import { z } from "zod";
import { jsonCodec, type Codec } from "../lib/core/codec";
import {
  compileSchema,
  isStandardSchema,
  type Infer,
  type StandardSchemaV1,
} from "../lib/core/schema";

/** Compile-time equality check: fails `tsc` when the two types differ. */
type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(_: T): void {}

describe("Standard Schema detection", () => {
  it("recognises zod schemas and hand-written Standard Schemas", () => {
    expect(isStandardSchema(z.string())).toBe(true);
    const custom: StandardSchemaV1<unknown, number> = {
      "~standard": {
        version: 1,
        vendor: "test",
        validate: (v) => (typeof v === "number" ? { value: v } : { issues: [{ message: "NaN" }] }),
      },
    };
    expect(isStandardSchema(custom)).toBe(true);
    expect(isStandardSchema({})).toBe(false);
    expect(isStandardSchema(null)).toBe(false);
    expect(isStandardSchema((v: unknown) => typeof v === "string")).toBe(false);
  });
});

describe("compileSchema", () => {
  it("passes values through a Standard Schema (sync) and reports its issues", () => {
    const validate = compileSchema(z.number().min(3));
    expect(validate(5)).toEqual({ value: 5 });
    const bad = validate(1) as { issues: readonly { message: string }[] };
    expect(bad.issues.length).toBe(1);
  });

  it("keeps `this` for schema libraries whose validate is a method", () => {
    const schema = {
      "~standard": {
        version: 1 as const,
        vendor: "methods",
        limit: 10,
        validate(this: { limit: number }, v: unknown) {
          return typeof v === "number" && v < this.limit
            ? { value: v }
            : { issues: [{ message: "too big" }] };
        },
      },
    };
    expect(compileSchema(schema)(3)).toEqual({ value: 3 });
  });

  it("turns a type guard into a validator with one issue naming it", () => {
    function isText(v: unknown): v is string {
      return typeof v === "string";
    }
    const validate = compileSchema(isText);
    expect(validate("a")).toEqual({ value: "a" });
    expect(validate(1)).toEqual({ issues: [{ message: "message rejected by type guard isText" }] });
  });

  it("returns a promise for async schemas", async () => {
    const validate = compileSchema(z.string().refine(async () => true));
    const result = validate("x");
    expect(result).toBeInstanceOf(Promise);
    await expect(result).resolves.toEqual({ value: "x" });
  });

  it("refuses anything else with TypeError", () => {
    expect(() => compileSchema("string" as never)).toThrow(TypeError);
    expect(() => compileSchema({ "~standard": {} } as never)).toThrow(TypeError);
  });
});

describe("type inference", () => {
  it("infers the receiver type from zod, from a type guard, and unknown without a schema", () => {
    const schema = z.object({ id: z.number(), tags: z.array(z.string()).optional() });
    const codec = jsonCodec(schema);
    assertType<Equals<Infer<typeof schema>, { id: number; tags?: string[] | undefined }>>(true);
    assertType<Equals<typeof codec, Codec<{ id: number; tags?: string[] | undefined }, unknown>>>(
      true,
    );

    expect(codec.transport).toBe("json");

    const isNum = (v: unknown): v is number => typeof v === "number";
    assertType<Equals<Infer<typeof isNum>, number>>(true);
    const guarded = jsonCodec(isNum);
    assertType<Equals<typeof guarded, Codec<number, unknown>>>(true);
    expect(guarded.decode(Buffer.from("7"), false)).toBe(7);

    const plain = jsonCodec();
    assertType<Equals<typeof plain, Codec<unknown, unknown>>>(true);
    expect(plain.decode(Buffer.from("null"), false)).toBeNull();

    const transformed = z.string().transform((s) => s.length);
    assertType<Equals<Infer<typeof transformed>, number>>(true);
    expect(jsonCodec(transformed).decode(Buffer.from('"abcd"'), false)).toBe(4);
  });
});
