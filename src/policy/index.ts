import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Finding, ScanReport, Severity } from '../types.js';
import { isBaseOnly, markBaseLayers, baseLayerCount, readBaseDiffIds } from './base.js';
import { fingerprintOf, readBaseline } from './baseline.js';
import { describeEntry, entryMatches, IGNORE_FILE_NAME, isExpired, readIgnoreFile, type IgnoreEntry } from './ignore.js';
import { gateFails } from './severity.js';

export { fingerprintOf, parseBaseline, readBaseline, isFingerprint } from './baseline.js';
export { parseIgnoreFile, readIgnoreFile, validateEntry, globToRegExp, isExpired, entryMatches, IGNORE_FILE_NAME, type IgnoreEntry } from './ignore.js';
export { findConfigFile, loadConfigFile, CONFIG_FILE_NAMES, type LoadedConfig } from './config.js';
export { parseSeverity, severityRank, atOrAbove, gateFails } from './severity.js';
export { readBaseDiffIds, baseLayerCount, markBaseLayers, isBaseOnly } from './base.js';

export interface PolicyOptions {
  /** Fingerprints (`ruleId:secretHash`) of an earlier report: those findings are not reported again. */
  baseline?: ReadonlySet<string>;
  ignore?: readonly IgnoreEntry[];
  /** The date expiry is judged against (default: now). */
  now?: Date;
  /** Fail only on findings at or above this severity (default: low, i.e. any finding). */
  failOn?: Severity;
  /** Layers 0..baseLayers-1 are inherited: marked `base: true`. */
  baseLayers?: number;
  /** Drop findings that live only in base layers. */
  excludeBase?: boolean;
  /** Fail only on findings whose secret the provider still accepts (`verification.status` valid). */
  failOnVerified?: boolean;
}

export type SuppressedBy = 'baseline' | 'ignore' | 'base';

export interface Suppressed {
  finding: Finding;
  by: SuppressedBy;
  entry?: IgnoreEntry;
}

export interface PolicyResult {
  /** The report with only the findings that remain (and base layers marked). */
  report: ScanReport;
  suppressed: Suppressed[];
  /** One line each: expired ignore entries and the like. */
  warnings: string[];
  /** True when a remaining finding is at or above `failOn`. */
  failed: boolean;
}

/** Applies base layers, baseline and ignores, then the severity gate. Pure given `now`. */
export function applyPolicy(input: ScanReport, options: PolicyOptions = {}): PolicyResult {
  const now = options.now ?? new Date();
  const baseLayers = Math.min(options.baseLayers ?? 0, input.image.layers.length);
  const report = markBaseLayers(input, baseLayers);
  const entries = options.ignore ?? [];
  const live = entries.filter((e) => !isExpired(e, now));
  const warnings: string[] = [];
  for (const e of entries.filter((x) => isExpired(x, now))) {
    const would = report.findings.filter((f) => entryMatches(e, f)).length;
    warnings.push(`${e.origin}: ignore entry for ${describeEntry(e)} expired on ${e.expires} and no longer applies` +
      (would > 0 ? ` (${would} finding${would === 1 ? '' : 's'} reported again)` : '') + `; reason was: ${e.reason}`);
  }
  const suppressed: Suppressed[] = [];
  const kept: Finding[] = [];
  for (const f of report.findings) {
    if (options.excludeBase && isBaseOnly(f, baseLayers)) {
      suppressed.push({ finding: f, by: 'base' });
      continue;
    }
    if (options.baseline?.has(fingerprintOf(f))) {
      suppressed.push({ finding: f, by: 'baseline' });
      continue;
    }
    const entry = live.find((e) => entryMatches(e, f));
    if (entry) {
      suppressed.push({ finding: f, by: 'ignore', entry });
      continue;
    }
    kept.push(f);
  }
  const result = { ...report, findings: kept };
  // Teams that accept known-revoked keys gate on live ones only; the severity floor still applies.
  const gated = options.failOnVerified ? kept.filter((f) => f.verification?.status === 'valid') : kept;
  return { report: result, suppressed, warnings, failed: gateFails(gated, options.failOn ?? 'low') };
}

export interface PolicyInputs {
  /** Directory searched for `.stratascanignore` (default: process.cwd()). */
  cwd?: string;
  baselinePath?: string;
  /** An explicit ignore file; otherwise `.stratascanignore` in `cwd` when it exists. */
  ignoreFile?: string;
  /** Entries from a config file, added to the ignore file's. */
  extraIgnore?: readonly IgnoreEntry[];
  failOn?: Severity;
  skipLayers?: number;
  /** A base image (tarball or OCI layout) whose layers prefix the scanned image's. */
  basePath?: string;
  excludeBase?: boolean;
  failOnVerified?: boolean;
  platform?: string;
  now?: Date;
}

/** Reads the files a policy names (baseline, ignore file, base image) into PolicyOptions. */
export async function loadPolicy(inputs: PolicyInputs): Promise<PolicyOptions & { baseDiffIds?: string[] }> {
  const cwd = inputs.cwd ?? process.cwd();
  const options: PolicyOptions & { baseDiffIds?: string[] } = { failOn: inputs.failOn, excludeBase: inputs.excludeBase, failOnVerified: inputs.failOnVerified, now: inputs.now };
  if (inputs.baselinePath) options.baseline = await readBaseline(resolve(cwd, inputs.baselinePath));
  const ignore: IgnoreEntry[] = [];
  if (inputs.ignoreFile) ignore.push(...(await readIgnoreFile(resolve(cwd, inputs.ignoreFile))));
  else if (existsSync(join(cwd, IGNORE_FILE_NAME))) ignore.push(...(await readIgnoreFile(join(cwd, IGNORE_FILE_NAME))));
  ignore.push(...(inputs.extraIgnore ?? []));
  options.ignore = ignore;
  if (inputs.skipLayers !== undefined) options.baseLayers = inputs.skipLayers;
  if (inputs.basePath) options.baseDiffIds = await readBaseDiffIds(resolve(cwd, inputs.basePath), { platform: inputs.platform });
  return options;
}

/** loadPolicy's result applied to a report: resolves `baseDiffIds` against the scanned layers. */
export function applyLoadedPolicy(report: ScanReport, loaded: PolicyOptions & { baseDiffIds?: string[] }): PolicyResult {
  const { baseDiffIds, ...options } = loaded;
  if (baseDiffIds) options.baseLayers = Math.max(options.baseLayers ?? 0, baseLayerCount(report, baseDiffIds));
  return applyPolicy(report, options);
}
