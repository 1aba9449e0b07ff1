// The usage explorer as people use it: a tenant pages through its own usage, changes the view
// and downloads CSV whose totals match the page; an operator drills down from the overview into
// one subscription and one resource.
import { test, expect } from "@playwright/test";
import { mkdirSync, readFileSync } from "node:fs";
import { signIn, watchConsole } from "./accounts.mjs";

const screenshots = new URL("../../docs/screenshots/", import.meta.url).pathname;

/** What identifies a row of the usage table. */
async function rowIds(page) {
  return page.locator("table.rows tbody tr").evaluateAll((rows) =>
    rows.map((r) =>
      [...r.querySelectorAll("td")]
        .slice(0, 4)
        .map((td) => (td.querySelector("[title]")?.getAttribute("title") ?? td.textContent).trim())
        .join(" | "),
    ),
  );
}

/** The "of N" of the pager's status. */
async function totalRows(page) {
  const status = await page.locator(".pager .position").textContent();
  return Number(status.match(/of ([\d,]+) ·/)[1].replaceAll(",", ""));
}

/** The fields of one CSV line (RFC 4180 quoting). */
function csvFields(line) {
  const fields = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      fields.push(field);
      field = "";
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** Parses the page's formatted amounts ("1,234.5"). */
const number = (text) => Number(text.trim().replaceAll(",", ""));

test("a tenant pages through its own usage, changes the view and downloads matching CSV", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "contoso");
  await page.getByRole("link", { name: "Explore usage" }).click();
  await expect(page.getByRole("heading", { name: "Usage explorer" })).toBeVisible();
  await expect(page.locator(".chart svg")).toBeVisible();

  // Only the tenant's own subscription is offered and shown.
  const subscriptions = page.locator("#f-subscription option");
  await expect(subscriptions).toHaveCount(2); // "All subscriptions" and its own
  const own = await subscriptions.nth(1).getAttribute("value");
  await expect(subscriptions.nth(1)).toHaveText("Contoso Ltd");
  const shown = await page
    .locator("table.rows tbody tr td:nth-child(2)")
    .evaluateAll((cells) => cells.map((c) => [c.getAttribute("title"), c.textContent.trim()]));
  expect(shown.length).toBeGreaterThan(0);
  expect(new Set(shown.map(([id]) => id))).toEqual(new Set([own]));
  expect(new Set(shown.map(([, name]) => name))).toEqual(new Set(["Contoso Ltd"]));

  // Daily rows of the last 7 days, 25 per page.
  await page.selectOption("#f-period", "last-7-days");
  await page.selectOption("#f-granularity", "daily");
  await page.selectOption("#f-rows", "25");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/period=last-7-days/);
  await expect(page).toHaveURL(/rows=25/);
  await expect(page.locator(".pager .position")).toContainText("Rows 1–25 of");
  const total = await totalRows(page);
  expect(total).toBeGreaterThan(50);

  // Forward to the last page: each row exactly once.
  const first = await rowIds(page);
  const seen = [...first];
  let pages = 1;
  while (await page.getByRole("link", { name: "Next →" }).count()) {
    await page.getByRole("link", { name: "Next →" }).click();
    pages += 1;
    await expect(page.locator(".pager .position")).toContainText(`page ${pages} of`);
    seen.push(...(await rowIds(page)));
  }
  expect(seen.length).toBe(total);
  expect(new Set(seen).size).toBe(total);
  // And back to the first page.
  while (await page.getByRole("link", { name: "← Previous" }).count()) {
    await page.getByRole("link", { name: "← Previous" }).click();
    pages -= 1;
    await expect(page.locator(".pager .position")).toContainText(`page ${pages} of`);
  }
  expect(await rowIds(page)).toEqual(first);

  // A filter and another grouping; the URL keeps both.
  await page.selectOption("#f-category", "Compute");
  await page.selectOption("#f-by", "meter");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/category=Compute/);
  await expect(page.locator("#chart-title")).toContainText(/by meter,/);
  await expect
    .poll(async () => {
      const categories = await page.locator("table.rows tbody tr td:nth-child(3) .muted").allTextContents();
      return categories.length > 0 && categories.every((c) => c.includes("Compute"));
    })
    .toBe(true);
  await page.screenshot({ path: screenshots + "explorer.png", fullPage: true });

  // The CSV holds the whole query, with the totals the page shows.
  const filtered = await totalRows(page);
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download CSV" }).click(),
  ]);
  const csv = readFileSync(await download.path(), "utf8").trim().split(/\r?\n/);
  const header = csvFields(csv[0]);
  const meterCol = header.indexOf("MeterId");
  const quantityCol = header.indexOf("Quantity");
  expect(csv.length - 1).toBe(filtered);
  const sums = {};
  for (const line of csv.slice(1)) {
    const fields = csvFields(line);
    expect(fields.length).toBe(header.length);
    sums[fields[meterCol]] = (sums[fields[meterCol]] ?? 0) + Number(fields[quantityCol]);
  }
  const totals = await page.locator("td[data-total]").evaluateAll((cells) =>
    cells.map((c) => [c.getAttribute("data-total"), c.textContent]),
  );
  expect(totals.length).toBeGreaterThan(0);
  for (const [meter, shownTotal] of totals) {
    expect(sums[meter], `CSV rows of meter ${meter}`).toBeDefined();
    expect(Math.abs(sums[meter] - number(shownTotal))).toBeLessThan(0.01);
  }

  expect(problems, problems.join("\n")).toEqual([]);
});

test("an operator drills down from the overview to a subscription and to one resource", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "operator");
  const row = page.locator("table.usage-table tbody tr th").first();
  const subscription = (await row.locator("code").textContent()).trim();
  await row.locator("a").click();
  await expect(page.getByRole("heading", { name: "Usage explorer" })).toBeVisible();
  await expect(page).toHaveURL(new RegExp(`subscription=${subscription}`));
  const shownSubscriptions = () =>
    page
      .locator("table.rows tbody tr td:nth-child(2)")
      .evaluateAll((cells) => [...new Set(cells.map((c) => c.getAttribute("title")))]);
  await expect.poll(shownSubscriptions).toEqual([subscription]);

  // Into one resource: its meters over time.
  const resource = page.locator("table.rows tbody tr td:nth-child(4) a").first();
  const uri = await resource.getAttribute("title");
  await resource.click();
  await expect(page).toHaveURL(/by=meter/);
  await expect(page.locator("#chart-title")).toContainText(/by meter,/);
  const shownResources = () =>
    page
      .locator("table.rows tbody tr td:nth-child(4) [title]")
      .evaluateAll((cells) => [...new Set(cells.map((c) => c.getAttribute("title")))]);
  await expect.poll(shownResources).toEqual([uri]);
  await expect(page.locator(".chart svg")).toBeVisible();
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: screenshots + "explorer-resource.png", fullPage: true });
  expect(problems, problems.join("\n")).toEqual([]);
});

test("an operator finds a tenant by name and sees only its usage, named", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "operator");
  await page.goto("/usage");
  await expect(page.locator("table.rows")).toBeVisible();
  // The filter offers tenants by name; the chart's legend and the rows name them too.
  await page.selectOption("#f-subscription", { label: "Fabrikam Inc" });
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/subscription=/);
  const names = () =>
    page
      .locator("table.rows tbody tr td:nth-child(2)")
      .evaluateAll((cells) => [...new Set(cells.map((c) => c.textContent.trim()))]);
  await expect.poll(names).toEqual(["Fabrikam Inc"]);
  await expect(page.locator("#f-subscription option:checked")).toHaveText("Fabrikam Inc");
  expect(problems, problems.join("\n")).toEqual([]);
});

test("an operator narrows usage to one offer and charts it by plan", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "operator");
  await page.goto("/usage");
  await expect(page.locator("table.rows")).toBeVisible();
  await page.selectOption("#f-offer", "Premium");
  await page.selectOption("#f-by", "plan");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/offer=Premium/);
  await expect(page.locator("#chart-title")).toContainText("by plan");
  // The demo puts every third tenant on Premium: Northwind Traders and Adatum Corporation.
  const names = () =>
    page
      .locator("table.rows tbody tr td:nth-child(2)")
      .evaluateAll((cells) => [...new Set(cells.map((c) => c.textContent.trim()))].sort());
  await expect.poll(names).toEqual(["Adatum Corporation", "Northwind Traders"]);
  await expect(page.locator("ul.legend")).toContainText("compute-premium + sql-premium + storage-premium");
  expect(problems, problems.join("\n")).toEqual([]);
});

test("the explorer fits a phone's width", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page, "contoso");
  await page.goto("/usage?period=last-7-days");
  await expect(page.locator("table.rows")).toBeVisible();
  // Wide tables scroll inside their card; the page itself never scrolls sideways.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: screenshots + "explorer-phone.png" });
});

test("a bad explorer URL is explained, not a blank page", async ({ page }) => {
  await signIn(page, "contoso");
  await page.goto("/usage?granularity=weekly");
  await expect(page.getByRole("alert")).toContainText("granularity must be hourly, daily or monthly");
  await page.getByRole("link", { name: "Start again from this month's usage" }).click();
  await expect(page.locator("table.rows")).toBeVisible();
});
