// Costs: an operator reads the demo's chargeback by tenant and by department, with the chart of
// recent months, and finds the rate card upload; a tenant sees only their own costs.
import { test, expect } from "@playwright/test";
import { signIn, watchConsole } from "./accounts.mjs";

const screenshots = new URL("../../docs/screenshots/", import.meta.url).pathname;

test("an operator reads costs by tenant and by department, a tenant only their own", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "operator");
  await page.getByRole("link", { name: "Costs" }).click();
  await expect(page.getByRole("heading", { name: "Costs", exact: true })).toBeVisible();
  await expect(page.locator(".totals strong")).toContainText("USD");
  const total = (await page.locator(".totals strong").textContent()).trim();
  expect(total).toMatch(/^[\d,]+\.\d{2} USD$/);
  await expect(page.locator(".chart svg")).toBeVisible();
  // The demo's eight tenants each have a subtotal.
  await expect(page.locator("section:has(h2:text('By tenant')) tbody tr")).toHaveCount(8);
  await expect(page.getByRole("region", { name: "Rate card" })).toContainText("Revision");
  await page.screenshot({ path: screenshots + "costs.png", fullPage: true });

  // Tenants are named by the directory, and found by name: the groups narrow, not the total.
  const first = (await page.locator("section:has(h2:text('By tenant')) tbody tr td").first().textContent()).trim();
  expect(first).toMatch(/ (Ltd|Inc|Traders|Toys|Bank|Corporation|House)$/);
  await expect(page.locator("details.lines tbody")).toContainText(first);
  await page.fill("#costs-find", first.toUpperCase());
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page.locator("section:has(h2:text('By tenant')) tbody tr")).toHaveCount(1);
  await expect(page.getByRole("status").filter({ hasText: "Groups containing" })).toBeVisible();
  await expect(page.locator(".totals strong")).toHaveText(total);
  await page.fill("#costs-find", "");

  await page.selectOption("#costs-by", "tag:Department");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page.getByRole("heading", { name: "By Department" })).toBeVisible();
  await expect(page.locator(".totals strong")).toHaveText(total);
  // By plan, each tenant goes whole to its plans: the demo's three offers' plan sets.
  await page.selectOption("#costs-by", "plan");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page.getByRole("heading", { name: "By plan" })).toBeVisible();
  await expect(page.locator("section:has(h2:text('By plan')) tbody tr")).toHaveCount(3);
  await expect(page.locator("section:has(h2:text('By plan')) tbody")).toContainText("compute-premium + sql-premium + storage-premium");
  await expect(page.locator(".totals strong")).toHaveText(total);
  expect(problems, problems.join("\n")).toEqual([]);

  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, "contoso");
  await page.getByRole("link", { name: "Costs" }).click();
  await expect(page.locator("section:has(h2:text('By tenant')) tbody tr")).toHaveCount(1);
  await expect(page.getByRole("region", { name: "Rate card" })).toHaveCount(0);
  await page.screenshot({ path: screenshots + "costs-tenant.png", fullPage: true });
});
