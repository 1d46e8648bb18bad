// Test helper: Debian's Chromium driven by playwright-core, launched with the flags the browser
// tests share (no sandbox in containers, no GPU, no background traffic), and a page that records
// the script errors it throws, so a page that breaks fails its test.

import { chromium, type Browser, type BrowserContextOptions, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export interface WatchedPage {
  page: Page;
  /** Uncaught script errors, in order. */
  errors: string[];
  /** Console errors (failed loads, CSP violations), in order. */
  consoleErrors: string[];
  close(): Promise<void>;
}

/** A page in its own context (own cookies, credentials, colour scheme) that records errors. */
export async function openPage(
  browser: Browser,
  url: string,
  options: BrowserContextOptions = {},
): Promise<WatchedPage> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors: string[] = [];
  const consoleErrors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  await page.goto(url);
  return { page, errors, consoleErrors, close: () => context.close() };
}
