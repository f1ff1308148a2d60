// What the browser flows share: starting Debian's Chromium through playwright-core with
// JavaScript off in the page, and the two moves every flow makes.
import { chromium } from 'playwright-core';

// A browser and a context that sends `acceptLanguage` (when given); JavaScript is off, as
// the pages must work without it.
export async function launch({ executablePath, timeoutMs, acceptLanguage, viewport }) {
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: timeoutMs * 2,
  });
  const context = await browser.newContext({
    javaScriptEnabled: false,
    viewport,
    extraHTTPHeaders: acceptLanguage ? { 'Accept-Language': acceptLanguage } : {},
  });
  context.setDefaultTimeout(timeoutMs);
  return { browser, context };
}

// Fails the run with a readable reason when the page lacks what the contract promises.
export async function need(page, selector, entry) {
  if ((await page.locator(selector).count()) === 0) {
    throw new Error(`${entry.step} page (HTTP ${entry.status}, lang ${entry.lang}) has no ${selector}`);
  }
}

// Clicks a form's button and waits for the page the POST answers with.
export async function submitAndWait(page, selector) {
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click(selector),
  ]);
  return response;
}
