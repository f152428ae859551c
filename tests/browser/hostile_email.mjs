// A hostile email must not run script. Its body carries
// <script>, an onerror handler, a javascript: link, iframes, an SVG onload
// and a form; its subject carries markup too. Opening it from the
// contact's timeline: no dialog opens, no element with an id starting with
// "injected" appears in any frame, the subject is shown as text, and the
// body frame is sandboxed without allow-scripts. Any CSP violation or
// console error fails the scenario too (lib.mjs).

import { base, check, need, scenario, shoot, signIn } from './lib.mjs';

const subject = need('TAC_HOSTILE_SUBJECT');

await scenario('hostile email', async ({ page, problems, step }) => {
  await step('sign in', () => signIn(page, need('TAC_ADMIN_EMAIL'), need('TAC_ADMIN_PASSWORD')));

  await step('the subject shows as text on the timeline', async () => {
    await page.goto(`${base()}/contacts?q=${encodeURIComponent(need('TAC_CONTACT_EMAIL'))}`);
    await page.getByRole('link', { name: need('TAC_CONTACT_NAME'), exact: true }).click();
    await page.getByRole('heading', { level: 1, name: need('TAC_CONTACT_NAME') }).waitFor();
    await page.getByRole('link', { name: subject, exact: true }).waitFor();
  });

  await step('open the hostile email', async () => {
    await Promise.all([
      page.waitForURL((url) => url.pathname.startsWith('/emails/')),
      page.getByRole('link', { name: subject, exact: true }).click(),
    ]);
    await page.getByRole('heading', { level: 1, name: subject }).waitFor();
    // The harmless text of the body is there: the frame has loaded and been parsed.
    await page.frameLocator('iframe.email-body').getByText(need('TAC_HOSTILE_TEXT')).waitFor();
    // Every subresource (images included, and so their onerror) has settled.
    await page.waitForLoadState('load');
  });

  await step('the body frame is sandboxed without scripts', async () => {
    const frames = page.locator('iframe.email-body');
    check((await frames.count()) === 1, 'one body frame');
    const sandbox = await frames.getAttribute('sandbox');
    check(sandbox !== null, 'a sandbox attribute on the body frame');
    check(!sandbox.split(/\s+/).includes('allow-scripts'), `no allow-scripts in sandbox="${sandbox}"`);
    check(!sandbox.split(/\s+/).includes('allow-same-origin'), `no allow-same-origin in sandbox="${sandbox}"`);
  });

  await step('no script ran and nothing was injected, in any frame', async () => {
    for (const frame of page.frames()) {
      const injected = await frame.locator('[id^="injected"]').count();
      check(injected === 0, `no injected element in ${frame.url()}, found ${injected}`);
      const active = await frame.evaluate(() => {
        const found = [];
        for (const el of document.querySelectorAll('*')) {
          for (const attr of el.attributes) {
            if (/^on/i.test(attr.name)) found.push(`${el.tagName} ${attr.name}`);
            if (/^(href|src|action|formaction|xlink:href)$/i.test(attr.name) && /^\s*javascript:/i.test(attr.value)) {
              found.push(`${el.tagName} ${attr.name}=${attr.value}`);
            }
          }
        }
        return found;
      }).catch((e) => [`cannot inspect: ${e.message}`]);
      check(active.length === 0, `no event handler or javascript: URL in ${frame.url()}: ${active.join(', ')}`);
    }
    const body = page.frameLocator('iframe.email-body');
    check((await body.locator('script, iframe, object, embed, form').count()) === 0, 'no script, iframe, object, embed or form left in the body');
  });

  await step('clicking the body\'s link runs nothing', async () => {
    const link = page.frameLocator('iframe.email-body').getByText('Open the report', { exact: true });
    if ((await link.count()) > 0) {
      await link.click({ noWaitAfter: true });
      // A dialog, if one opened, is recorded by lib.mjs; the portal page stays.
      await page.getByRole('heading', { level: 1, name: subject }).waitFor();
    }
    check(!problems.some((p) => p.includes('dialog')), 'no dialog');
    await shoot(page, 'hostile-email.png');
  });
});
