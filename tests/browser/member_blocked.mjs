// A member cannot reach the Integrations page: no link to it in
// the navigation, and opening it answers 403 with an explanation and no
// connection form.

import { base, check, need, scenario, signIn } from './lib.mjs';

await scenario('member blocked from Integrations', async ({ page, step }) => {
  await step('sign in as a member', () => signIn(page, need('TAC_MEMBER_EMAIL'), need('TAC_MEMBER_PASSWORD')));

  await step('the navigation has no Integrations link', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Contacts' }).waitFor();
    check((await page.getByRole('link', { name: 'Integrations' }).count()) === 0, 'no Integrations link for a member');
  });

  await step('opening /integrations answers 403 without the form', async () => {
    const response = await page.goto(`${base()}/integrations`);
    check(response.status() === 403, `status 403, got ${response.status()}`);
    await page.locator('.status-code', { hasText: 'Error 403' }).waitFor();
    const text = await page.locator('main').innerText();
    check(/admin/i.test(text), `an explanation that mentions admins, got ${JSON.stringify(text)}`);
    check((await page.locator('form[action^="/integrations"]').count()) === 0, 'no Integrations form');
    check((await page.getByLabel('Client Secret').count()) === 0, 'no Client Secret field');
    check((await page.getByRole('button', { name: 'Test connection' }).count()) === 0, 'no Test connection button');
  });
}, { allowStatus: [403] });
