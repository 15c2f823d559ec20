import { ScanError } from '../errors.js';
import { SEVERITIES, type Finding, type Severity } from '../types.js';

/** 0 = critical … 3 = low: lower is more severe. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

export function parseSeverity(value: string, what = '--fail-on'): Severity {
  const v = value.trim().toLowerCase();
  if ((SEVERITIES as readonly string[]).includes(v)) return v as Severity;
  throw new ScanError(`${what} takes one of ${SEVERITIES.join(', ')} (got "${value}")`);
}

/** The findings at or above `threshold` (critical is above high, and so on). */
export function atOrAbove(findings: readonly Finding[], threshold: Severity): Finding[] {
  const limit = severityRank(threshold);
  return findings.filter((f) => severityRank(f.severity) <= limit);
}

/** True when a finding at or above `threshold` remains: the CI gate fails. */
export function gateFails(findings: readonly Finding[], threshold: Severity = 'low'): boolean {
  return atOrAbove(findings, threshold).length > 0;
}
