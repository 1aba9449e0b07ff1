// The operator overview: the table and the chart show the seeded data of every tenant, and the
// chart's meter can be changed.
import { test, expect } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { signIn, watchConsole } from "./accounts.mjs";

const screenshots = new URL("../../docs/screenshots/", import.meta.url).pathname;

test("an operator's overview lists every demo tenant and charts their VM hours", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "operator");

  const rows = page.locator("table.usage-table tbody tr");
  await expect(rows).toHaveCount(8);
  const firstSubscription = (await rows.first().locator("th code").textContent()).trim();
  expect(firstSubscription).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  // Each tenant is named by the directory, its ID beneath.
  const firstName = (await rows.first().locator("th a").textContent()).trim();
  expect(firstName).toMatch(/ (Ltd|Inc|Traders|Toys|Bank|Corporation|House)$/);
  await expect(page.locator("table.usage-table tbody")).toContainText("Contoso Ltd");
  // Every tenant of the demo has compute usage, shown with its unit.
  await expect(rows.first()).toContainText("VM hours");
  await expect(page.locator("table.usage-table thead")).toContainText("Compute");

  const chart = page.locator(".chart svg");
  await expect(chart).toBeVisible();
  await expect(page.locator("#chart-title")).toHaveText(/Daily VM size hours \(VM hours\)/);
  // One legend entry per tenant with VM hours, by name.
  await expect(page.locator(".legend")).toContainText(firstName);
  expect(await chart.locator("rect").count()).toBeGreaterThan(30);

  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: screenshots + "overview.png", fullPage: true });

  // Pick another meter: the chart follows and the URL keeps the choice.
  const ipMeter = page.locator("select#meter option", { hasText: "Static IP Address Usage" });
  const ipValue = await ipMeter.getAttribute("value");
  await page.selectOption("select#meter", ipValue);
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page).toHaveURL(new RegExp(`meter=${ipValue}`));
  await expect(page.locator("#chart-title")).toHaveText(/Daily Static IP Address Usage \(IP addresses\)/);
  await expect(page.locator(".chart svg")).toBeVisible();

  expect(problems, problems.join("\n")).toEqual([]);
});

test("an unknown page says so with a 404", async ({ page }) => {
  await signIn(page, "operator");
  const response = await page.goto("/no-such-page");
  expect(response.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});

test("the usage API answers the browser's origin with ARM JSON and refuses anonymous calls", async ({ request }) => {
  const anonymous = await request.get(
    "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates?api-version=2015-06-01-preview",
  );
  expect(anonymous.status()).toBe(401);
  expect((await anonymous.json()).error.code).toBe("InvalidAuthenticationToken");
});
