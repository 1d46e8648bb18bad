// Test helpers for the browser client run in Node: `ws` as its WebSocket, waiting for a status,
// and collecting what it reports.

import { WebSocket } from "ws";
import { connect as realConnect } from "../../client/index";
import type { BaseClient, ClientError, ConnectOptions, Status } from "../../client/index";

const live = new Set<BaseClient>();

/** connect(), remembering the client so that closeAll() ends it even when a test fails. */
export const connect = ((url: string | URL, options?: ConnectOptions & { json?: boolean }) => {
  const client = realConnect(url, options as ConnectOptions & { json: true });
  live.add(client);
  return client;
}) as typeof realConnect;

/** Closes every client the test made (an afterEach): a failed test leaves no retry loop behind. */
export function closeAll(): void {
  for (const c of live) c.close();
  live.clear();
}

/** Options every Node test client needs: ws's WebSocket, no sessionStorage, fast retries. */
export const node = {
  WebSocket,
  storage: null,
  reconnect: { delay: 100, maxDelay: 400 },
} as const;

/** Resolves when the client reaches `status` (at once if it is there). */
export function reach(client: BaseClient, status: Status, timeout = 10_000): Promise<void> {
  if (client.status === status) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`client still ${client.status}, not ${status}, after ${timeout} ms`));
    }, timeout);
    const off = client.onStatus((s) => {
      if (s !== status) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Records every status and error the client reports. */
export function record(client: BaseClient): { statuses: Status[]; errors: ClientError[] } {
  const log = { statuses: [client.status] as Status[], errors: [] as ClientError[] };
  client.onStatus((s) => log.statuses.push(s));
  client.onError((e) => log.errors.push(e));
  return log;
}

/** Waits until `check()` is true (polling), or fails after `timeout`. */
export async function until(
  check: () => boolean,
  timeout = 10_000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
