import type { ScanReport } from '../types.js';

/** The JSON contract (schemaVersion 1): the report object as is, two-space indented. */
export function renderJson(report: ScanReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
