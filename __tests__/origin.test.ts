// The Origin check: `<<host>>`/`{{host}}` replaced by the regex-escaped Host, string patterns
// anchored at the start, RegExp and predicate forms, and requests without Origin.

import type { IncomingMessage } from "node:http";
import { compileOriginCheck, escapeRegExp, requestOrigin } from "../lib/core/origin";

function req(headers: Record<string, string>): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

describe("compileOriginCheck", () => {
  const sameHost = compileOriginCheck();

  it("allows the request's own host over http and https by default", () => {
    expect(sameHost(req({ host: "example.com", origin: "http://example.com" }))).toBe(true);
    expect(sameHost(req({ host: "example.com:8443", origin: "https://example.com:8443" }))).toBe(
      true,
    );
  });

  it("escapes the host: `.` is not a wildcard", () => {
    expect(sameHost(req({ host: "a.b", origin: "http://aXb" }))).toBe(false);
    expect(sameHost(req({ host: "a.b", origin: "http://a.b" }))).toBe(true);
  });

  it("anchors at the start and (with the default `$`) at the end", () => {
    expect(sameHost(req({ host: "a.b", origin: "http://evil/http://a.b" }))).toBe(false);
    expect(sameHost(req({ host: "a.b", origin: "http://a.b.evil" }))).toBe(false);
    expect(sameHost(req({ host: "a.b", origin: "ftp://a.b" }))).toBe(false);
  });

  it("treats Host case-insensitively (browsers send lower-case origins)", () => {
    expect(sameHost(req({ host: "Example.COM", origin: "http://example.com" }))).toBe(true);
  });

  it("refuses an Origin when the request has no Host to compare with", () => {
    expect(sameHost(req({ origin: "http://example.com" }))).toBe(false);
  });

  it("supports Martini's {{host}} and mixes with other alternatives", () => {
    const check = compileOriginCheck("https://({{host}}|admin\\.example\\.com)$");
    expect(check(req({ host: "x.io", origin: "https://x.io" }))).toBe(true);
    expect(check(req({ host: "x.io", origin: "https://admin.example.com" }))).toBe(true);
    expect(check(req({ host: "x.io", origin: "http://x.io" }))).toBe(false);
  });

  it("anchors an alternation as a whole", () => {
    const check = compileOriginCheck("http://a\\.com|http://b\\.com");
    expect(check(req({ origin: "http://b.com" }))).toBe(true);
    expect(check(req({ origin: "http://evil.com/http://b.com" }))).toBe(false);
  });

  it("compiles one regex per host and keeps the cache bounded", () => {
    const check = compileOriginCheck();
    for (let i = 0; i < 1000; i++) {
      expect(check(req({ host: `h${i}.io`, origin: `http://h${i}.io` }))).toBe(true);
    }
    expect(check(req({ host: "h1.io", origin: "http://h2.io" }))).toBe(false);
  });

  it("uses a RegExp as given, without the statefulness of g or y", () => {
    const check = compileOriginCheck(/^https:\/\/.*\.trusted\.dev$/g);
    const r = req({ origin: "https://app.trusted.dev" });
    expect(check(r)).toBe(true);
    expect(check(r)).toBe(true); // with `g` kept, lastIndex would make this false
    expect(check(req({ origin: "https://trusted.dev.evil" }))).toBe(false);
  });

  it("calls a predicate with the origin and the request; only `true` allows", () => {
    const calls: string[] = [];
    const check = compileOriginCheck((origin, r) => {
      calls.push(`${origin} ${r.headers.host}`);
      return origin === "http://ok";
    });
    expect(check(req({ host: "h", origin: "http://ok" }))).toBe(true);
    expect(check(req({ host: "h", origin: "http://no" }))).toBe(false);
    expect(calls).toEqual(["http://ok h", "http://no h"]);
    const truthy = compileOriginCheck((() => 1) as never);
    expect(truthy(req({ origin: "http://x" }))).toBe(false);
  });

  it("allows a request without Origin unless requireOrigin is true", () => {
    expect(sameHost(req({ host: "a" }))).toBe(true);
    expect(compileOriginCheck(undefined, true)(req({ host: "a" }))).toBe(false);
    expect(compileOriginCheck(undefined, true)(req({ host: "a", origin: "http://a" }))).toBe(true);
  });

  it("refuses the opaque origin `null`", () => {
    expect(sameHost(req({ host: "a", origin: "null" }))).toBe(false);
  });

  it("throws TypeError for a pattern that is not a valid regex", () => {
    expect(() => compileOriginCheck("(")).toThrow(TypeError);
    expect(() => compileOriginCheck("<<host>>[")).toThrow(/not a valid regular expression/);
  });
});

describe("requestOrigin", () => {
  it("reads Sec-WebSocket-Origin for version 8 clients and Origin otherwise", () => {
    expect(requestOrigin(req({ origin: "http://a" }))).toBe("http://a");
    expect(
      requestOrigin(req({ "sec-websocket-version": "8", "sec-websocket-origin": "http://b" })),
    ).toBe("http://b");
    expect(requestOrigin(req({ "sec-websocket-version": "13", "sec-websocket-origin": "x" }))).toBe(
      undefined,
    );
  });
});

describe("escapeRegExp", () => {
  it("escapes every metacharacter", () => {
    const nasty = "a.b*c+d?e^f$g{h}i(j)k|l[m]n\\o/p-q";
    expect(new RegExp(`^${escapeRegExp(nasty)}$`).test(nasty)).toBe(true);
    expect(new RegExp(`^${escapeRegExp("a.b")}$`).test("aXb")).toBe(false);
  });
});
