// Portal performance, measured in Debian's Chromium against a running Meterbook (BASE_URL):
// for a signed-in operator's first visit to the overview, the explorer and the tokens page (a
// page with islands), and a repeat visit to each:
// - the code moved (WebAssembly and JavaScript, bytes as sent: `encodedBodySize` of every script
//   or wasm resource fetched from the network, so a cached one counts 0);
// - first contentful paint, next to the first paint of the same HTML served statically by this
//   script (the baseline: what Chromium itself costs);
// - time to interactive: the later of first paint, the end of the last script or wasm download
//   and the end of the last long task (> 50 ms) once the network is idle; a page with no code is
//   interactive when painted.
// Run by `cargo xtask bench-portal`; results go to BENCHMARKS.md.
import { chromium } from "@playwright/test";
import { createServer } from "node:http";

const base = process.env.BASE_URL ?? "http://127.0.0.1:3000";
const runs = Number(process.env.RUNS ?? 11);
const pages = {
  overview: "/",
  explorer: "/usage?period=last-7-days",
  tokens: "/tokens",
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

// Collects long tasks from the first moment of each document.
const watchLongTasks = () => {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push(e.startTime + e.duration);
  }).observe({ type: "longtask", buffered: true });
};

/** Loads `url` in `page`, waits for the network to settle, and reads what the visit cost. */
async function visit(page, url) {
  await page.goto(url, { waitUntil: "networkidle" });
  return page.evaluate(async () => {
    const fcp = await new Promise((resolve) => {
      const find = () =>
        performance.getEntriesByType("paint").find((e) => e.name === "first-contentful-paint");
      if (find()) return resolve(find().startTime);
      new PerformanceObserver(() => find() && resolve(find().startTime)).observe({
        type: "paint",
        buffered: true,
      });
    });
    const code = performance
      .getEntriesByType("resource")
      .filter((e) => /\.(wasm|js)(\?|$)/.test(new URL(e.name).pathname));
    const fetched = code.filter((e) => e.transferSize > 0);
    const ends = [fcp, ...code.map((e) => e.responseEnd), ...(window.__longTasks ?? [])];
    return {
      fcp,
      tti: Math.max(...ends),
      codeBytes: fetched.reduce((sum, e) => sum + e.encodedBodySize, 0),
      codeFiles: code.map((e) => new URL(e.name).pathname.split("/").pop()),
    };
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

/**
 * A fresh browser profile (empty cache) signed in as the demo operator. The sign-in form is
 * posted by Playwright's request client, which shares the profile's cookies but not its cache,
 * so the page visited next is the browser's first contact with the site's code.
 */
async function signedIn() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript(watchLongTasks);
  const signIn = await context.request.post(base + "/auth/sign-in", {
    form: { username: "operator", password: "meterbook-demo", next: "/" },
    maxRedirects: 0,
  });
  if (signIn.status() !== 303) throw new Error(`sign-in answered ${signIn.status()}`);
  return { context, page: await context.newPage() };
}

// The baseline: each page's own HTML, captured once and served statically from this script
// without scripts or styles (no server work, no data): what Chromium alone costs to paint it.
const baselines = {};
{
  const { context, page } = await signedIn();
  for (const [name, path] of Object.entries(pages)) {
    const html = await (await page.request.get(base + path)).text();
    baselines[name] = {
      htmlBytes: html.length,
      html: html.replace(/<script[\s\S]*?<\/script>/g, "").replace(/<link[^>]*>/g, ""),
    };
  }
  await context.close();
}
const server = createServer((request, response) => {
  const name = request.url.slice(1);
  response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  response.end(baselines[name]?.html ?? "");
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const staticBase = `http://127.0.0.1:${server.address().port}/`;

const samples = Object.fromEntries(
  Object.keys(pages).map((n) => [n, { first: [], repeat: [], baseline: [] }]),
);
for (let i = 0; i < runs + 1; i++) {
  for (const [name, path] of Object.entries(pages)) {
    // A first visit (a new profile), then a repeat visit and the static baseline in it.
    const { context, page } = await signedIn();
    const first = await visit(page, base + path);
    const repeat = await visit(page, base + path);
    const baseline = await visit(page, staticBase + name);
    await context.close();
    if (i > 0) {
      // The first round warms the server and the connection.
      samples[name].first.push(first);
      samples[name].repeat.push(repeat);
      samples[name].baseline.push(baseline);
    }
  }
}
server.close();
await browser.close();

const result = { runs };
for (const [name, s] of Object.entries(samples)) {
  const fcp = median(s.first.map((v) => v.fcp));
  const staticFcp = median(s.baseline.map((v) => v.fcp));
  result[name] = {
    html_bytes: baselines[name].htmlBytes,
    first_visit_code_bytes: median(s.first.map((v) => v.codeBytes)),
    first_visit_code_files: s.first[0].codeFiles,
    repeat_visit_code_bytes: median(s.repeat.map((v) => v.codeBytes)),
    fcp_ms_median: Math.round(fcp),
    fcp_ms_max: Math.round(Math.max(...s.first.map((v) => v.fcp))),
    static_fcp_ms_median: Math.round(staticFcp),
    fcp_vs_static: +(fcp / staticFcp).toFixed(2),
    tti_ms_median: Math.round(median(s.first.map((v) => v.tti))),
    tti_ms_max: Math.round(Math.max(...s.first.map((v) => v.tti))),
  };
}
console.log(JSON.stringify(result, null, 2));
