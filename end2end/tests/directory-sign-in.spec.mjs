// People sign in with the cloud's own directory: the test AD FS (end2end/idp, the
// OpenID-certified oidc-provider) that `cargo xtask end2end` starts beside the demo server. An
// operator maps directory groups to roles with claim rules (one by the API, one on the identity
// page in the browser); a tenant and an operator sign in
// through the provider's own login page and see what their groups grant; signing out ends the
// provider's session too; and a person whose group is taken away loses access at the next sign-in.
import { test, expect } from "@playwright/test";
import { signIn } from "./accounts.mjs";

const screenshots = new URL("../../docs/screenshots/", import.meta.url).pathname;
const BASE_URL = process.env.BASE_URL;
const IDP = process.env.IDP_ORIGIN;
const OPERATOR = process.env.MB_OPERATOR_TOKEN;

// The provider's certificate is its own (self-signed): only its pages are let through.
test.use({ ignoreHTTPSErrors: true });

async function idpAdmin(request, path, body) {
  const answer = await request.post(`${IDP}/admin/${path}`, { data: body, ignoreHTTPSErrors: true });
  expect(answer.ok(), await answer.text()).toBeTruthy();
}

async function api(request, method, path, body) {
  const answer = await request.fetch(`${BASE_URL}${path}`, {
    method,
    data: body,
    headers: { Authorization: `Bearer ${OPERATOR}` },
  });
  return { status: answer.status(), body: await answer.json().catch(() => null) };
}

async function directorySignIn(page, username, password) {
  await page.goto("/sign-in");
  await page.getByRole("button", { name: "Sign in with Test AD FS" }).click();
  // The provider's own login page.
  await expect(page).toHaveURL(new RegExp(`^${IDP}/adfs/interaction/`));
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  // The provider asks whether to end its session too.
  await expect(page).toHaveURL(new RegExp(`^${IDP}/adfs/`));
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/sign-in\?signed_out=1$/);
}

test("people sign in with the directory and see what their groups grant, until a group is taken away", async ({ page, request }) => {
  test.skip(!IDP, "run by cargo xtask end2end, which starts the test identity provider");
  await idpAdmin(request, "clients/meterbook-portal", {
    redirect_uris: [`${BASE_URL}/auth/oidc/callback`],
    post_logout_redirect_uris: [`${BASE_URL}/sign-in?signed_out=1`],
  });
  await idpAdmin(request, "users/terry", { groups: ["tenant-contoso"] });
  // The directory's operators group, by the API (as a setup script would).
  const operators = { issuer: "adfs", claim: "groups", value: "meterbook-operators", role: "operator" };
  const added = await api(request, "POST", "/api/v1/identity/rules", operators);
  expect([201, 409]).toContain(added.status);

  // The tenant's group, by the break-glass operator on the identity page, naming the
  // subscription as people know it. A rule left by an earlier run is removed first.
  await signIn(page, "operator");
  await page.getByRole("link", { name: "Identity" }).click();
  await expect(page.getByRole("heading", { name: "Identity" })).toBeVisible();
  await expect(page.getByRole("region", { name: "Directories" })).toContainText(`${IDP}/adfs`);
  const earlier = page.getByRole("button", { name: "Remove the rule for groups tenant-contoso" });
  if (await earlier.count()) {
    await earlier.click();
    await expect(page.getByRole("status")).toContainText("Removed: adfs: groups = tenant-contoso");
  }
  await page.getByLabel("Directory", { exact: true }).selectOption("adfs");
  await page.getByLabel("Claim", { exact: true }).selectOption("groups");
  await page.getByLabel("Holds the value").fill("tenant-contoso");
  await page.getByLabel("Role", { exact: true }).selectOption("tenant");
  await page.getByLabel(/^Subscriptions/).fill("Contoso Ltd");
  await page.getByRole("button", { name: "Add rule" }).click();
  await expect(page.getByRole("status")).toContainText("Added: adfs: groups = tenant-contoso -> tenant");
  const row = page.locator("table.claim-rules tbody tr", { hasText: "tenant-contoso" });
  await expect(row).toContainText("Contoso Ltd");
  // The same mapping again is refused, saying so.
  await page.getByLabel("Holds the value").fill("tenant-contoso");
  await page.getByLabel("Role", { exact: true }).selectOption("tenant");
  await page.getByLabel(/^Subscriptions/).fill("Contoso Ltd");
  await page.getByRole("button", { name: "Add rule" }).click();
  await expect(page.getByRole("alert")).toContainText("a rule maps");
  await page.goto("/identity");
  await page.screenshot({ path: screenshots + "identity.png", fullPage: true });
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/sign-in/);

  // The sign-in page offers the directory beside the break-glass password form.
  await page.goto("/sign-in");
  await expect(page.getByRole("button", { name: "Sign in with Test AD FS" })).toBeVisible();

  // A tenant signs in through the provider's page and sees only Contoso.
  await directorySignIn(page, "terry", "terry-pass");
  await expect(page.getByRole("heading", { name: "Usage overview" })).toBeVisible();
  await expect(page.locator("table.usage-table tbody tr")).toHaveCount(1);
  await expect(page.locator("table.usage-table tbody")).toContainText("Contoso Ltd");
  await expect(page.getByRole("link", { name: "People" })).toHaveCount(0);
  await signOut(page);

  // An operator's group makes an operator: every tenant, and the people page.
  await directorySignIn(page, "olivia", "olivia-pass");
  await expect(page.getByRole("heading", { name: "Usage overview" })).toBeVisible();
  await expect(page.locator("table.usage-table tbody tr")).toHaveCount(8);
  await page.getByRole("link", { name: "People" }).click();
  await expect(page.locator("table.usage-table")).toContainText("olivia");
  await signOut(page);

  // Terry's group is taken away in the directory: the next sign-in is refused, saying why.
  await idpAdmin(request, "users/terry", { groups: [] });
  await directorySignIn(page, "terry", "terry-pass");
  await expect(page).toHaveURL(/\/sign-in\?error=no_role/);
  await expect(page.getByRole("alert")).toContainText("no role in Meterbook");
  await page.screenshot({ path: screenshots + "sign-in-no-role.png", fullPage: true });
});
