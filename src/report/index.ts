import type { ScanReport } from '../types.js';
import { renderGithub } from './github.js';
import { renderGitlab } from './gitlab.js';
import { renderHtml } from './html.js';
import { renderJson } from './json.js';
import { renderSarif } from './sarif.js';
import { renderText } from './text.js';

export type ReportFormat = 'text' | 'json' | 'sarif' | 'gitlab' | 'github' | 'html';
export const REPORT_FORMATS: readonly ReportFormat[] = ['text', 'json', 'sarif', 'gitlab', 'github', 'html'];

export interface RenderOptions {
  /** ANSI colour in text output (the CLI turns it on for a terminal without NO_COLOR). */
  color?: boolean;
  /** Text report: wrap remediation text at this many columns (default 100). */
  width?: number;
  /** GitLab report: when the scan ended (default: now). Pass it for reproducible output. */
  now?: Date;
  /** HTML report: detector id → provider name, for the provider filter (default: the finding's title). */
  providers?: Readonly<Record<string, string>>;
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
    case 'html':
      return renderHtml(report, options);
    default: {
      const never: never = format;
      throw new Error(`unknown report format ${String(never)}`);
    }
  }
}
