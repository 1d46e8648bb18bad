// Runs a Python asyncio script (Debian's python3-websockets) as a child process: the client that
// is not JavaScript, proving the wire is plain RFC 6455 and plain JSON another language speaks.

import { execFile } from "node:child_process";

const PYTHON = "/usr/bin/python3";

/** Runs an inline script with `url` as argv[1]; resolves with the JSON it printed. */
export function python(script: string, url: string, timeout = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, ["-c", script, url], { timeout }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`python failed: ${err.message}\n${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`python printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
  });
}
