// Log: Martini's line format, level filtering, method fallbacks for partial loggers, the stdout
// default, skipLogging, and a throwing logger that never breaks its caller.

import { createLog, Log, type LoggerLike } from "../lib/core/logger";

function recorder(): { logger: Required<LoggerLike>; calls: string[] } {
  const calls: string[] = [];
  const at =
    (method: string) =>
    (m: string): void => {
      calls.push(`${method}:${m}`);
    };
  return {
    logger: {
      error: at("error"),
      warn: at("warn"),
      info: at("info"),
      debug: at("debug"),
      log: at("log"),
    },
    calls,
  };
}

describe("Log", () => {
  it("formats lines as [sockets] [Level] [remote] message, each on its level's method", () => {
    const { logger, calls } = recorder();
    const log = createLog({ logger, logLevel: "debug" });
    log.error("1.2.3.4:5", "e");
    log.warning("1.2.3.4:5", "w");
    log.info("1.2.3.4:5", "i");
    log.debug("1.2.3.4:5", "d");
    expect(calls).toEqual([
      "error:[sockets] [Error] [1.2.3.4:5] e",
      "warn:[sockets] [Warning] [1.2.3.4:5] w",
      "info:[sockets] [Info] [1.2.3.4:5] i",
      "debug:[sockets] [Debug] [1.2.3.4:5] d",
    ]);
  });

  it.each([
    ["error", ["e"]],
    ["warning", ["e", "w"]],
    ["info", ["e", "w", "i"]],
    ["debug", ["e", "w", "i", "d"]],
  ] as const)("at level %s writes only that level and above", (level, expected) => {
    const lines: string[] = [];
    const log = createLog({ logger: { error: (m) => lines.push(m.slice(-1)) }, logLevel: level });
    log.error("r", "e");
    log.warning("r", "w");
    log.info("r", "i");
    log.debug("r", "d");
    expect(lines).toEqual(expected);
    expect(log.enabled("debug")).toBe(level === "debug");
    expect(log.enabled("error")).toBe(true);
  });

  it("defaults to info", () => {
    const { logger, calls } = recorder();
    const log = createLog({ logger });
    log.info("r", "shown");
    log.debug("r", "hidden");
    expect(calls).toEqual(["info:[sockets] [Info] [r] shown"]);
  });

  it("falls back to log(), then error(), for a logger without a level's method", () => {
    const calls: string[] = [];
    const withLog = createLog({
      logger: { error: (m) => calls.push(`error:${m}`), log: (m) => calls.push(`log:${m}`) },
      logLevel: "debug",
    });
    withLog.warning("r", "w");
    withLog.debug("r", "d");
    const onlyError = createLog({ logger: { error: (m) => calls.push(`error:${m}`) } });
    onlyError.info("r", "i");
    expect(calls).toEqual([
      "log:[sockets] [Warning] [r] w",
      "log:[sockets] [Debug] [r] d",
      "error:[sockets] [Info] [r] i",
    ]);
  });

  it("calls methods with their logger as `this` (pino, winston)", () => {
    const seen: unknown[] = [];
    const logger = {
      lines: [] as string[],
      error(m: string) {
        seen.push(this);
        this.lines.push(m);
      },
    };
    createLog({ logger }).error("r", "x");
    expect(seen[0]).toBe(logger);
    expect(logger.lines).toHaveLength(1);
  });

  it("writes nothing with skipLogging, and enabled() says so", () => {
    const { logger, calls } = recorder();
    const log = createLog({ logger, skipLogging: true, logLevel: "debug" });
    log.error("r", "e");
    expect(calls).toEqual([]);
    expect(log.enabled("error")).toBe(false);
  });

  it("swallows a logger that throws", () => {
    const log = new Log({
      error() {
        throw new Error("disk full");
      },
    });
    expect(() => log.error("r", "x")).not.toThrow();
  });

  it("writes whole lines to stdout by default", () => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const log = createLog({});
      log.info("127.0.0.1:1", "hello");
      log.debug("127.0.0.1:1", "hidden");
    } finally {
      spy.mockRestore();
    }
    expect(written).toEqual(["[sockets] [Info] [127.0.0.1:1] hello\n"]);
  });
});
