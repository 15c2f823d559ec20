import { readFile } from 'node:fs/promises';
import { ScanError } from '../errors.js';
import type { Finding } from '../types.js';

/**
 * A finding's identity across runs: `<ruleId>:<secretHash>`, e.g.
 * `github-token:sha256:9f86d0…`. It names the secret value and the detector, not where the value
 * sits: the same secret moved to another file or layer keeps its fingerprint, a new secret (or the
 * same value newly reported by another detector) gets a new one.
 */
export function fingerprintOf(finding: Pick<Finding, 'ruleId' | 'secretHash'>): string {
  return `${finding.ruleId}:${finding.secretHash}`;
}

const FINGERPRINT = /^[a-z0-9]+(?:-[a-z0-9]+)*:sha256:[a-f0-9]{64}$/;

export function isFingerprint(value: string): boolean {
  return FINGERPRINT.test(value);
}

/** The fingerprints of an earlier JSON report (`stratascan scan … --format json`). */
export function parseBaseline(text: string, label = 'the baseline'): Set<string> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ScanError(`${label} is not JSON: make it with "stratascan scan IMAGE --format json --output FILE"`);
  }
  const report = data as { schemaVersion?: unknown; findings?: unknown };
  if (typeof data !== 'object' || data === null || report.schemaVersion !== 1 || !Array.isArray(report.findings)) {
    throw new ScanError(`${label} is not a stratascan JSON report (schemaVersion 1 with a findings array)`);
  }
  const out = new Set<string>();
  report.findings.forEach((f: unknown, i) => {
    const { ruleId, secretHash } = (f ?? {}) as { ruleId?: unknown; secretHash?: unknown };
    if (typeof ruleId !== 'string' || typeof secretHash !== 'string') {
      throw new ScanError(`${label}: finding ${i} has no ruleId or secretHash`);
    }
    out.add(fingerprintOf({ ruleId, secretHash }));
  });
  return out;
}

export async function readBaseline(path: string): Promise<Set<string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ScanError(`cannot read the baseline ${path}`, { cause });
  }
  return parseBaseline(text, `the baseline ${path}`);
}
