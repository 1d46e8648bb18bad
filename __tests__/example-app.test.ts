// The example app in a real browser: Debian's Chromium, driven by playwright-core, loads the
// page and uses the browser's own WebSocket and EventSource against the real server. (The chat
// has its own file, example-chat.test.ts.)

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { type Browser, type Page } from "playwright-core";
import { launchBrowser } from "./helpers/browser";
import { createExample, type Example } from "../example-app/server";

let browser: Browser;
let example: Example;
let origin: string;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "example-app-"));
  example = createExample({ logFile: path.join(dir, "app.log") });
  await new Promise<void>((resolve) => example.server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(example.server.address() as AddressInfo).port}`;
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await example?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Script errors each page threw: a page that breaks must fail the test. */
const pageErrors = new Map<Page, string[]>();

async function openPage(pathname: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(origin + pathname);
  return page;
}

describe("example app in Chromium", () => {
  it("echoes through each factory with the browser's own WebSocket", async () => {
    const page = await openPage("/");
    await page.waitForSelector("#echo-status.open");
    const out = page.locator("#echo-out");

    await page.fill("#echo-text", "héllo");
    await page.click("#echo-send");
    await expectText(out, "messages ← héllo");

    await page.selectOption("#echo-route", "bytes");
    await page.fill("#echo-text", "AB");
    await page.click("#echo-send");
    await expectText(out, "bytes ← [65, 66]");

    await page.selectOption("#echo-route", "json");
    await page.fill("#echo-text", "j");
    await page.click("#echo-send");
    await expectText(out, 'json ← {"echo":{"text":"j"');
    await page.close();
  });

  it("streams the server clock from tick()", async () => {
    const page = await openPage("/");
    await page.waitForFunction(() =>
      /^\d{4}-\d\d-\d\dT/.test(document.getElementById("clock-out")?.textContent ?? ""),
    );
    await page.close();
  });

  it("follows the log file live over SSE and over WebSocket", async () => {
    const page = await openPage("/logs.html");
    await page.waitForSelector("#status.open");
    fs.appendFileSync(example.logFile, "a line written by the test over sse\n");
    await expectText(page.locator("#log"), "a line written by the test over sse");

    await page.check('input[value="ws"]');
    await page.waitForSelector("#status.open");
    await page.fill("#mark-text", "marked from the page");
    await page.click("#mark");
    await expectText(page.locator("#log"), "mark: marked from the page");
    const text = (await page.locator("#log").textContent()) ?? "";
    // Switching transport resumes from the last offset: no line is shown twice.
    expect(text.split("a line written by the test over sse").length).toBe(2);
    expect(pageErrors.get(page)).toEqual([]);
    await page.close();
  });
});

async function expectText(locator: ReturnType<Page["locator"]>, text: string): Promise<void> {
  await locator
    .page()
    .waitForFunction(
      ({ selector, text }) => (document.querySelector(selector)?.textContent ?? "").includes(text),
      { selector: await selectorOf(locator), text },
      { timeout: 5000 },
    );
}

async function selectorOf(locator: ReturnType<Page["locator"]>): Promise<string> {
  const id = await locator.getAttribute("id");
  return `#${id}`;
}
