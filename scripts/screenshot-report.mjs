#!/usr/bin/env node
// Writes docs/report.png, the README's picture of the HTML report: the demo image scanned, its
// report opened in headless chromium at 1280 px, light theme, from the top through the layer
// timeline. Needs `npm run build` first and Debian's chromium (playwright-core drives it).
// Usage: node scripts/screenshot-report.mjs [OUT.png]
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadRuleSet, renderReport, scanImage } from '../dist/index.js';
import { launchChromium, VIEWPORTS } from '../test/support/chromium.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? join(ROOT, 'docs', 'report.png');

const report = await scanImage(join(ROOT, 'fixtures', 'demo', 'leaky-demo.tar'), { jobs: 0, cache: false });
// The timing varies run to run; a fixed one keeps the picture from changing for nothing.
report.stats.durationMs = 40;
const providers = Object.fromEntries(loadRuleSet().rules.map((r) => [r.id, r.provider]));
const dir = mkdtempSync(join(tmpdir(), 'stratascan-shot-'));
const { context, close } = await launchChromium();
try {
  const file = join(dir, 'report.html');
  writeFileSync(file, renderReport(report, 'html', { providers }));
  const page = await context.newPage();
  await page.setViewportSize(VIEWPORTS.desktop);
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('html[data-ready="true"]');
  const timeline = await page.locator('#timeline').boundingBox();
  if (!timeline) throw new Error('the report has no timeline');
  const height = Math.ceil(timeline.y + timeline.height + 16);
  await page.screenshot({ path: out, clip: { x: 0, y: 0, width: VIEWPORTS.desktop.width, height }, fullPage: true });
  process.stdout.write(`${out}: ${VIEWPORTS.desktop.width}x${height}, ${Math.round(statSync(out).size / 1024)} KiB\n`);
} finally {
  await close();
  rmSync(dir, { recursive: true, force: true });
}
