// Session tokens (API.md section 6, RECOVERY-PROTOCOL.md §2): what lets a reconnecting client
// keep its socket id, so that `except(socket)` keeps skipping it across reconnects. A token is
// `<base64url(id)>.<expiresAtMs>.<base64url(hmac)>`, the HMAC-SHA256 with the hub's secret of
// the first two parts. Anyone sharing the secret (every process of an adapter) can verify it;
// no client can make one for another id, nor change an expiry, without the secret.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** Longest session id a token may carry (UTF-16 units); ids this package makes are 36. */
export const MAX_SESSION_ID = 128;
/** Longest token read (characters): anything longer is ignored unread. */
export const MAX_TOKEN_LENGTH = 512;
/** Shortest secret accepted, in bytes: a shorter one could be guessed. */
export const MIN_SECRET_BYTES = 16;

const PART = /^[A-Za-z0-9_-]+$/;
const DIGITS = /^[0-9]{1,15}$/;

/** Signs and verifies session tokens with one secret. */
export class Sessions {
  private readonly key: Buffer;

  /** `secret`: the app's (shared by every process), or undefined for a random one (one process). */
  constructor(
    secret: string | Uint8Array | undefined,
    /** How long a token stays valid, ms. */
    readonly ttl: number,
  ) {
    this.key = secret === undefined ? randomBytes(32) : Buffer.from(secret);
  }

  /** A token for `id`, valid for `ttl` ms from `now`. */
  issue(id: string, now = Date.now()): string {
    const head = `${Buffer.from(id, "utf8").toString("base64url")}.${now + this.ttl}`;
    return `${head}.${this.mac(head).toString("base64url")}`;
  }

  /**
   * The id a token carries when it is genuine (made with this secret, unaltered) and not
   * expired; null otherwise (anything malformed included). Never throws.
   */
  verify(token: unknown, now = Date.now()): string | null {
    if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) return null;
    const parts = token.split(".");
    if (parts.length !== 3) return null;
    const [idPart, expires, sig] = parts as [string, string, string];
    if (!PART.test(idPart) || !DIGITS.test(expires) || !PART.test(sig)) return null;
    const given = Buffer.from(sig, "base64url");
    const wanted = this.mac(`${idPart}.${expires}`);
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return null;
    if (Number(expires) <= now) return null;
    const id = Buffer.from(idPart, "base64url").toString("utf8");
    if (id.length === 0 || id.length > MAX_SESSION_ID) return null;
    return id;
  }

  private mac(text: string): Buffer {
    return createHmac("sha256", this.key).update(text).digest();
  }
}

/** Checks the `secret` option: a string or bytes of at least MIN_SECRET_BYTES bytes. */
export function checkSecret(value: unknown): string | Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" && !(value instanceof Uint8Array)) {
    throw new TypeError("options.secret must be a string or a Uint8Array (e.g. a Buffer)");
  }
  const bytes = typeof value === "string" ? Buffer.byteLength(value) : value.byteLength;
  if (bytes < MIN_SECRET_BYTES) {
    throw new RangeError(
      `options.secret must be at least ${MIN_SECRET_BYTES} bytes (e.g. 32 random bytes, hex), got ${bytes}`,
    );
  }
  return value;
}
