// Portal performance, measured in Debian's Chromium against a running Meterbook (BASE_URL):
// - first contentful paint of a signed-in tenant's usage explorer, next to the first paint of a
//   static page of the same size served by this script (the baseline: what Chromium itself costs);
// - the release WebAssembly bundle's size, gzipped (SITE_ROOT/pkg/meterbook.<hash>.wasm).
// Run by `cargo xtask bench-portal`; results go to BENCHMARKS.md.
import { chromium } from "@playwright/test";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const base = process.env.BASE_URL ?? "http://127.0.0.1:3000";
const siteRoot = process.env.SITE_ROOT ?? "../target/site";
const runs = Number(process.env.RUNS ?? 15);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function firstPaint(page, url) {
  await page.goto(url, { waitUntil: "load" });
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const find = () =>
          performance.getEntriesByType("paint").find((e) => e.name === "first-contentful-paint");
        const entry = find();
        if (entry) return resolve(entry.startTime);
        new PerformanceObserver(() => find() && resolve(find().startTime)).observe({ type: "paint", buffered: true });
      }),
  );
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();

// Sign in as the demo tenant, as a person would.
await page.goto(base + "/sign-in");
await page.fill("#username", "contoso");
await page.fill("#password", "meterbook-demo");
await Promise.all([page.waitForURL(base + "/"), page.click("button[type=submit]")]);

// The baseline: the explorer's own HTML, captured once and served statically from this script
// (no server work, no data), so the ratio is what Meterbook adds to Chromium's own cost.
const explorerUrl = base + "/usage?period=last-7-days";
const html = await (await page.request.get(explorerUrl)).text();
const staticHtml = html.replace(/<script[\s\S]*?<\/script>/g, "").replace(/<link[^>]*>/g, "");
const server = createServer((_, res) => {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(staticHtml);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const staticUrl = `http://127.0.0.1:${server.address().port}/`;

const explorer = [];
const baseline = [];
for (let i = 0; i < runs + 2; i++) {
  const e = await firstPaint(page, explorerUrl);
  const b = await firstPaint(page, staticUrl);
  if (i >= 2) {
    // The first two runs warm caches and connections.
    explorer.push(e);
    baseline.push(b);
  }
}
server.close();
await browser.close();

// The build names the module by its content (cargo-leptos `hash-files`, listed in hash.txt).
const wasmHash = readFileSync(`${siteRoot}/hash.txt`, "utf8").match(/^wasm:\s*(\S+)/m)[1];
const wasm = readFileSync(`${siteRoot}/pkg/meterbook.${wasmHash}.wasm`);
const gz = gzipSync(wasm, { level: 9 }).length;
const result = {
  runs,
  explorer_fcp_ms_median: Math.round(median(explorer)),
  explorer_fcp_ms_max: Math.round(Math.max(...explorer)),
  static_fcp_ms_median: Math.round(median(baseline)),
  ratio: +(median(explorer) / median(baseline)).toFixed(2),
  html_bytes: html.length,
  wasm_bytes: wasm.length,
  wasm_gzip_bytes: gz,
  wasm_gzip_vs_400kb_budget: +(gz / (400 * 1024)).toFixed(2),
};
console.log(JSON.stringify(result, null, 2));
