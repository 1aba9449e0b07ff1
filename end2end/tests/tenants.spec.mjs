// The tenant directory in the portal: an operator finds a tenant by name, changes its owner, and
// the change is audited; tenant users have no such page.
import { test, expect } from "@playwright/test";
import { signIn, watchConsole } from "./accounts.mjs";

const screenshots = new URL("../../docs/screenshots/", import.meta.url).pathname;

test("an operator finds a tenant by name and changes its owner", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "operator");
  await page.getByRole("link", { name: "Tenants" }).click();
  await expect(page.getByRole("heading", { name: "Tenants", exact: true })).toBeVisible();
  // The demo's eight tenants, by name, with owners and offers.
  const rows = page.locator("table.tenants tbody tr");
  await expect(rows).toHaveCount(8);
  await expect(page.locator("table.tenants")).toContainText("admin@contoso.example");
  await expect(page.locator("table.tenants")).toContainText("Premium");
  await page.screenshot({ path: screenshots + "tenants.png", fullPage: true });

  await page.getByLabel("Find").fill("fabrikam");
  await page.getByRole("button", { name: "Find" }).click();
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText("Fabrikam Inc");
  await page.getByRole("link", { name: "Edit Fabrikam Inc" }).click();
  await expect(page.getByRole("heading", { name: "Edit Fabrikam Inc" })).toBeVisible();
  await page.getByLabel("Owner (user principal name)").fill("finance@fabrikam.example");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved Fabrikam Inc" })).toBeVisible();
  await expect(rows.first()).toContainText("finance@fabrikam.example");

  // A bad owner is refused, saying why; the stored one stays.
  await page.getByRole("link", { name: "Edit Fabrikam Inc" }).click();
  await page.getByLabel("Owner (user principal name)").fill("not a name");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText("user principal name");

  await page.getByRole("link", { name: "Audit log" }).click();
  await page.selectOption("#audit-action", "subscription.set");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page.locator("table.audit")).toContainText("Fabrikam Inc");
  expect(problems, problems.join("\n")).toEqual([]);
});

test("tenant users have no tenants page", async ({ page }) => {
  await signIn(page, "contoso");
  await expect(page.getByRole("link", { name: "Tenants" })).toHaveCount(0);
  const response = await page.goto("/tenants");
  expect(response.status()).toBe(403);
});
