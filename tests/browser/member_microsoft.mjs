// A member signs in with Microsoft: the login page's "Sign in
// with Microsoft" goes to the emulator's Entra ID sign-in page, which lists
// the directory's users; picking one comes back to the portal signed in as
// that person, a member (no Integrations link). Runs after the admin's
// journey has connected the tenant.

import { base, check, need, scenario } from './lib.mjs';

const upn = need('TAC_MS_USER_EMAIL');
let name = '';

await scenario('member signs in with Microsoft', async ({ page, step }) => {
  await step('the login page offers Sign in with Microsoft', async () => {
    await page.goto(`${base()}/login`);
    const microsoft = page
      .getByRole('link', { name: 'Sign in with Microsoft' })
      .or(page.getByRole('button', { name: 'Sign in with Microsoft' }));
    await Promise.all([
      page.waitForURL((url) => url.origin !== new URL(base()).origin),
      microsoft.first().click(),
    ]);
  });

  await step('pick the directory user on the Microsoft sign-in page', async () => {
    await page.getByRole('heading', { name: 'Pick an account' }).waitFor();
    const url = new URL(page.url());
    check(url.pathname.endsWith('/oauth2/v2.0/authorize'), `the authorize endpoint, got ${url.pathname}`);
    check(url.searchParams.get('response_type') === 'code', 'the authorization code flow');
    check(url.searchParams.get('code_challenge_method') === 'S256', 'PKCE with S256');
    check((url.searchParams.get('state') || '').length >= 16, 'a state parameter');
    check((url.searchParams.get('nonce') || '').length >= 16, 'a nonce');
    const account = page.getByRole('button').filter({ hasText: upn });
    // The button reads "Display Name" then the address: the name is the first line.
    name = (await account.innerText()).split('\n')[0].trim();
    check(name.length > 0, 'a display name on the account button');
    await account.click();
    // With response_mode=form_post the emulator shows a Continue button.
    const back = (u) => u.origin === new URL(base()).origin;
    const cont = page.getByRole('button', { name: 'Continue' });
    await Promise.race([page.waitForURL(back), cont.waitFor()]);
    if (!back(new URL(page.url()))) await cont.click();
  });

  await step('back in the portal, signed in as a member', async () => {
    await page.waitForURL((url) => url.origin === new URL(base()).origin && url.pathname === '/');
    await page.getByRole('heading', { level: 1, name: `Welcome, ${name}` }).waitFor();
    const facts = await page.locator('dl.facts').innerText();
    check(facts.toLowerCase().includes(upn.toLowerCase()), `the home page to name ${upn}, got ${JSON.stringify(facts)}`);
    check(/member/i.test(facts), `the role member, got ${JSON.stringify(facts)}`);
    check((await page.getByRole('link', { name: 'Integrations' }).count()) === 0, 'no Integrations link for a member');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Contacts', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Contacts' }).waitFor();
  });
});
