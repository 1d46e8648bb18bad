// resolveOptions: Martini's defaults, zero as a real setting, and a clear TypeError/RangeError
// naming the option for every invalid value, thrown at the factory call.

import {
  DEFAULT_OPTIONS,
  MAX_TIMER_MS,
  resolveOptions,
  type SocketOptions,
} from "../lib/core/options";
import { sockets } from "../lib/sockets";

describe("resolveOptions", () => {
  it("applies Martini's defaults", () => {
    const o = resolveOptions();
    expect(o).toMatchObject({
      writeWait: 60_000,
      pongWait: 60_000,
      pingPeriod: 48_000,
      maxMessageSize: 65_536,
      sendChannelBuffer: 10,
      recvChannelBuffer: 10,
      closeOnInvalidMessage: false,
    });
    expect(o.log.enabled("info")).toBe(true);
    expect(o.log.enabled("debug")).toBe(false);
    expect(DEFAULT_OPTIONS.pingPeriod).toBeLessThan(DEFAULT_OPTIONS.pongWait);
    expect(Object.isFrozen(o)).toBe(true);
  });

  it("keeps zero values (unlike Martini)", () => {
    const o = resolveOptions({
      writeWait: 0,
      pongWait: 0,
      pingPeriod: 0,
      maxMessageSize: 0,
      sendChannelBuffer: 0,
      recvChannelBuffer: 0,
    });
    expect(o).toMatchObject({
      writeWait: 0,
      pongWait: 0,
      pingPeriod: 0,
      maxMessageSize: 0,
      sendChannelBuffer: 0,
      recvChannelBuffer: 0,
    });
  });

  it("allows pings without a pong deadline and a deadline without pings", () => {
    expect(resolveOptions({ pongWait: 0, pingPeriod: 100_000 }).pingPeriod).toBe(100_000);
    expect(resolveOptions({ pongWait: 1000, pingPeriod: 0 }).pongWait).toBe(1000);
  });

  it("throws RangeError when pingPeriod is not shorter than pongWait", () => {
    expect(() => resolveOptions({ pongWait: 1000, pingPeriod: 1000 })).toThrow(RangeError);
    expect(() => resolveOptions({ pongWait: 1000 })).toThrow(
      /pingPeriod \(48000 ms\) must be shorter than options\.pongWait \(1000 ms\)/,
    );
  });

  it.each<[string, SocketOptions, ErrorConstructor, RegExp]>([
    ["a negative time", { writeWait: -1 }, RangeError, /options\.writeWait/],
    ["NaN", { pongWait: NaN }, TypeError, /options\.pongWait/],
    ["a time as a string", { writeWait: "10" as never }, TypeError, /writeWait must be a number/],
    ["a time past the timer limit", { pongWait: MAX_TIMER_MS + 1 }, RangeError, /pongWait/],
    ["Infinity", { writeWait: Infinity }, RangeError, /writeWait/],
    ["a fractional buffer", { sendChannelBuffer: 1.5 }, RangeError, /sendChannelBuffer/],
    ["a negative buffer", { recvChannelBuffer: -1 }, RangeError, /recvChannelBuffer/],
    ["a size as a string", { maxMessageSize: "1mb" as never }, TypeError, /maxMessageSize/],
    ["an unknown log level", { logLevel: "verbose" as never }, RangeError, /"error", "warning"/],
    ["a logger without error()", { logger: {} as never }, TypeError, /error\(message\)/],
    [
      "a logger whose warn is not a function",
      { logger: { error() {}, warn: 1 } as never },
      TypeError,
      /logger\.warn/,
    ],
    ["skipLogging as a string", { skipLogging: "yes" as never }, TypeError, /skipLogging/],
    ["a bad regex", { allowedOrigin: "https?://(" }, TypeError, /not a valid regular expression/],
    ["a bad regex around <<host>>", { allowedOrigin: "[<<host>>" }, TypeError, /allowedOrigin/],
    ["an origin that is a number", { allowedOrigin: 5 as never }, TypeError, /allowedOrigin/],
    ["requireOrigin as a string", { requireOrigin: "true" as never }, TypeError, /requireOrigin/],
    [
      "closeOnInvalidMessage as 1",
      { closeOnInvalidMessage: 1 as never },
      TypeError,
      /closeOnInvalidMessage/,
    ],
  ])("throws for %s", (_name, options, type, message) => {
    expect(() => resolveOptions(options)).toThrow(type);
    expect(() => resolveOptions(options)).toThrow(message);
  });

  it("rejects options that are not an object", () => {
    expect(() => resolveOptions("fast" as never)).toThrow(TypeError);
    expect(() => resolveOptions([] as never)).toThrow(TypeError);
  });

  it("throws when the factory is called, not at the first connection", () => {
    expect(() => sockets.messages({ writeWait: -5 })).toThrow(RangeError);
    expect(() => sockets.json(undefined, { recvChannelBuffer: 0.5 })).toThrow(RangeError);
    expect(() => sockets.bytes({ allowedOrigin: "(" })).toThrow(TypeError);
  });
});
