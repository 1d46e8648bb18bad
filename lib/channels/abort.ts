// Withdrawing a waiting operation when its AbortSignal fires: the one mechanism behind every
// `{ signal }` option, so an aborted send or wait is "as if it had never been called".

/** A parked operation: what settles its promise (with a `V`: a received value, or nothing). */
export interface Settleable<V = void> {
  resolve(value: V): void;
  reject(reason: unknown): void;
}

/**
 * Makes `waiter` abortable in place: on abort, `withdraw()` removes it from wherever it waits and
 * its promise rejects with the signal's reason; settling it first removes the abort listener.
 */
export function abortable<V>(
  waiter: Settleable<V>,
  signal: AbortSignal,
  withdraw: () => void,
): void {
  const { resolve, reject } = waiter;
  const onAbort = (): void => {
    withdraw();
    reject(signal.reason);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  waiter.resolve = (value) => {
    signal.removeEventListener("abort", onAbort);
    resolve(value);
  };
  waiter.reject = (reason) => {
    signal.removeEventListener("abort", onAbort);
    reject(reason);
  };
}
