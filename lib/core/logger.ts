// Logging in Martini's form, `[sockets] [Level] [remoteAddr] message`, to any console-like
// logger (console, pino, winston) or to stdout by default. A logger that throws never breaks a
// connection: logging is best effort by design.

/**
 * Severity, most severe first. A level enables itself and every level before it. `"warn"` (the
 * name console, pino and winston use) is accepted as another name for `"warning"`.
 */
export type LogLevel = "error" | "warning" | "warn" | "info" | "debug";

/** console, pino, winston...: any object with the usual level methods. Only `error` is required. */
export interface LoggerLike {
  error(message: string): void;
  warn?(message: string): void;
  info?(message: string): void;
  debug?(message: string): void;
  log?(message: string): void;
}

/** The levels in order; a level's index is its verbosity. */
export const LOG_LEVELS: readonly Exclude<LogLevel, "warn">[] = Object.freeze([
  "error",
  "warning",
  "info",
  "debug",
]);

/** A level's index in LOG_LEVELS (its verbosity), `"warn"` counting as `"warning"`; -1 if none. */
function verbosityOf(level: string): number {
  return level === "warn" ? 1 : (LOG_LEVELS as readonly string[]).indexOf(level);
}

const LABELS: Record<Exclude<LogLevel, "warn">, string> = {
  error: "Error",
  warning: "Warning",
  info: "Info",
  debug: "Debug",
};

/** Writes whole lines to stdout: the default logger (Martini's `log.New(os.Stdout, ...)`). */
function writeStdout(message: string): void {
  process.stdout.write(message + "\n");
}

const STDOUT_LOGGER: LoggerLike = { error: writeStdout };

type Sink = (message: string) => void;

/** Picks the logger's method for a level: its own, else `log`, else `error`. Bound once. */
function sinkFor(logger: LoggerLike, level: Exclude<LogLevel, "warn">): Sink {
  const own = level === "error" ? logger.error : level === "warning" ? logger.warn : logger[level];
  const method = own ?? logger.log ?? logger.error;
  return method.bind(logger);
}

/** A level-filtered logger that formats every line as `[sockets] [Level] [remote] message`. */
export class Log {
  private readonly verbosity: number;
  private readonly sinks: readonly Sink[] | null;

  /** `null` sinks log nothing (skipLogging). */
  constructor(logger: LoggerLike | null, level: LogLevel = "info") {
    this.verbosity = verbosityOf(level);
    this.sinks = logger === null ? null : LOG_LEVELS.map((l) => sinkFor(logger, l));
  }

  /** Whether a line at `level` would be written (use it to skip building costly messages). */
  enabled(level: LogLevel): boolean {
    return this.sinks !== null && verbosityOf(level) <= this.verbosity;
  }

  error(remote: string, message: string): void {
    this.write(0, remote, message);
  }

  warning(remote: string, message: string): void {
    this.write(1, remote, message);
  }

  info(remote: string, message: string): void {
    this.write(2, remote, message);
  }

  debug(remote: string, message: string): void {
    this.write(3, remote, message);
  }

  private write(index: number, remote: string, message: string): void {
    const sinks = this.sinks;
    if (sinks === null || index > this.verbosity) return;
    const level = LOG_LEVELS[index] as Exclude<LogLevel, "warn">;
    try {
      (sinks[index] as Sink)(`[sockets] [${LABELS[level]}] [${remote}] ${message}`);
    } catch {
      // A broken logger must not break the connection that is logging.
    }
  }
}

/** A Log that writes nothing: for callers that have no options to hand. */
export const SILENT_LOG = new Log(null);

/** Checks a logger option; throws TypeError naming what is wrong. */
export function checkLogger(logger: unknown): LoggerLike {
  if (
    typeof logger !== "object" ||
    logger === null ||
    typeof (logger as { error?: unknown }).error !== "function"
  ) {
    throw new TypeError("options.logger must be an object with an error(message) method");
  }
  for (const name of ["warn", "info", "debug", "log"] as const) {
    const method = (logger as Record<string, unknown>)[name];
    if (method !== undefined && typeof method !== "function") {
      throw new TypeError(`options.logger.${name} must be a function when present`);
    }
  }
  return logger as LoggerLike;
}

/** Checks a logLevel option; throws RangeError listing the valid levels. */
export function checkLogLevel(level: unknown): LogLevel {
  if (typeof level !== "string" || verbosityOf(level) < 0) {
    throw new RangeError(
      `options.logLevel must be one of ${LOG_LEVELS.map((l) => `"${l}"`).join(", ")} ` +
        `("warn" is accepted for "warning"), got ${String(level)}`,
    );
  }
  return level as LogLevel;
}

/**
 * Builds the Log for a set of options. `logger` defaults to stdout, `logLevel` to `"info"`;
 * `skipLogging: true` writes nothing at all. Throws TypeError/RangeError on invalid values.
 */
export function createLog(o: {
  logger?: LoggerLike | undefined;
  logLevel?: LogLevel | undefined;
  skipLogging?: boolean | undefined;
}): Log {
  const level = o.logLevel === undefined ? "info" : checkLogLevel(o.logLevel);
  const logger = o.logger === undefined ? STDOUT_LOGGER : checkLogger(o.logger);
  if (o.skipLogging !== undefined && typeof o.skipLogging !== "boolean") {
    throw new TypeError("options.skipLogging must be a boolean");
  }
  return new Log(o.skipLogging === true ? null : logger, level);
}
