// Codecs: how a route turns WebSocket messages into receiver values and sender values into
// frames. One per factory: json (parsed, optionally validated, JSON text out), text (`string`
// both ways) and bytes (`Buffer` in, any `Uint8Array` out). As in Martini, the frame type that
// arrives is not enforced: a binary frame on a text route is decoded as UTF-8 (and rejected as
// an invalid message if it is not UTF-8), a text frame on a bytes route arrives as its bytes.

import { isUtf8 } from "node:buffer";
import { InvalidMessageError } from "./errors";
import {
  compileSchema,
  isPromiseLike,
  type Infer,
  type Schema,
  type StandardSchemaResult,
  type Validator,
} from "./schema";

/** Turns frames into values (`In`) and values (`Out`) into frames. */
export interface Codec<In, Out> {
  /** The factory this codec belongs to; tells generic handlers what to send. */
  readonly transport: "json" | "messages" | "bytes" | "events";
  /**
   * Decodes one message; throws (or rejects with) InvalidMessageError. A promise only when an
   * async schema has to be awaited: the connection keeps the order of messages either way.
   */
  decode(data: Buffer, isBinary: boolean): In | Promise<In>;
  /** Encodes one value: a string goes out as a text frame, a Buffer as a binary frame. */
  encode(value: Out): string | Buffer;
}

/** What the receiver of `jsonCodec(schema)` yields: the schema's output, or `unknown`. */
export type JsonInput<S> = [S] extends [undefined] ? unknown : Infer<S>;

const NOT_UTF8: readonly { message: string }[] = Object.freeze([
  Object.freeze({ message: "binary message is not valid UTF-8" }),
]);

/** The text of a message; a binary frame must hold valid UTF-8 (ws checks text frames). */
function textOf(data: Buffer, isBinary: boolean): string {
  if (isBinary && !isUtf8(data)) {
    throw new InvalidMessageError(
      "binary message on a text route is not valid UTF-8",
      data,
      NOT_UTF8,
    );
  }
  return data.toString();
}

function checked<T>(result: StandardSchemaResult<T>, text: string): T {
  if (result.issues !== undefined) {
    const first = result.issues[0]?.message ?? "invalid";
    const more = result.issues.length > 1 ? ` (and ${result.issues.length - 1} more)` : "";
    throw new InvalidMessageError(
      `message failed validation: ${first}${more}`,
      text,
      result.issues,
    );
  }
  return result.value;
}

class JsonCodec<In> implements Codec<In, unknown> {
  readonly transport = "json" as const;
  constructor(private readonly validate: Validator<In> | null) {}

  decode(data: Buffer, isBinary: boolean): In | Promise<In> {
    const text = textOf(data, isBinary);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      const reason = (err as Error).message;
      throw new InvalidMessageError(`message is not valid JSON: ${reason}`, text, [
        { message: reason },
      ]);
    }
    const validate = this.validate;
    if (validate === null) return value as In;
    const result = validate(value);
    if (isPromiseLike<StandardSchemaResult<In>>(result)) {
      return Promise.resolve(result).then((r) => checked(r, text));
    }
    return checked(result, text);
  }

  encode(value: unknown): string {
    const text = JSON.stringify(value);
    if (typeof text !== "string") {
      throw new TypeError(`cannot send ${typeof value} as JSON`);
    }
    return text;
  }
}

class TextCodec implements Codec<string, string> {
  readonly transport = "messages" as const;

  decode(data: Buffer, isBinary: boolean): string {
    return textOf(data, isBinary);
  }

  encode(value: string): string {
    if (typeof value !== "string") {
      throw new TypeError(`sockets.messages() sends strings, got ${typeof value}`);
    }
    return value;
  }
}

class BytesCodec implements Codec<Buffer, Uint8Array> {
  readonly transport = "bytes" as const;

  decode(data: Buffer): Buffer {
    return data;
  }

  encode(value: Uint8Array): Buffer {
    if (Buffer.isBuffer(value)) return value;
    if (value instanceof Uint8Array) {
      return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
    throw new TypeError(`sockets.bytes() sends Uint8Array or Buffer, got ${typeof value}`);
  }
}

const TEXT = new TextCodec();
const BYTES = new BytesCodec();
const PLAIN_JSON = new JsonCodec<unknown>(null);

/**
 * JSON messages, validated by `schema` when given (a Standard Schema, async allowed, or a type
 * guard). Sends any JSON-serialisable value as a text frame. Throws TypeError for a bad schema.
 */
export function jsonCodec<S extends Schema | undefined = undefined>(
  schema?: S,
): Codec<JsonInput<S>, unknown> {
  if (schema === undefined) return PLAIN_JSON as Codec<JsonInput<S>, unknown>;
  return new JsonCodec(compileSchema(schema as Schema)) as Codec<JsonInput<S>, unknown>;
}

/** Text messages: `string` in, `string` out as text frames. */
export function textCodec(): Codec<string, string> {
  return TEXT;
}

/** Binary messages: `Buffer` in, any `Uint8Array` out as binary frames. */
export function bytesCodec(): Codec<Buffer, Uint8Array> {
  return BYTES;
}
