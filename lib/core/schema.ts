// Message validation: the Standard Schema v1 interface (zod, valibot, arktype... all implement
// it; the types are written here from the spec, no dependency) and plain type guards. A schema
// is compiled once, when a factory is called, into a validator that returns the validated value
// or the issues, synchronously when it can and as a promise when the schema is async.

import type { MessageIssue } from "./errors";

/** Standard Schema v1 (https://standardschema.dev): what `sockets.json(schema)` accepts. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly "~standard": StandardSchemaProps<Input, Output>;
}

/** The `~standard` property of a Standard Schema. */
export interface StandardSchemaProps<Input = unknown, Output = Input> {
  readonly version: 1;
  readonly vendor: string;
  readonly validate: (
    value: unknown,
  ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
  readonly types?: StandardSchemaTypes<Input, Output> | undefined;
}

/** A validation result: the (possibly transformed) value, or the issues. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<MessageIssue> };

/** Type carrier of a Standard Schema (never present at run time). */
export interface StandardSchemaTypes<Input = unknown, Output = Input> {
  readonly input: Input;
  readonly output: Output;
}

/** A type guard: `(v: unknown) => v is T`. A plain boolean predicate works too (as `unknown`). */
export type TypeGuard<T> = (value: unknown) => value is T;

/** What validates a JSON message: a Standard Schema or a type guard. */
export type Schema<T = unknown> = StandardSchemaV1<unknown, T> | TypeGuard<T>;

/** The type a schema or type guard produces: what the receiver yields. */
export type Infer<S> =
  S extends StandardSchemaV1<unknown, unknown>
    ? NonNullable<S["~standard"]["types"]>["output"]
    : S extends (value: unknown) => value is infer T
      ? T
      : unknown;

/** A compiled schema: the value, or the issues; a promise only when the schema is async. */
export type Validator<T> = (
  value: unknown,
) => StandardSchemaResult<T> | Promise<StandardSchemaResult<T>>;

/** True for a Standard Schema (an object or function with a `~standard.validate` function). */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return false;
  const props = (value as { "~standard"?: unknown })["~standard"];
  return (
    typeof props === "object" &&
    props !== null &&
    typeof (props as { validate?: unknown }).validate === "function"
  );
}

/**
 * Compiles a schema or type guard into a validator. Throws TypeError (at factory time) for
 * anything that is neither. Standard Schema is checked first: some schema objects are functions.
 */
export function compileSchema<S extends Schema>(schema: S): Validator<Infer<S>> {
  if (isStandardSchema(schema)) {
    const props = schema["~standard"];
    if (props.version !== 1) {
      throw new TypeError(`unsupported Standard Schema version ${String(props.version)}`);
    }
    // Calling through `props` keeps `this` for libraries whose validate is a method.
    return (value) => props.validate(value) as StandardSchemaResult<Infer<S>>;
  }
  if (typeof schema === "function") {
    const guard = schema as (value: unknown) => boolean;
    const issue = `message rejected by type guard${guard.name ? ` ${guard.name}` : ""}`;
    const rejected: StandardSchemaResult<never> = Object.freeze({
      issues: Object.freeze([Object.freeze({ message: issue })]),
    });
    return (value) => (guard(value) ? { value: value as Infer<S> } : rejected);
  }
  throw new TypeError(
    "schema must be a Standard Schema (zod, valibot, arktype...) or a type guard (value: unknown) => value is T",
  );
}

/** True for a thenable: how a validator's async result is told apart from a sync one. */
export function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
