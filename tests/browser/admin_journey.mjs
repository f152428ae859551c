// The admin's journey: sign in; connect Microsoft 365 with a wrong
// secret and see the AADSTS7000215 explanation, then with the right one;
// test the connection (every item ✓); Sync now until every mailbox is ok;
// open a contact whose timeline holds the expected emails and meetings
// (and save a screenshot of the profile); open one email.

import { check, need, scenario, shoot, signIn } from './lib.mjs';

const expectedEmails = JSON.parse(need('TAC_EXPECT_EMAILS'));
const expectedMeetings = JSON.parse(need('TAC_EXPECT_MEETINGS'));
const contactName = need('TAC_CONTACT_NAME');
const SYNC_TIMEOUT = 180_000;

await scenario('admin journey', async ({ page, step }) => {
  await step('sign in as the admin', () => signIn(page, need('TAC_ADMIN_EMAIL'), need('TAC_ADMIN_PASSWORD')));

  const save = async (secret) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Integrations', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Integrations' }).waitFor();
    await page.getByLabel('Tenant ID').fill(need('TAC_TENANT_ID'));
    await page.getByLabel('Client ID').fill(need('TAC_CLIENT_ID'));
    await page.getByLabel('Client Secret').fill(secret);
    await page.getByLabel('Import Emails').check();
    await page.getByLabel('Calendar Synchronization').check();
    await page.getByLabel('All mailboxes').check();
    const cloud = page.locator('details', { has: page.getByText('National cloud', { exact: true }) });
    if ((await cloud.getAttribute('open')) === null) {
      await cloud.getByText('National cloud', { exact: true }).click();
    }
    await page.getByLabel('Login URL').fill(need('TAC_LOGIN_URL'));
    await page.getByLabel('Graph URL').fill(need('TAC_GRAPH_URL'));
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/integrations'),
      page.getByRole('button', { name: 'Save', exact: true }).click(),
    ]);
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    check((await page.getByLabel('Client Secret').inputValue()) === '', 'the secret field to be empty after saving');
    check(!(await page.content()).includes(secret), 'the secret never to be rendered back');
  };
  const test = async () => {
    const result = page.locator('#test-result');
    const before = await result.innerHTML();
    await page.getByRole('button', { name: 'Test connection' }).click();
    // The htmx swap replaces #test-result's content with a fresh result.
    await page.waitForFunction(
      (previous) => {
        const el = document.querySelector('#test-result');
        return el && el.querySelector('.test-result') && el.innerHTML !== previous;
      },
      before,
      { polling: 200 },
    );
    return result;
  };

  await step('save a wrong client secret', () => save('wrong-secret-value-from-the-portal'));
  await step('test the connection and read the AADSTS7000215 explanation', async () => {
    const result = await test();
    await result.locator('.test-failed').waitFor();
    const token = result.locator('li.check-failed', { hasText: 'AADSTS7000215' });
    await token.waitFor({ state: 'visible' });
    const text = await token.innerText();
    check(/the client secret is wrong\. Paste the secret's Value, not its Secret ID/.test(text), `the explanation, got ${JSON.stringify(text)}`);
    check((await result.locator('.test-summary').innerText()).includes('does not work yet'), 'the summary to say it does not work');
  });

  await step('save the right client secret', () => save(need('TAC_CLIENT_SECRET')));
  await step('test the connection: every item passes', async () => {
    const result = await test();
    await result.locator('.test-ok').waitFor();
    const items = result.locator('ul.checklist > li');
    const count = await items.count();
    check(count === 8, `8 checklist items (token, admin consent, six capabilities), got ${count}`);
    await result.locator('li.check-ok', { hasText: 'Admin consent' }).waitFor();
    check((await result.locator('li.check-failed').count()) === 0, 'no failed item');
    for (let i = 0; i < count; i++) {
      const mark = await items.nth(i).locator('[aria-hidden="true"]').innerText();
      check(mark.trim() === '✓', `item ${i + 1} to be ✓, got ${JSON.stringify(mark)}: ${await items.nth(i).innerText()}`);
    }
  });

  await step('Sync now, until the dashboard shows every mailbox ok', async () => {
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.locator('#sync-notice').getByRole('status').waitFor();
    const handle = await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('#sync-health tr[data-state]')];
        const summary = document.querySelector('#sync-health .health-summary');
        if (rows.length === 0 || !summary || /syncing now|need attention/.test(summary.textContent)) return false;
        const states = rows.map((r) => r.dataset.state);
        return states.every((s) => s === 'ok' || s === 'no_mailbox') && states.includes('ok') && states;
      },
      null,
      { polling: 500, timeout: SYNC_TIMEOUT },
    );
    const states = await handle.jsonValue();
    console.log(`[admin journey] mailboxes: ${states.filter((s) => s === 'ok').length} ok, ${states.filter((s) => s !== 'ok').length} without a mailbox`);
    const summary = await page.locator('#sync-health .health-summary').innerText();
    check(/\d+ mailboxes: [1-9][\d,]* emails and [1-9][\d,]* meetings stored\.$/.test(summary.trim()), `a summary with emails and meetings, got ${JSON.stringify(summary)}`);
    // The table is swapped in by htmx; its times follow the reader's zone too.
    await page.waitForFunction(() => {
      const time = document.querySelector('#sync-health time[data-start]');
      return time && / (GMT-[45]|EST|EDT)$/.test(time.textContent.trim());
    }, null, { polling: 200, timeout: 10_000 });
  });
  await step('the health table fits a desktop window without scrolling', async () => {
    const overflow = await page.locator('#sync-health .table-wrap').evaluate((el) => el.scrollWidth - el.clientWidth);
    check(overflow <= 0, `the table to fit its box at 1280 px, it is ${overflow} px too wide`);
  });
  await step('save a screenshot of the Integrations page', () => shoot(page, 'integrations.png'));

  await step('find the contact', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Contacts', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Contacts' }).waitFor();
    await page.getByRole('searchbox', { name: 'Search' }).fill(need('TAC_CONTACT_EMAIL'));
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('link', { name: contactName, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: contactName }).waitFor();
  });

  await step('the timeline shows the expected emails and meetings', async () => {
    const titles = async (kind) =>
      (await page.locator(`ol.timeline > li.item.${kind} .item-title`).allInnerTexts()).map((t) => t.trim()).sort();
    const emails = await titles('email');
    const meetings = await titles('meeting');
    const same = (a, b) => JSON.stringify(a) === JSON.stringify([...b].sort());
    check(same(emails, expectedEmails), `emails ${JSON.stringify([...expectedEmails].sort())}, got ${JSON.stringify(emails)}`);
    check(same(meetings, expectedMeetings), `meetings ${JSON.stringify([...expectedMeetings].sort())}, got ${JSON.stringify(meetings)}`);
    check((await page.locator('svg.activity-chart rect').count()) > 0, 'bars in the activity chart');
  });

  await step("times show in the reader's time zone, the UTC text kept in the title", async () => {
    const times = page.locator('ol.timeline > li.item time[data-start]');
    const count = await times.count();
    check(count > 0, 'times on the timeline');
    for (let i = 0; i < Math.min(count, 5); i += 1) {
      const time = times.nth(i);
      const instant = Date.parse(await time.getAttribute('data-start'));
      const shown = (await time.innerText()).trim();
      const title = (await time.getAttribute('title')) ?? '';
      check(title.endsWith(' UTC'), `the UTC text in the title, got ${JSON.stringify(title)}`);
      const local = shown.match(/^(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}).* (GMT-[45]|EST|EDT)$/);
      check(local !== null, `a New York time, got ${JSON.stringify(shown)}`);
      if (local) {
        const wallClock = Date.parse(`${local[1]}T${local[2]}:${local[3]}:00Z`);
        const behind = (Math.floor(instant / 60000) * 60000 - wallClock) / 3600000;
        check(behind === 4 || behind === 5, `New York 4 or 5 hours behind UTC, got ${behind} h for ${shown}`);
      }
    }
    const zone = await page.locator('.tz-name').first().innerText();
    check(zone === 'America/New_York', `the hint to name the zone, got ${JSON.stringify(zone)}`);
  });

  await step('save a screenshot of the contact profile', async () => {
    await shoot(page, 'contact-profile.png');
  });

  await step('open an email', async () => {
    const subject = need('TAC_OPEN_EMAIL');
    await Promise.all([
      page.waitForURL((url) => url.pathname.startsWith('/emails/')),
      page.getByRole('link', { name: subject, exact: true }).click(),
    ]);
    await page.getByRole('heading', { level: 1, name: subject }).waitFor();
    const from = await page.locator('dl.facts dt:text-is("From") + dd').innerText();
    check(from.includes(need('TAC_CONTACT_EMAIL')), `From to name the contact, got ${JSON.stringify(from)}`);
    const frame = page.locator('iframe.email-body');
    check((await frame.getAttribute('sandbox')) === '', 'the body frame to be sandboxed with no permissions');
    const body = page.frameLocator('iframe.email-body').locator('body');
    await body.getByText(need('TAC_OPEN_EMAIL_TEXT')).waitFor();
    await shoot(page, 'email.png');
  });
});
