// Microsoft's own clients against the emulator: @azure/identity gets an app
// token the way Microsoft's samples do, and the Graph JavaScript SDK
// (@microsoft/microsoft-graph-client with its PageIterator) lists users and
// pages through a mailbox delta round, a follow-up round and a calendarView
// delta round. Every answer is compared with the emulator's ground truth.
//
// Run by crates/emulator/tests/sdk_fidelity.rs, which serves the emulator over
// HTTPS (Microsoft's clients speak nothing else) and passes:
//   TAC_LOGIN_URL, TAC_GRAPH_URL, TAC_TENANT_ID, TAC_CLIENT_ID,
//   TAC_CLIENT_SECRET, TAC_EMULATOR_URL (base of the /_emulator/ API)
// and NODE_EXTRA_CA_CERTS naming the test CA.
//
// Prints one line per check and ends with "N passed, M failed"; exits 1 on
// any failure.

import { ClientSecretCredential } from "@azure/identity";
import { Client, PageIterator } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set; run this through crates/emulator/tests/sdk_fidelity.rs`);
    process.exit(2);
  }
  return v;
};

const loginUrl = env("TAC_LOGIN_URL");
const graphUrl = env("TAC_GRAPH_URL");
const tenantId = env("TAC_TENANT_ID");
const clientId = env("TAC_CLIENT_ID");
const clientSecret = env("TAC_CLIENT_SECRET");
const emulatorUrl = env("TAC_EMULATOR_URL").replace(/\/+$/, "");

let passed = 0;
let failed = 0;

function check(name, ok, detail = "") {
  if (ok) {
    passed += 1;
    console.log(`ok    ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL  ${name}${detail ? `: ${detail}` : ""}`);
  }
  return ok;
}

/** Runs one part of the test; an exception is a failure of that part, and the rest still runs. */
async function part(name, body) {
  console.log(`-- ${name}`);
  try {
    await body();
  } catch (e) {
    const extra = e && e.statusCode ? ` (HTTP ${e.statusCode}, code ${e.code}, body ${JSON.stringify(e.body)})` : "";
    check(`${name} ran without error`, false, `${e && e.stack ? e.stack : e}${extra}`);
  }
}

async function admin(method, path, body) {
  const response = await fetch(`${emulatorUrl}/_emulator${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${method} /_emulator${path} answered ${response.status}: ${text}`);
  }
  return text ? JSON.parse(text) : null;
}

function duplicates(ids) {
  const seen = new Set();
  const dup = new Set();
  for (const id of ids) {
    if (seen.has(id)) dup.add(id);
    seen.add(id);
  }
  return [...dup];
}

/** Compares two id collections as sets; the detail names a few differences. */
function sameSet(name, got, want) {
  const g = new Set(got);
  const w = new Set(want);
  const missing = [...w].filter((x) => !g.has(x));
  const extra = [...g].filter((x) => !w.has(x));
  return check(
    name,
    missing.length === 0 && extra.length === 0,
    `${missing.length} missing (${missing.slice(0, 3).join(", ")}), ${extra.length} unexpected (${extra.slice(0, 3).join(", ")})`,
  );
}

/**
 * Pages through a collection from its first page with the SDK's PageIterator,
 * which follows @odata.nextLink with the same request options and keeps the
 * last page's @odata.deltaLink. Returns the items, the delta link and the size
 * of each page.
 */
async function iterate(client, firstPage, requestOptions) {
  const items = [];
  const pageSizes = [];
  let page;
  const iterator = new PageIterator(
    client,
    firstPage,
    (item) => {
      // The iterator holds the current page in `collection` (not public API,
      // read only to measure pages): a new array means a new page.
      if (iterator.collection !== page) {
        page = iterator.collection;
        pageSizes.push(page.length);
      }
      items.push(item);
      return true; // keep going
    },
    requestOptions,
  );
  await iterator.iterate();
  check("the PageIterator reached the last page", iterator.isComplete());
  return { items, deltaLink: iterator.getDeltaLink(), pageSizes };
}

/**
 * Checks that no page held more than `max` items, as `$top` or `Prefer:
 * odata.maxpagesize` asked (OData: "no more than the number of items
 * specified"; the emulator also echoes it in Preference-Applied).
 */
function pagesAtMost(name, pageSizes, max) {
  const over = pageSizes.filter((n) => n > max);
  const ok = pageSizes.length > 1 && over.length === 0;
  check(`${name} (${pageSizes.length} pages)`, ok, `page sizes ${JSON.stringify(pageSizes)}`);
}

// --- Authentication, as Microsoft's samples do it --------------------------------

// MSAL (inside @azure/identity) accepts only an https authority, and the Graph
// SDK attaches the token only to https URLs of Graph's hosts or of
// `customHosts`; the test therefore serves the emulator over HTTPS with a test
// CA. Instance discovery would ask login.microsoftonline.com about the
// authority, which is not reachable here and knows nothing of the emulator.
const credential = new ClientSecretCredential(tenantId, clientId, clientSecret, {
  authorityHost: loginUrl,
  disableInstanceDiscovery: true,
});
const authProvider = new TokenCredentialAuthenticationProvider(credential, {
  scopes: ["https://graph.microsoft.com/.default"],
});

// The SDK builds request URLs as baseUrl + defaultVersion ("v1.0") + path, and
// takes host and version from absolute links (next and delta links), so the
// base is the Graph URL without its "/v1.0".
const graphBase = graphUrl.replace(/\/v1\.0\/?$/, "");
const client = Client.initWithMiddleware({
  authProvider,
  baseUrl: `${graphBase}/`,
  defaultVersion: "v1.0",
  customHosts: new Set([new URL(graphBase).hostname]),
});

const logStart = (await admin("GET", "/requests")).requests.reduce((n, r) => Math.max(n, r.n), 0);

await part("token", async () => {
  const token = await credential.getToken("https://graph.microsoft.com/.default");
  check("ClientSecretCredential got an access token", Boolean(token && token.token));
  const claims = JSON.parse(Buffer.from(token.token.split(".")[1], "base64url").toString());
  check("the token is for Microsoft Graph", claims.aud === "https://graph.microsoft.com" || claims.aud === "00000003-0000-0000-c000-000000000000", `aud ${claims.aud}`);
  check("the token names the tenant and the app", claims.tid === tenantId && claims.appid === clientId, `tid ${claims.tid}, appid ${claims.appid}`);
  check("the token carries application roles", Array.isArray(claims.roles) && claims.roles.includes("Mail.Read"), `roles ${claims.roles}`);
});

// --- Users ----------------------------------------------------------------------

let users = [];
let truthUsers = [];

await part("users", async () => {
  const first = await client.api("/users").top(5).get();
  check("the first page of users has 5 entries", Array.isArray(first.value) && first.value.length === 5, `got ${first.value && first.value.length}`);
  check("the first page of users has a next link", typeof first["@odata.nextLink"] === "string");
  const round = await iterate(client, first);
  users = round.items;
  pagesAtMost("every page of users held at most $top=5", round.pageSizes, 5);
  truthUsers = (await admin("GET", "/truth/mailboxes")).users;
  const ids = users.map((u) => u.id);
  check(`users listed without duplicates (${ids.length})`, duplicates(ids).length === 0, `duplicates ${duplicates(ids).slice(0, 3)}`);
  sameSet("the users are exactly the directory's", ids, truthUsers.map((u) => u.id));
  const pages = (await admin("GET", `/requests?since=${logStart}`)).requests.filter((r) => r.method === "GET" && r.path === "/users");
  const expected = Math.ceil(truthUsers.length / 5);
  check(`the users took ${expected} pages of 5`, pages.length === expected, `${pages.length} requests to /users`);
});

// --- Mail: a full delta round on the Inbox, then the next round -------------------

const preferMail = { Prefer: 'odata.maxpagesize=7, IdType="ImmutableId"' };
const preferCalendar = { Prefer: "odata.maxpagesize=5" };
const truthMailbox = truthUsers.find((u) => u.hasMailbox && !u.denied);
const mailboxUser = truthMailbox && users.find((u) => u.id === truthMailbox.id);
check("a readable mailbox was found", Boolean(mailboxUser));

function inboxOf(truth) {
  const inbox = truth.folders.find((f) => f.wellKnownName === "inbox");
  if (!inbox) throw new Error("the ground truth has no inbox folder");
  return inbox.messages;
}

if (mailboxUser) {
  const userId = mailboxUser.id;
  let deltaLink;
  let inboxIds = [];

  await part("mail delta, first round", async () => {
    const first = await client.api(`/users/${userId}/mailFolders/inbox/messages/delta`).headers(preferMail).get();
    const round = await iterate(client, first, { headers: preferMail });
    pagesAtMost("every mail delta page held at most odata.maxpagesize=7", round.pageSizes, 7);
    deltaLink = round.deltaLink;
    check("the round ended with a delta link", typeof deltaLink === "string" && deltaLink.includes("$deltatoken="), `${deltaLink}`);
    const removed = round.items.filter((m) => m["@removed"]);
    check("a first round reports no removals", removed.length === 0, `${removed.length} removed`);
    inboxIds = round.items.map((m) => m.id);
    const truth = inboxOf(await admin("GET", `/truth/users/${userId}/mail`));
    check(`the inbox needed several pages (${inboxIds.length} messages)`, truth.length > 7, `only ${truth.length} messages in the inbox`);
    check("no message came twice", duplicates(inboxIds).length === 0, `duplicates ${duplicates(inboxIds).slice(0, 3)}`);
    sameSet("the round's messages are exactly the inbox (immutable ids)", inboxIds, truth.map((m) => m.immutableId));
    check(
      "every message is a full message with the Inbox as parent",
      round.items.every((m) => typeof m.subject === "string" && typeof m.receivedDateTime === "string" && typeof m.parentFolderId === "string"),
    );
  });

  await part("mail delta, next round", async () => {
    if (!deltaLink) throw new Error("no delta link from the first round");
    const added = await admin("POST", `/users/${userId}/messages`, {
      folder: "inbox",
      subject: "SDK delta test",
      from: { name: "X", address: "x@example.com" },
      to: [{ name: "Y", address: mailboxUser.mail || mailboxUser.userPrincipalName }],
    });
    const victim = inboxOf(await admin("GET", `/truth/users/${userId}/mail`)).find((m) => m.immutableId !== added.immutableId);
    await admin("POST", `/users/${userId}/messages/${encodeURIComponent(victim.immutableId)}/move`, { destinationId: "archive" });

    const first = await client.api(deltaLink).headers(preferMail).get();
    const round = await iterate(client, first, { headers: preferMail });
    const live = round.items.filter((m) => !m["@removed"]);
    const removed = round.items.filter((m) => m["@removed"]);
    check("the next round reports the new message", live.some((m) => m.id === added.immutableId && m.subject === "SDK delta test"), JSON.stringify(live.map((m) => m.id)));
    check("the next round reports the moved message as @removed", removed.some((m) => m.id === victim.immutableId), JSON.stringify(removed));
    check("the next round reports only what changed", round.items.length === 2, `${round.items.length} entries`);
    check("the next round ends with a new delta link", typeof round.deltaLink === "string" && round.deltaLink !== deltaLink);
    const synced = new Set(inboxIds);
    for (const m of live) synced.add(m.id);
    for (const m of removed) synced.delete(m.id);
    const truth = inboxOf(await admin("GET", `/truth/users/${userId}/mail`));
    sameSet("the synced inbox equals the ground truth after two rounds", [...synced], truth.map((m) => m.immutableId));
  });

  await part("calendarView delta", async () => {
    const day = 24 * 3600 * 1000;
    const start = new Date(Date.now() - 365 * day).toISOString();
    const end = new Date(Date.now() + 365 * day).toISOString();
    const first = await client
      .api(`/users/${userId}/calendarView/delta?startDateTime=${start}&endDateTime=${end}`)
      .headers(preferCalendar)
      .get();
    const round = await iterate(client, first, { headers: preferCalendar });
    pagesAtMost("every calendar delta page held at most odata.maxpagesize=5", round.pageSizes, 5);
    check("the calendar round ended with a delta link", typeof round.deltaLink === "string" && round.deltaLink.includes("$deltatoken="));
    const ids = round.items.filter((e) => !e["@removed"]).map((e) => e.id);
    const truth = (await admin("GET", `/truth/users/${userId}/events?startDateTime=${encodeURIComponent(start)}&endDateTime=${encodeURIComponent(end)}`)).events;
    check(`the calendar needed several pages (${ids.length} events)`, truth.length > 5, `only ${truth.length} events`);
    check("no event came twice", duplicates(ids).length === 0, `duplicates ${duplicates(ids).slice(0, 3)}`);
    sameSet("the round's events are exactly the calendar's in the window", ids, truth.map((e) => e.id));
  });
}

await part("request log", async () => {
  const requests = (await admin("GET", `/requests?since=${logStart}`)).requests;
  const bad = requests.filter((r) => r.status !== 200 || r.clientId !== clientId);
  check(`every SDK request to Graph was authenticated and succeeded (${requests.length})`, requests.length > 0 && bad.length === 0, JSON.stringify(bad.slice(0, 3)));
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
