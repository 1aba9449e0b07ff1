// The embeddable widget on a page of another origin (EMBED_PORT, allowed by the server's
// --widget-origins): it shows its subscription's usage, and nothing once revoked.
import { test, expect } from "@playwright/test";
import { createServer } from "node:http";
import { signIn, watchConsole } from "./accounts.mjs";

const screenshots = new URL("../../docs/screenshots/", import.meta.url).pathname;
const embedPort = Number(process.env.EMBED_PORT ?? 3901);

/** Serves one page of "another site" holding `snippet`. */
async function embedder(snippet) {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!DOCTYPE html><html><head><title>Intranet</title></head><body>
      <h1>Team intranet</h1><p>Our cloud usage:</p>${snippet}</body></html>`);
  });
  await new Promise((resolve) => server.listen(embedPort, "127.0.0.1", resolve));
  return server;
}

test("a widget embedded in another site shows its usage until it is revoked", async ({ page }) => {
  const problems = watchConsole(page);
  await signIn(page, "contoso");
  await page.getByRole("link", { name: "Widgets" }).click();
  await expect(page.getByRole("heading", { name: "Usage widgets" })).toBeVisible();
  await page.getByLabel("Name (shown as the widget's title)").fill("Contoso usage");
  await page.getByRole("button", { name: "Create widget" }).click();
  const script = page.getByTestId("embed-script");
  await expect(script).toBeVisible();
  const snippet = await script.inputValue();
  expect(snippet).toMatch(/<script src="http:\/\/127\.0\.0\.1:\d+\/widget\.js" data-token="mbw_[\w-]+" async><\/script>/);
  await page.screenshot({ path: screenshots + "widgets.png", fullPage: true });
  expect(problems, problems.join("\n")).toEqual([]);

  const site = await embedder(snippet);
  try {
    const other = await page.context().newPage();
    await other.goto(`http://127.0.0.1:${embedPort}/`);
    const widget = other.frameLocator("iframe");
    await expect(widget.getByRole("heading", { name: "Contoso usage" })).toBeVisible();
    await expect(widget.locator("table")).toContainText("Compute");
    await expect(widget.locator("svg")).toBeVisible();
    await other.screenshot({ path: screenshots + "widget-embedded.png" });

    // Revoke it in the portal; the embedding page then shows why, and no usage.
    await page.getByRole("button", { name: "Revoke widget Contoso usage" }).click();
    await expect(page.locator("table.usage-table")).toContainText("revoked");
    await other.reload();
    await expect(widget.locator("body")).toContainText("was revoked");
    await expect(widget.locator("table")).toHaveCount(0);
    await expect(widget.locator("svg")).toHaveCount(0);
  } finally {
    site.close();
  }
});

test("the portal itself refuses to be framed by another site", async ({ page, request }) => {
  const response = await request.get("/sign-in");
  const policy = response.headers()["content-security-policy"];
  expect(policy).toContain("frame-ancestors 'none'");
  // Scripts run only from the page's nonce; the hydrated portal works under it (every test
  // fails on a console error, a refused script included).
  expect(policy).toMatch(/script-src 'nonce-[A-Za-z0-9_-]+' 'strict-dynamic'/);
});
