// Consent capture in Debian's headless Chromium driven by playwright-core, with JavaScript
// off in the page (the pages must work without it):
//   --steps form     open the hosted form (GET /f/{form}/{lang}), fill it in as a person would
//                    (name, e-mail, one topic, both consent boxes), send it (POST)
//   --steps open     only GET the confirmation link, as a mail scanner would, and stop
//   --steps confirm  open the confirmation link (GET /fc/{token}) and press Confirm (POST)
// Screenshots go to --out as NAME-STEP.png.
//
// Usage: node capture_flow.mjs --url URL --out DIR --name NAME --steps form|open|confirm
//          [--email ADDRESS --given-name NAME --topic TOPIC] [--accept-language TAG]
//          [--chromium PATH]
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
    steps: { type: 'string' },
    email: { type: 'string', default: '' },
    'given-name': { type: 'string', default: '' },
    topic: { type: 'string', default: '' },
    'accept-language': { type: 'string', default: '' },
    chromium: { type: 'string', default: process.env.HERALD_CHROMIUM || '/usr/bin/chromium' },
    timeout: { type: 'string', default: '15000' },
  },
});
for (const k of ['url', 'out', 'name', 'steps']) {
  if (!opt[k]) {
    console.log(JSON.stringify({ error: `--${k} is required` }));
    process.exit(2);
  }
}
mkdirSync(opt.out, { recursive: true });

const result = { steps: [], screenshots: [], browser: '' };

// The path without the token.
function pathKind(url) {
  return new URL(url).pathname.replace(/^\/fc\/[^/]+/, '/fc/{token}');
}

async function snapshot(page, name, response) {
  const headers = response ? await response.allHeaders() : {};
  const entry = {
    step: name,
    path: pathKind(page.url()),
    status: response ? response.status() : 0,
    lang: await page.locator('html').getAttribute('lang'),
    title: await page.title(),
    headers: {
      'content-security-policy': headers['content-security-policy'] || '',
      'cache-control': headers['cache-control'] || '',
    },
    ids: {},
  };
  for (const id of ['capture-form', 'submit', 'consent_processing', 'consent_marketing', 'sent',
                    'confirm-form', 'confirm', 'confirmed', 'website']) {
    entry.ids[id] = (await page.locator(`#${id}`).count()) > 0;
  }
  // Every visible input of the form has a label that names it.
  entry.unlabelled = await page.locator('#capture-form input:not([type="hidden"])').evaluateAll(
    (inputs) => inputs.filter((i) => i.id !== 'website' &&
                                     !(i.labels && Array.from(i.labels).some(
                                         (l) => l.textContent.trim().length > 0)))
                      .map((i) => i.name));
  const file = join(opt.out, `${opt.name}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.screenshots.push(file);
  result.steps.push(entry);
  return entry;
}

let browser;
try {
  let context;
  ({ browser, context } = await launch({
    executablePath: opt.chromium,
    timeoutMs: Number(opt.timeout),
    acceptLanguage: opt['accept-language'],
    viewport: { width: 800, height: 900 },
  }));
  result.browser = browser.version();
  const page = await context.newPage();

  let response = await page.goto(opt.url, { waitUntil: 'load' });
  if (opt.steps === 'form') {
    let entry = await snapshot(page, 'form', response);
    await need(page, '#capture-form', entry);
    await page.fill('#given_name', opt['given-name']);
    await page.fill('#email', opt.email);
    if (opt.topic) await page.check(`#topic-${opt.topic}`);
    await page.check('#consent_processing');
    await page.check('#consent_marketing');
    await snapshot(page, 'filled', response);
    response = await submitAndWait(page, '#submit');
    entry = await snapshot(page, 'sent', response);
    await need(page, '#sent', entry);
  } else {
    let entry = await snapshot(page, 'confirm', response);
    await need(page, '#confirm', entry);
    if (opt.steps === 'confirm') {
      response = await submitAndWait(page, '#confirm');
      entry = await snapshot(page, 'confirmed', response);
      await need(page, '#confirmed', entry);
    }
  }
  await browser.close();
  console.log(JSON.stringify(result));
} catch (e) {
  result.error = String(e && e.message ? e.message : e).split('\n')[0]
    .replace(/\/fc\/[A-Za-z0-9_=.~-]+/g, '/fc/{token}');
  if (browser) await browser.close().catch(() => {});
  console.log(JSON.stringify(result));
  process.exit(1);
}
