// Types for chromium.mjs (plain JS so scripts/ can use it without a build).
import type { BrowserContext } from 'playwright-core';
export const CHROMIUM: string;
export const CHROMIUM_ARGS: readonly string[];
export function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }>;
export const VIEWPORTS: { readonly desktop: { width: number; height: number }; readonly phone: { width: number; height: number } };
