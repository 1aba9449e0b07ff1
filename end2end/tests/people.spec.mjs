// People and the audit log: an operator adds a tenant user in the portal, who signs in with the
// generated password; the audit log shows who did it. Tenant users have neither page.
import { test, expect } from "@playwright/test";
import { signIn, watchConsole } from "./accounts.mjs";

const screenshots = new URL("../../docs/screenshots/", import.meta.url).pathname;

test("an operator adds a tenant user who can then sign in, and the audit log shows it", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "operator");

  await page.getByRole("link", { name: "People" }).click();
  await expect(page.getByRole("heading", { name: "People", exact: true })).toBeVisible();
  await page.getByLabel("Username").fill("e2e-nina");
  // Subscriptions are chosen by name: the field suggests the directory's.
  const field = page.getByLabel("Subscriptions (tenant users; names or IDs, separated with commas)");
  await expect(page.locator("#directory-subscriptions option[value='Contoso Ltd']")).toHaveCount(1);
  await field.fill("Contoso Ltd");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  const password = (await page.getByTestId("new-password").textContent()).trim();
  expect(password.length).toBeGreaterThanOrEqual(12);
  await expect(page.locator("table.usage-table")).toContainText("e2e-nina");
  await expect(page.locator("table.usage-table tr:has-text('e2e-nina')")).toContainText("Contoso Ltd");
  await page.screenshot({ path: screenshots + "people.png", fullPage: true });

  await page.getByRole("link", { name: "Audit log" }).click();
  await page.selectOption("#audit-action", "user.add");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page.locator("table.audit")).toContainText("e2e-nina");
  await expect(page.locator("table.audit")).toContainText("user:operator");
  await expect(page.locator("table.audit tr:has-text('e2e-nina')").first()).toContainText("Contoso Ltd");
  await page.screenshot({ path: screenshots + "audit.png", fullPage: true });
  expect(problems, problems.join("\n")).toEqual([]);

  // The new person signs in with the generated password and sees their subscription only.
  await page.getByRole("button", { name: "Sign out" }).click();
  await signIn(page, "e2e-nina", password);
  await expect(page.locator("table.usage-table tbody tr")).toHaveCount(1);
  await expect(page.getByRole("link", { name: "People" })).toHaveCount(0);
  await page.goto("/people");
  await expect(page.getByRole("alert")).toContainText("Only operators manage people");
});
