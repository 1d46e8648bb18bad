// Test helper: the `express-sockets` command (bin/express-sockets.js, over the build in dist/)
// as a real child process: run it to completion, or start a server and learn its URL from the
// line it prints.

import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const ROOT = path.join(__dirname, "..", "..");
export const BIN = path.join(ROOT, "bin", "express-sockets.js");

/** Fails clearly when the build is missing (npm test builds first). */
export function requireBuild(): void {
  if (!fs.existsSync(path.join(ROOT, "dist", "viewer", "cli.js"))) {
    throw new Error("dist/ is missing: run `npm run build` (npm test does it first)");
  }
}

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  proc: ChildProcess;
  url: string;
  port: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exited>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exited>;
}

/** Where to run: the clone's bin by default, or an installed one (node_modules/.bin/...). */
export interface Where {
  cwd?: string;
  bin?: string;
}

function spawnCli(
  args: string[],
  env: Record<string, string> = {},
  where: Where = {},
): RunningCli & { ready: Promise<void> } {
  const proc = spawn(process.execPath, [where.bin ?? BIN, ...args], {
    cwd: where.cwd ?? ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  proc.stdout!.setEncoding("utf8");
  proc.stderr!.setEncoding("utf8");
  const exited = new Promise<Exited>((resolve) =>
    proc.once("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  const cli = {
    proc,
    url: "",
    port: 0,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    ready: undefined as unknown as Promise<void>,
  };
  cli.ready = new Promise<void>((resolve, reject) => {
    proc.stdout!.on("data", (chunk: string) => {
      stdout += chunk;
      const m = / at (http:\/\/\S+:(\d+)\/)/.exec(stdout);
      if (m !== null && cli.url === "") {
        cli.url = m[1]!;
        cli.port = Number(m[2]);
        resolve();
      }
    });
    proc.stderr!.on("data", (chunk: string) => (stderr += chunk));
    void exited.then((e) =>
      reject(new Error(`express-sockets exited (${e.code ?? e.signal}): ${e.stderr}`)),
    );
  });
  return cli;
}

/** Runs the command to its end. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<Exited> {
  const cli = spawnCli(args, env);
  cli.ready.catch(() => undefined);
  const timer = setTimeout(() => cli.proc.kill("SIGKILL"), 15_000);
  return cli.exited.finally(() => clearTimeout(timer));
}

/** Starts a server and resolves once it printed where it listens. */
export async function startCli(
  args: string[],
  env: Record<string, string> = {},
  where: Where = {},
): Promise<RunningCli> {
  const cli = spawnCli(args, env, where);
  const timer = setTimeout(() => cli.proc.kill("SIGKILL"), 15_000);
  try {
    await cli.ready;
  } finally {
    clearTimeout(timer);
  }
  return cli;
}
