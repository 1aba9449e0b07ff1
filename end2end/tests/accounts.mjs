// The documented demo accounts (see the README) and how a person signs in.
import { expect } from "@playwright/test";

export const DEMO_PASSWORD = "meterbook-demo";

/** Signs in through the form, as a person would, and waits for the overview. */
export async function signIn(page, username, password = DEMO_PASSWORD) {
  await page.goto("/sign-in");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Usage overview" })).toBeVisible();
}

/** Collects console errors and warnings (hydration problems show up there). */
export function watchConsole(page) {
  const problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") problems.push(msg.text());
  });
  page.on("pageerror", (err) => problems.push(err.message));
  return problems;
}
