import type { ScanReport } from '../types.js';
import { renderGithub } from './github.js';
import { renderGitlab } from './gitlab.js';
import { renderJson } from './json.js';
import { renderSarif } from './sarif.js';
import { renderText } from './text.js';

export type ReportFormat = 'text' | 'json' | 'sarif' | 'gitlab' | 'github';
export const REPORT_FORMATS: readonly ReportFormat[] = ['text', 'json', 'sarif', 'gitlab', 'github'];

export interface RenderOptions {
  /** ANSI colour in text output (the CLI turns it on for a terminal without NO_COLOR). */
  color?: boolean;
  /** Text report: wrap remediation text at this many columns (default 100). */
  width?: number;
  /** GitLab report: when the scan ended (default: now). Pass it for reproducible output. */
  now?: Date;
}

/** Reporters are pure: the same report and options give the same string. */
export function renderReport(report: ScanReport, format: ReportFormat, options: RenderOptions = {}): string {
  switch (format) {
    case 'text':
      return renderText(report, options);
    case 'json':
      return renderJson(report);
    case 'sarif':
      return renderSarif(report, options);
    case 'gitlab':
      return renderGitlab(report, options);
    case 'github':
      return renderGithub(report, options);
    default: {
      const never: never = format;
      throw new Error(`unknown report format ${String(never)}`);
    }
  }
}
