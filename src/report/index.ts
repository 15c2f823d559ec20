import type { ScanReport } from '../types.js';
import { renderJson } from './json.js';
import { renderText } from './text.js';

export type ReportFormat = 'text' | 'json';
export const REPORT_FORMATS: readonly ReportFormat[] = ['text', 'json'];

export interface RenderOptions {
  /** ANSI colour in text output (the CLI turns it on for a terminal without NO_COLOR). */
  color?: boolean;
}

/** Reporters are pure: the same report and options give the same string. */
export function renderReport(report: ScanReport, format: ReportFormat, options: RenderOptions = {}): string {
  switch (format) {
    case 'text':
      return renderText(report, options);
    case 'json':
      return renderJson(report);
    default: {
      const never: never = format;
      throw new Error(`unknown report format ${String(never)}`);
    }
  }
}
