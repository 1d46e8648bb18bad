// Fails the calling test file if any promise rejection goes unhandled while it runs: every
// rejection must be handled somewhere (a suite-level check, registered once per file).

export function failOnUnhandledRejections(): void {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  beforeAll(() => process.on("unhandledRejection", onUnhandled));
  afterAll(() => {
    process.off("unhandledRejection", onUnhandled);
    expect(unhandled).toEqual([]);
  });
}
