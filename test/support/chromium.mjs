// Debian's chromium, headless through playwright-core, for the HTML report's browser tests and
// scripts/screenshot-report.mjs. Everything that could reach the network on its own (updates,
// sync, QUIC probes, first-run pages) is off, and each launch gets a fresh empty profile.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { which } from './real-tools.mjs';

/** Debian installs it as /usr/bin/chromium; any chromium on PATH will do. */
export const CHROMIUM = which('chromium') ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * @returns {Promise<{ context: import('playwright-core').BrowserContext, close: () => Promise<void> }>}
 */
export async function launchChromium() {
  const profile = mkdtempSync(join(tmpdir(), 'stratascan-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Viewports the report is checked and photographed at. */
export const VIEWPORTS = /** @type {const} */ ({ desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } });
