#!/usr/bin/env node
// End to end: `bplc docs` on the enforcement example after a day of
// `run-due`, opened from disk in headless Chromium (Debian's package) and
// driven by Playwright. Clicks a dataset, checks its contract, columns,
// runs and status appear, searches by name, and takes the screenshot the
// book shows.
//
//   node tests/site/site.test.js [--update-screenshot]
//
// BPLC names the bplc binary (default: target/debug/bplc, from the
// repository root).
//
// CHROMIUM names the browser (default: /usr/bin/chromium).

"use strict";

const assert = require("assert");
const { execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const REPO = path.resolve(__dirname, "..", "..");
const BPLC = path.resolve(REPO, process.env.BPLC || "target/debug/bplc");
const SCREENSHOT = path.join(REPO, "book", "src", "images", "lineage-site.png");

function bplc(project, ...args) {
  try {
    return execFileSync(BPLC, [...args, "--project", project], { encoding: "utf8" });
  } catch (e) {
    // run-due exits 1 when a run fails: the example's May dashboard does.
    if (e.status === 1) return e.stdout;
    throw e;
  }
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "bplc-site-"));
  const project = path.join(work, "enforcement_sla");
  fs.cpSync(path.join(REPO, "examples", "enforcement_sla"), project, { recursive: true });
  fs.rmSync(path.join(project, "target"), { recursive: true, force: true });
  bplc(project, "demo-data");
  bplc(project, "run-due", "--as-of", "2026-07-05T03:30:00Z");
  const site = path.join(work, "site");
  bplc(project, "docs", "--out", site, "--as-of", "2026-07-05T06:00:00Z");

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1760, height: 820 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto("file://" + path.join(site, "index.html"));

    // The graph: every declaration, and the labelled edges.
    assert.strictEqual(await page.locator("g.node").count(), 9);
    const labels = await page.locator("g.edge text").allTextContents();
    assert.ok(labels.includes("input ev: [p - 29d, p]"), labels.join("\n"));
    assert.ok(labels.includes("bind units: as of event time"), labels.join("\n"));
    assert.strictEqual(await page.locator("#detail").isHidden(), true);

    // Click a dataset: its contract, columns, rules, runs and status.
    await page.locator('g.node[data-name="case_sla_daily_metrics"]').click();
    assert.strictEqual(await page.locator("#detail-name").textContent(), "case_sla_daily_metrics");
    const contract = await page.locator("#contract").textContent();
    assert.ok(contract.startsWith("dataset case_sla_daily_metrics {"), contract);
    assert.ok(contract.includes("schedule daily at 03:00 \"Asia/Jakarta\" lookback 3d sla 4h"), contract);
    assert.ok(contract.trimEnd().endsWith("}"), contract);
    const columns = await page.locator("#columns tbody td").allTextContents();
    assert.ok(columns.includes("breaches"), columns.join(","));
    assert.ok((await page.locator("#quality li").count()) > 0);
    const runs = await page.locator("#runs tbody tr").allTextContents();
    assert.ok(runs.some((r) => r.includes("PUBLISHED")), runs.join("\n"));
    assert.match(await page.locator("#status").textContent(), /\d+ fresh/);
    assert.ok((await page.locator("#trend rect").count()) > 0);

    // Search by name: the others dim; Enter opens the first match.
    await page.locator("#search").fill("dashboard");
    assert.strictEqual(await page.locator("g.node.dim").count(), 8);
    await page.locator("#search").press("Enter");
    assert.strictEqual(await page.locator("#detail-name").textContent(), "executive_dashboard");
    assert.match(await page.locator("#status").textContent(), /\d+ failed \d+ need attention/);
    assert.strictEqual(await page.locator('g.node.alert[data-name="executive_dashboard"]').count(), 1);
    await page.locator("#search").fill("");

    // A link to a declaration opens it.
    await page.goto("file://" + path.join(site, "index.html") + "#silver_cases");
    assert.strictEqual(await page.locator("#detail-name").textContent(), "silver_cases");

    await page.locator('g.node[data-name="case_sla_daily_metrics"]').click();
    await page.locator("#graph-pane").evaluate((pane) => pane.scrollTo(0, 0));
    const shot = process.argv.includes("--update-screenshot") ? SCREENSHOT : path.join(work, "site.png");
    await page.screenshot({ path: shot });
    assert.deepStrictEqual(errors, []);
    console.log("lineage site: ok (" + shot + ")");
  } finally {
    await browser.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
