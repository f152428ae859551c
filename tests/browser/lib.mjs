// What every browser scenario shares: Debian's Chromium launched headless
// through playwright-core (never a downloaded browser), a page that records
// every problem the portal should never have (a dialog, a script error, a
// console error, a Content-Security-Policy violation, a 5xx answer), and the
// sign-in step.
//
// The scenarios are run by crates/crm/tests/browser.rs, which builds the
// world (emulator, `tac-crm serve`, accounts) and passes it in environment
// variables; `need(name)` reads one. A scenario exits 0 when it passed and
// non-zero with a message saying which step failed.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** Generous for two shared cores: a step that takes longer is a failure. */
export const TIMEOUT = 30_000;

export function need(name) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run the browser tests through crates/crm/tests/browser.rs (cargo test -p tac-crm --test browser)`);
  }
  return value;
}

/** The portal's base URL, without a trailing slash. */
export const base = () => need('TAC_URL').replace(/\/$/, '');

/**
 * Starts Chromium with the flags this machine needs (no sandbox as root, no
 * GPU, no background connections to Google) and a fresh profile (playwright
 * makes a new temporary --user-data-dir for every launch and removes it).
 */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.TAC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
    timeout: 60_000,
  });
}

/**
 * A browser context and page that collect problems in `problems`. Dialogs
 * are dismissed and recorded; CSP violations are reported from every
 * document through a binding (the CSP itself stays on: no bypassCSP).
 * `allowStatus` lists statuses (>= 400) a scenario expects to see.
 */
export async function openPage(browser, { allowStatus = [] } = {}) {
  const problems = [];
  // A reader far from UTC: the portal writes UTC and local-time.js must
  // show New York time.
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'America/New_York',
  });
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(TIMEOUT);
  await context.exposeBinding('__tacCspViolation', (source, v) => {
    problems.push(`CSP violation on ${source.frame.url()}: ${v.directive} blocked ${v.blocked} (${v.source}:${v.line})`);
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      // A sandboxed frame without scripts never runs this; its violations
      // reach the console listener below instead.
      window.__tacCspViolation({
        directive: e.violatedDirective,
        blocked: e.blockedURI,
        source: e.sourceFile,
        line: e.lineNumber,
      });
    });
  });
  const page = await context.newPage();
  page.on('dialog', async (dialog) => {
    problems.push(`a ${dialog.type()} dialog opened: ${JSON.stringify(dialog.message())}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => problems.push(`script error on ${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // Chromium logs every 4xx/5xx answer as a console error; statuses are
    // checked on the responses themselves below.
    if (/^Failed to load resource: the server responded with a status of (\d+)/.test(text)) return;
    problems.push(`console error on ${page.url()}: ${text}`);
  });
  page.on('response', (response) => {
    const status = response.status();
    if (status >= 400 && !allowStatus.includes(status)) {
      problems.push(`${response.request().method()} ${response.url()} answered ${status}`);
    }
  });
  return { context, page, problems };
}

/** Signs in with a password and waits for the home page. */
export async function signIn(page, email, password) {
  await page.goto(`${base()}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page.waitForURL((url) => url.pathname === '/'),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  await page.getByRole('heading', { level: 1, name: /^Welcome,/ }).waitFor();
}

/** Saves a full-page screenshot as `name` in TAC_ARTIFACTS (CI keeps them). */
export async function shoot(page, name) {
  const dir = need('TAC_ARTIFACTS');
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
}

/** Throws when `condition` is false; `what` says what was expected. */
export function check(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

/**
 * Runs a scenario: launches the browser, runs `steps(page, problems)` and
 * fails when a step throws or any problem was recorded. Each step logs a
 * line so a failure shows how far the scenario got.
 */
export async function scenario(name, steps, options = {}) {
  const browser = await launch();
  let failed = false;
  try {
    const { context, page, problems } = await openPage(browser, options);
    const step = async (title, body) => {
      console.log(`[${name}] ${title}`);
      try {
        return await body();
      } catch (error) {
        throw new Error(`step "${title}" failed on ${page.url()}: ${error.message}`, { cause: error });
      }
    };
    try {
      await steps({ page, context, problems, step });
    } finally {
      if (problems.length > 0) {
        failed = true;
        console.error(`[${name}] problems seen in the browser:\n  ${problems.join('\n  ')}`);
      }
      await context.close();
    }
  } catch (error) {
    failed = true;
    console.error(`[${name}] FAILED: ${error.stack || error}`);
  } finally {
    await browser.close();
  }
  if (failed) {
    process.exitCode = 1;
  } else {
    console.log(`[${name}] passed`);
  }
}
