// Signing in and out, what a tenant user sees, and API tokens made in the portal.
import { test, expect } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { DEMO_PASSWORD, signIn, watchConsole } from "./accounts.mjs";

const screenshots = new URL("../../docs/screenshots/", import.meta.url).pathname;

test("an anonymous visitor is sent to sign in, and a wrong password is refused", async ({ page }) => {
  const problems = watchConsole(page);
  await page.goto("/tokens");
  await expect(page).toHaveURL(/\/sign-in\?next=%2Ftokens/);
  await expect(page.getByRole("heading", { name: "Sign in", exact: true })).toBeVisible();
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: screenshots + "sign-in.png" });

  await page.getByLabel("Username").fill("operator");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText("do not match an account");

  // The right password now lands on the page first asked for.
  await page.getByLabel("Username").fill("operator");
  await page.getByLabel("Password").fill(DEMO_PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/tokens$/);
  await expect(page.getByRole("heading", { name: "API tokens" })).toBeVisible();

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/sign-in\?signed_out=1/);
  await expect(page.getByText("You have signed out.")).toBeVisible();
  await page.goto("/");
  await expect(page).toHaveURL(/\/sign-in/);
  // Failed sign-ins log a 4xx-free redirect; nothing else may complain.
  expect(problems, problems.join("\n")).toEqual([]);
});

test("a tenant user sees only their subscription", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "contoso");
  const rows = page.locator("table.usage-table tbody tr");
  await expect(rows).toHaveCount(1);
  await expect(page.locator(".account")).toContainText("contoso (tenant)");
  await page.screenshot({ path: screenshots + "overview-tenant.png", fullPage: true });
  expect(problems, problems.join("\n")).toEqual([]);
});

test("a tenant user creates a token, reads usage with it, and revokes it", async ({ page, request }) => {
  const problems = watchConsole(page);
  await signIn(page, "fabrikam");
  const subscription = (await page.locator("table.usage-table tbody tr th code").first().textContent()).trim();
  await page.getByRole("link", { name: "API tokens" }).click();
  await expect(page.getByRole("heading", { name: "API tokens" })).toBeVisible();
  // The subscriptions field starts with the user's own subscription.
  await expect(page.getByLabel(/Subscriptions/)).toHaveValue(subscription);

  await page.getByLabel("Name").fill("e2e-script");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = page.getByTestId("new-token");
  await expect(secret).toHaveText(/^mbt_/);
  const token = (await secret.textContent()).trim();
  await expect(page.locator("table.usage-table")).toContainText("e2e-script");
  await page.screenshot({ path: screenshots + "tokens.png", fullPage: true });

  const now = new Date();
  now.setUTCHours(0, 0, 0, 0);
  const end = now.toISOString().replace(".000Z", "Z");
  const start = new Date(now.getTime() - 2 * 86400_000).toISOString().replace(".000Z", "Z");
  const usage = `/subscriptions/${subscription}/providers/Microsoft.Commerce/UsageAggregates?api-version=2015-06-01-preview&reportedStartTime=${start}&reportedEndTime=${end}`;
  const ok = await request.get(usage, { headers: { Authorization: `Bearer ${token}` } });
  expect(ok.status()).toBe(200);
  expect((await ok.json()).value.length).toBeGreaterThan(0);

  const row = page.locator("table.usage-table tbody tr", { hasText: "e2e-script" });
  await row.getByRole("button", { name: /Revoke/ }).click();
  await expect(row).toContainText("revoked");
  const revoked = await request.get(usage, { headers: { Authorization: `Bearer ${token}` } });
  expect(revoked.status()).toBe(401);
  expect(problems, problems.join("\n")).toEqual([]);
});
