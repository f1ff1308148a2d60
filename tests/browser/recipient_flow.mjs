// The recipient's path through the web pages, in Debian's headless Chromium driven by
// playwright-core: open the unsubscribe link of a delivered message (GET /u/{token}),
// confirm (POST), follow the link to the preference center (/p/{token}), toggle one topic,
// save, and read the saved state back from a fresh GET. JavaScript is off in the page, as
// the pages must work without it. Screenshots go to --out.
//
// Usage: node recipient_flow.mjs --url URL --out DIR --name NAME --toggle pref:EMAIL:topic
//                                [--accept-language TAG] [--chromium PATH] [--steps open|undo|all]
// Prints one JSON object on stdout (the C++ test checks it); exits 0 when the pages could be
// driven to the end, 1 with {"error": ...} otherwise. Nothing personal is printed.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { launch, need, submitAndWait } from './flow_support.mjs';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string' },
    name: { type: 'string' },
    toggle: { type: 'string' },
    'accept-language': { type: 'string', default: '' },
    chromium: { type: 'string', default: process.env.HERALD_CHROMIUM || '/usr/bin/chromium' },
    timeout: { type: 'string', default: '15000' },
    // "open": only GET the link (as a mail scanner would) and stop; "undo": confirm, then
    // undo; "all" (default): confirm, preference center, toggle, save, read back.
    steps: { type: 'string', default: 'all' },
  },
});
for (const k of ['url', 'out', 'name', 'toggle']) {
  if (!opt[k]) {
    console.log(JSON.stringify({ error: `--${k} is required` }));
    process.exit(2);
  }
}
mkdirSync(opt.out, { recursive: true });

const result = {
  steps: [],        // one per page visited: what the browser saw
  responses: [],    // every main-frame document response: method, path kind, status
  screenshots: [],
  toggle: { name: opt.toggle },
  browser: '',
};

// The path without the token (tokens are secrets of a kind; keep them out of the output).
function pathKind(url) {
  const u = new URL(url);
  return u.pathname.replace(/^\/(u|p)\/[^/]+/, '/$1/{token}');
}

async function snapshot(page, step) {
  const html = page.locator('html');
  const headers = step.response ? await step.response.allHeaders() : {};
  const entry = {
    step: step.name,
    path: pathKind(page.url()),
    status: step.response ? step.response.status() : 0,
    lang: await html.getAttribute('lang'),
    title: await page.title(),
    headers: {
      'content-security-policy': headers['content-security-policy'] || '',
      'referrer-policy': headers['referrer-policy'] || '',
      'cache-control': headers['cache-control'] || '',
      'x-frame-options': headers['x-frame-options'] || '',
    },
    ids: {},
  };
  for (const id of ['unsubscribe-form', 'confirm-unsubscribe', 'unsubscribed', 'preferences-link',
                    'undo', 'preferences-form', 'save-preferences', 'unsubscribe-all',
                    'policy-link', 'status']) {
    entry.ids[id] = (await page.locator(`#${id}`).count()) > 0;
  }
  if (entry.ids['policy-link']) {
    entry.policy_href = await page.locator('#policy-link').getAttribute('href');
  }
  const file = join(opt.out, `${opt.name}-${step.name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.screenshots.push(file);
  result.steps.push(entry);
  return entry;
}

// Every checkbox of the preference form: name, checked, disabled, and whether a label names it.
async function checkboxes(page) {
  return page.locator('#preferences-form input[type="checkbox"][name^="pref:"]').evaluateAll(
    (boxes) => boxes.map((b) => ({
      name: b.name,
      checked: b.checked,
      disabled: b.disabled,
      labelled: (b.labels && b.labels.length > 0 &&
                 Array.from(b.labels).some((l) => l.textContent.trim().length > 0)),
    })));
}

let browser;
try {
  let context;
  ({ browser, context } = await launch({
    executablePath: opt.chromium,
    timeoutMs: Number(opt.timeout),
    acceptLanguage: opt['accept-language'],
    viewport: { width: 800, height: 720 },
  }));
  result.browser = browser.version();
  const page = await context.newPage();
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
      result.responses.push({ method: r.request().method(), path: pathKind(r.url()),
                              status: r.status() });
    }
  });

  // 1. The link as the mail client opens it: a confirmation page that changes nothing (E1).
  let response = await page.goto(opt.url, { waitUntil: 'load' });
  let entry = await snapshot(page, { name: 'unsubscribe', response });
  await need(page, '#unsubscribe-form', entry);
  await need(page, '#confirm-unsubscribe', entry);
  if (opt.steps === 'open') {
    await browser.close();
    console.log(JSON.stringify(result));
    process.exit(0);
  }

  // 2. Confirm: the form POST unsubscribes and answers with a page, not a redirect (E2).
  response = await submitAndWait(page, '#confirm-unsubscribe');
  entry = await snapshot(page, { name: 'unsubscribed', response });
  await need(page, '#unsubscribed', entry);
  await need(page, '#preferences-link', entry);
  if (opt.steps === 'undo') {
    // The undo button on that page: a CSRF-checked form of our own.
    await need(page, '#undo', entry);
    response = await submitAndWait(page, '#undo');
    entry = await snapshot(page, { name: 'undone', response });
    await need(page, '#status', entry);
    await browser.close();
    console.log(JSON.stringify(result));
    process.exit(0);
  }

  // 3. The preference center from the link on that page.
  response = await submitAndWait(page, '#preferences-link');
  entry = await snapshot(page, { name: 'preferences-before', response });
  await need(page, '#preferences-form', entry);
  await need(page, '#save-preferences', entry);
  const before = await checkboxes(page);
  result.toggle.before_all = before;
  const box = page.locator(`#preferences-form input[type="checkbox"][name="${opt.toggle}"]`);
  if ((await box.count()) !== 1) {
    throw new Error(`no single checkbox named ${opt.toggle} on the preference center`);
  }
  result.toggle.before = await box.isChecked();
  await box.setChecked(!result.toggle.before);  // by its label's click target, as a person would
  await box.focus();

  // 4. Save; the answer page carries #status.
  response = await submitAndWait(page, '#save-preferences');
  await snapshot(page, { name: 'saved', response });

  // 5. What the server now holds, from a fresh GET of the same page.
  const prefsUrl = new URL(opt.url);
  prefsUrl.pathname = prefsUrl.pathname.replace(/^\/u\//, '/p/');
  response = await page.goto(prefsUrl.toString(), { waitUntil: 'load' });
  await snapshot(page, { name: 'preferences', response });
  const after = await checkboxes(page);
  result.toggle.after_all = after;
  const saved = after.find((b) => b.name === opt.toggle);
  result.toggle.after = saved ? saved.checked : null;

  await browser.close();
  console.log(JSON.stringify(result));
} catch (e) {
  result.error = String(e && e.message ? e.message : e).split('\n')[0]
    .replace(/\/(u|p)\/[A-Za-z0-9_=.~-]+/g, '/$1/{token}');
  if (browser) await browser.close().catch(() => {});
  console.log(JSON.stringify(result));
  process.exit(1);
}
