// The command line behind `npx express-sockets tail [options] <file...>` (bin/express-sockets.js):
// the viewer page on its own server, with safe defaults (127.0.0.1 only; basic auth when asked).
// Every failure the user can cause (a bad option, a missing file, a busy port) is one line on
// stderr and a non-zero exit code, never a stack trace: 2 for usage, 1 for the rest.

import express from "express";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { basicAuth } from "./auth";
import { viewer, type ViewerOptions } from "./viewer";

const NAME = "express-sockets";

export const HELP = `Usage: ${NAME} tail [options] <file...>

Follow log files live in a web page, like tail -F: one tab per file, filter and
highlight as you type, pause, and no line lost or shown twice across reconnects,
server restarts and log rotation. Give one directory instead of files to choose
among the files inside it.

Options:
  -p, --port <n>       port to listen on (default 9001; 0 = any free port)
  -H, --host <addr>    address to listen on (default 127.0.0.1, this machine only;
                       0.0.0.0 or :: = every interface)
  -n, --lines <n>      lines of each file shown at start (default 100)
      --max-lines <n>  lines the page keeps per file, older ones dropped (default 10000)
  -u, --user <name>    require HTTP basic auth with this user name
      --password <pw>  ... and this password (or set EXPRESS_SOCKETS_PASSWORD, which
                       other users of this machine cannot read from the process list)
  -t, --title <text>   the page's title (default: the file names)
  -h, --help           show this help
  -v, --version        show the version

Example:
  npx ${NAME} tail --port 8080 /var/log/app.log /var/log/app-error.log
`;

/** A mistake of the user's: one line on stderr, no stack trace. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
}

const defaultIo: Io = {
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  env: process.env,
};

function integer(name: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) > max) {
    throw new UsageError(`--${name} must be an integer from 0 to ${max}, got "${value}"`);
  }
  return Number(value);
}

interface Command {
  options: ViewerOptions;
  port: number;
  host: string;
  auth: { user: string; password: string } | null;
}

function parse(argv: string[], io: Io): Command | "help" | "version" {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        port: { type: "string", short: "p" },
        host: { type: "string", short: "H" },
        lines: { type: "string", short: "n" },
        "max-lines": { type: "string" },
        user: { type: "string", short: "u" },
        password: { type: "string" },
        title: { type: "string", short: "t" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (err) {
    // parseArgs explains well ("Unknown option '--prot'"); keep its first sentence only.
    throw new UsageError((err as Error).message.split(/\.\s/)[0]!.replace(/\.$/, ""));
  }
  const { values, positionals } = parsed;
  if (values.help === true) return "help";
  if (values.version === true) return "version";
  const [command, ...files] = positionals;
  if (command === undefined) throw new UsageError("missing command: try `tail <file...>`");
  if (command !== "tail") throw new UsageError(`unknown command "${command}"`);
  if (files.length === 0) throw new UsageError("tail: give at least one file to follow");

  const port = integer("port", values.port, 9001, 65535);
  const lines = integer("lines", values.lines, 100, 1_000_000);
  const maxLines = integer("max-lines", values["max-lines"], 10_000, 10_000_000);
  if (maxLines < 1) throw new UsageError("--max-lines must be at least 1");
  const host = values.host ?? "127.0.0.1";
  if (host === "") throw new UsageError("--host must not be empty");

  const password = values.password ?? io.env.EXPRESS_SOCKETS_PASSWORD;
  if ((values.user === undefined) !== (password === undefined)) {
    throw new UsageError("--user and --password go together (give both, or neither)");
  }
  const auth =
    values.user !== undefined && password !== undefined ? { user: values.user, password } : null;
  if (auth !== null && (auth.user === "" || auth.user.includes(":") || auth.password === "")) {
    throw new UsageError("--user must be non-empty without ':', and --password non-empty");
  }

  // Every file must be there now (a typo should not wait forever for its file to appear).
  const common = { lines, maxLines, logLevel: "warning" as const };
  const title = values.title;
  const stats = files.map((f) => {
    try {
      return fs.statSync(f);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") throw new UsageError(`no such file: ${f}`, 1);
      if (code === "EACCES") throw new UsageError(`permission denied: ${f}`, 1);
      throw new UsageError(`cannot read ${f}: ${(err as Error).message}`, 1);
    }
  });
  let options: ViewerOptions;
  if (stats.some((s) => s.isDirectory())) {
    if (files.length > 1) {
      throw new UsageError("give one directory alone, or only files");
    }
    options = { root: files[0]!, ...common, ...(title !== undefined && { title }) };
  } else {
    files.forEach((f, i) => {
      if (!stats[i]!.isFile()) throw new UsageError(`not a regular file: ${f}`, 1);
      try {
        fs.accessSync(f, fs.constants.R_OK);
      } catch {
        throw new UsageError(`permission denied: ${f}`, 1);
      }
    });
    options = { files, ...common, title: title ?? files.map((f) => path.basename(f)).join(", ") };
  }
  return { options, port, host, auth };
}

function version(): string {
  try {
    const pkg = path.join(__dirname, "..", "..", "package.json");
    return (JSON.parse(fs.readFileSync(pkg, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** A running viewer server (the CLI's, or a test's). */
export interface Running {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off("listening", onListening);
      const where = `${host}:${port}`;
      if (err.code === "EADDRINUSE") {
        reject(
          new UsageError(
            `port ${port} is already in use on ${host} (choose another with --port)`,
            1,
          ),
        );
      } else if (err.code === "EACCES") {
        reject(
          new UsageError(`not allowed to listen on ${where} (ports below 1024 need privileges)`, 1),
        );
      } else if (
        err.code === "EADDRNOTAVAIL" ||
        err.code === "ENOTFOUND" ||
        err.code === "EAI_AGAIN"
      ) {
        reject(new UsageError(`cannot listen on ${host}: no such address on this machine`, 1));
      } else {
        reject(new UsageError(`cannot listen on ${where}: ${err.message}`, 1));
      }
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

/** Starts the viewer server for parsed options. */
async function start(command: Command, io: Io): Promise<Running> {
  const app = express();
  app.disable("x-powered-by");
  if (command.auth !== null) app.use(basicAuth(command.auth.user, command.auth.password));
  app.use(viewer(command.options));
  const server = http.createServer(app);
  await listen(server, command.port, command.host);
  const { port } = server.address() as AddressInfo;
  const shown = command.host.includes(":") ? `[${command.host}]` : command.host;
  const url = `http://${shown}:${port}/`;
  const what =
    command.options.root !== undefined
      ? `the files in ${command.options.root}`
      : command.options.files.length === 1
        ? String(command.options.files[0])
        : `${command.options.files.length} files`;
  if (command.auth === null && !/^(127\.|::1$|localhost$)/.test(command.host)) {
    io.err(
      `${NAME}: warning: listening on ${command.host} without --user/--password: ` +
        "anyone who can reach this machine can read these files",
    );
  }
  io.out(`${NAME}: following ${what} at ${url}`);
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Runs the command line with `argv` (without node and the script). Resolves with the exit code
 * when it fails or prints help; while serving it resolves only when a SIGINT/SIGTERM stops it.
 */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let running: Running;
  try {
    const command = parse(argv, io);
    if (command === "help") {
      io.out(HELP.trimEnd());
      return 0;
    }
    if (command === "version") {
      io.out(version());
      return 0;
    }
    running = await start(command, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${NAME}: ${err.message}`);
      if (err.exitCode === 2) io.err(`Run '${NAME} --help' for usage.`);
      return err.exitCode;
    }
    io.err(`${NAME}: ${(err as Error).message}`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      void running.close().then(() => resolve(0));
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
