// The web view in a real browser (Chromium through playwright-core), driven by tests/browser.rs.
// Environment: PLAYWRIGHT_CORE_DIR (the playwright-core package directory), CHROMIUM (the
// browser), BASE (the server), MODE (`writer`: sign in, list, open the escalated record, approve
// it from its page, requeue the parked job, screenshots into SHOTS; `stranger`: sign in and see none of it, 404s for the
// URLs in RECORD and REQUEUE). Prints one JSON line of findings; exits non-zero on any failure.
import { pathToFileURL } from "node:url";
import path from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const pw = await import(pathToFileURL(path.join(env("PLAYWRIGHT_CORE_DIR"), "index.mjs")).href);
const chromium = pw.chromium ?? pw.default.chromium;
const base = env("BASE");
const mode = env("MODE");

function check(ok, what) {
  if (!ok) throw new Error(`browser check failed: ${what}`);
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const out = {};
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 600 } });
  const page = await context.newPage();
  // Signing in: /ui/login → the fake GitHub's authorize page → back to the callback → decisions.
  await page.goto(`${base}/ui/login`);
  check(new URL(page.url()).pathname.startsWith("/ui"), `back on the web view, at ${page.url()}`);
  const session = (await context.cookies()).find((c) => c.name === "patchgate_session");
  check(session && session.httpOnly, "an HttpOnly session cookie");
  const list = await page.goto(`${base}/ui/decisions`);
  check(list.status() === 200, `decisions list status ${list.status()}`);
  const rows = page.locator("#decisions tr.decision");

  if (mode === "writer") {
    check((await rows.count()) >= 1, "at least one decision listed");
    await page.screenshot({ path: path.join(env("SHOTS"), "decisions.png") });
    // The escalated record: through the filter form, then the row's link.
    await page.selectOption("select[name=path]", "escalated");
    await Promise.all([page.waitForURL(/path=escalated/), page.click("form.filters button")]);
    check((await rows.count()) === 1, "one escalated decision");
    await Promise.all([page.waitForURL(/\/ui\/decisions\/\d+$/), rows.first().locator("a").click()]);
    out.record = new URL(page.url()).pathname;
    check((await page.locator("#verdict").textContent()).includes("BLOCKED"), "blocked verdict");
    const differing = page.locator("table.sbs tr.differs");
    out.differing_rows = await differing.count();
    check(out.differing_rows >= 1, "differing rows are marked");
    const markA = await page.locator("table.sbs tr.differs td.a mark").allTextContents();
    const markB = await page.locator("table.sbs tr.differs td.b mark").allTextContents();
    out.marked_a = markA;
    out.marked_b = markB;
    check(markA.length + markB.length >= 1, "differing tokens are highlighted");
    check(markA.join("") !== markB.join(""), "the highlighted tokens differ between A and B");
    // A marked token is visibly highlighted (its background is not transparent).
    const bg = await page
      .locator("table.sbs tr.differs mark")
      .first()
      .evaluate((e) => getComputedStyle(e).backgroundColor);
    check(bg !== "rgba(0, 0, 0, 0)" && bg !== "transparent", `mark background ${bg}`);
    await page.locator("table.sbs tr.differs").first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(env("SHOTS"), "record.png") });
    // The maintainer's vote from the page: Approve with a reason; the page says it was
    // recorded and that the gate passes now.
    await page.fill("form.vote input[name=reason]", "the exponential backoff is the one asked for");
    await Promise.all([page.waitForURL(/\/vote$/), page.click("#vote-approve")]);
    const voted = await page.locator("#notice").textContent();
    out.vote_notice = voted;
    check(voted.includes("recorded in the ledger"), `vote notice: ${voted}`);
    check(voted.includes("The gate passes now"), `vote notice: ${voted}`);
    // The queue: the parked job's Requeue button.
    await page.goto(`${base}/ui/queue`);
    const parked = page.locator("#jobs tr.job.parked");
    check((await parked.count()) === 1, "one parked job");
    out.job = (await parked.locator("td").first().textContent()).trim();
    out.requeue = `/ui/queue/${out.job}/requeue`;
    await page.screenshot({ path: path.join(env("SHOTS"), "queue.png") });
    await Promise.all([page.waitForURL(/requeue/), parked.locator("button").click()]);
    const notice = await page.locator("#notice").textContent();
    check(notice.includes(`Job ${out.job} is back in the queue.`), `notice: ${notice}`);
    check((await page.locator("#jobs tr.job.parked").count()) === 0, "no job parked any more");
  } else if (mode === "stranger") {
    check((await rows.count()) === 0, "a stranger sees no decision");
    const record = await page.goto(`${base}${env("RECORD")}`);
    check(record.status() === 404, `record status for a stranger ${record.status()}`);
    await page.goto(`${base}/ui/queue`);
    check((await page.locator("#jobs tr.job").count()) === 0, "a stranger sees no job");
    const csrf = await page.locator("input[name=csrf]").first().getAttribute("value");
    const r = await page.request.post(`${base}${env("REQUEUE")}`, { form: { csrf } });
    check(r.status() === 404, `requeue status for a stranger ${r.status()}`);
    out.stranger_404s = 2;
  } else {
    throw new Error(`unknown MODE ${mode}`);
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
