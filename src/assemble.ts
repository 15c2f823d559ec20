import { attribute, sightingValue, type Sighting } from './attribute.js';
import type { ConfigMatch } from './cache/layer-cache.js';
import type { ConfigItem } from './config-items.js';
import { isAllowlisted, type AllowEntry } from './detect/allowlist.js';
import { DetectionEngine, type RawMatch } from './detect/engine.js';
import { keyFingerprint } from './detect/public-keys.js';
import type { RuleInfo, RuleSet } from './detect/rules.js';
import type { LayerOutcome } from './layer-outcome.js';
import { findByHash, redactWithin } from './redact.js';
import type { ResolvedImage } from './source/resolve.js';
import type { Finding, ImageInfo, ScanReport, ScanStats } from './types.js';
import { TOOL_VERSION } from './version.js';

/** A match in an image config item; `secret` only when scanned this run, not read from the cache. */
export type ConfigSeen = ConfigMatch & { secret?: string };

/** A detector's match in a config item as the report stage takes it (raw value in memory only). */
export function configSeenOf(m: RawMatch): ConfigSeen {
  return { ruleId: m.ruleId, ...sightingValue(m.secret), length: m.secret.length, ...(m.provider !== undefined ? { provider: m.provider } : {}) };
}

/** The image config's matches, found on this thread with `engine` (raw values in memory only). */
export function configMatchesWith(engine: DetectionEngine, items: readonly ConfigItem[]): ConfigSeen[][] {
  return items.map((item) => engine.scan(Buffer.from(item.text, 'utf8')).map(configSeenOf));
}

/**
 * The image config's matches on this thread: a scan served from the layer cache starts no worker
 * for these few KiB.
 */
export function scanConfigHere(items: readonly ConfigItem[], ruleSet: RuleSet): ConfigSeen[][] {
  return configMatchesWith(new DetectionEngine(ruleSet.rules, ruleSet.plan ? { plan: ruleSet.plan, prepareNow: false } : {}), items);
}

/** What assembleReport needs: one image's resolved form, its layers' outcomes and its config's matches. */
export interface ReportParts {
  target: string;
  image: ResolvedImage;
  /** Per layer of `image`, in order: scanned now or restored from a store of layer results. */
  scans: LayerOutcome[];
  /** Per config item (configItems(image)), its matches. */
  configMatches: ConfigSeen[][];
  items: readonly ConfigItem[];
  rules: ReadonlyMap<string, RuleInfo>;
  showSecrets: boolean;
  allowlist: readonly AllowEntry[];
  /** Fingerprints of keys published in test suites and docs (detectors/public-keys.json). */
  publicKeys: ReadonlySet<string>;
  /** performance.now() when the scan of this image began. */
  started: number;
  onFindings?: (count: number) => void;
}

/**
 * The attribution stage: one image's report from its layers' results and its config's matches.
 * Pure in its inputs, so layer results from the layer cache, another image or another machine
 * give the very report a scan of this image alone gives.
 */
export function assembleReport(parts: ReportParts): ScanReport {
  const { image, scans, showSecrets } = parts;
  const { sightings, allowlisted } = sightingsOf(parts);
  const layerInfos = imageInfo(image, scans);
  const findings = attribute({
    sightings,
    layers: scans.map((scan, i) => ({ ref: { index: i, diffId: image.layers[i]!.diffId, createdBy: image.layers[i]!.createdBy }, changes: scan.changes })),
    rules: parts.rules,
    showSecrets,
  });
  parts.onFindings?.(findings.length);
  // Build args land in history verbatim, so createdBy strings can hold the very secrets found.
  if (!showSecrets) scrubCreatedBy(layerInfos, findings, secretsInHistory(parts, sightings));
  return {
    schemaVersion: 1,
    tool: { name: 'stratascan', version: TOOL_VERSION },
    target: parts.target,
    image: layerInfos,
    findings,
    stats: statsOf(scans, allowlisted, parts.started),
  };
}

/** Every match as a sighting for attribution, less those the allowlist or the published keys drop (counted). */
function sightingsOf(parts: ReportParts): { sightings: Sighting[]; allowlisted: number } {
  // Cached matches carry their fingerprint (a hash): the raw value is never stored.
  const isPublic = (m: { fingerprint?: string; secret?: string }) => {
    const fingerprint = m.fingerprint ?? (m.secret !== undefined ? keyFingerprint(m.secret) : undefined);
    return fingerprint !== undefined && parts.publicKeys.has(fingerprint);
  };
  let allowlisted = 0;
  const sightings: Sighting[] = [];
  parts.scans.forEach((scan, index) => {
    for (const m of scan.matches) {
      if (isAllowlisted(parts.allowlist, m.ruleId, m.path) || isPublic(m)) {
        allowlisted++;
        continue;
      }
      sightings.push({
        ruleId: m.ruleId, secretHash: m.secretHash, redacted: m.redacted, secret: m.secret, source: 'file', layerIndex: index,
        path: m.path, line: m.line, column: m.column, key: null, length: m.length, ...(m.replacedInLayer ? { replacedInLayer: true } : {}),
        ...(m.provider !== undefined ? { provider: m.provider } : {}),
      });
    }
  });
  parts.configMatches.forEach((found, i) => {
    const item = parts.items[i]!;
    for (const m of found) {
      if (isPublic(m)) {
        allowlisted++;
        continue;
      }
      sightings.push({
        ruleId: m.ruleId, secretHash: m.secretHash, redacted: m.redacted, secret: m.secret, source: item.source, layerIndex: item.layerIndex, path: null, line: null, column: null, key: item.key,
        ...(m.provider !== undefined ? { provider: m.provider } : {}),
      });
    }
  });
  return { sightings, allowlisted };
}

/** The raw values to scrub from history text: those scanned this run, and those from the cache found in it by hash. */
function secretsInHistory(parts: ReportParts, sightings: readonly Sighting[]): string[] {
  const found = new Set(sightings.flatMap((x) => (x.secret === undefined ? [] : [x.secret])));
  const known = new Set(sightings.flatMap((x) => (x.secret === undefined ? [] : [x.secretHash])));
  const hashedOnly = new Map<string, ConfigSeen>();
  for (const s of parts.scans) for (const m of s.matches) if (m.secret === undefined && !known.has(m.secretHash)) hashedOnly.set(m.secretHash, m);
  for (const list of parts.configMatches) for (const m of list) if (m.secret === undefined && !known.has(m.secretHash)) hashedOnly.set(m.secretHash, m);
  if (hashedOnly.size > 0) {
    for (const l of parts.image.layers) if (l.createdBy) findByHash(l.createdBy, [...hashedOnly.values()]).forEach((v) => found.add(v));
  }
  return [...found];
}

function statsOf(scans: readonly LayerOutcome[], allowlisted: number, started: number): ScanStats {
  const skipped: Record<string, number> = {};
  for (const s of scans) for (const [why, n] of Object.entries(s.skipped)) skipped[why] = (skipped[why] ?? 0) + n;
  return {
    layers: scans.length,
    files: scans.reduce((n, s) => n + s.files, 0),
    bytes: scans.reduce((n, s) => n + s.bytes, 0),
    durationMs: Math.round(performance.now() - started),
    skipped,
    allowlisted,
    cachedLayers: scans.filter((s) => s.cached).length,
  };
}

function scrubCreatedBy(info: ImageInfo, findings: Finding[], secrets: string[]): void {
  const scrub = (text: string | null) => (text === null ? null : redactWithin(text, secrets));
  for (const layer of info.layers) layer.createdBy = scrub(layer.createdBy);
  for (const f of findings) {
    if (f.layer) f.layer.createdBy = scrub(f.layer.createdBy);
    if (f.removedBy) f.removedBy.createdBy = scrub(f.removedBy.createdBy);
  }
}

function imageInfo(image: ResolvedImage, scans: LayerOutcome[]): ImageInfo {
  return {
    format: image.format,
    reference: image.reference,
    digest: image.digest,
    platform: image.platform,
    layers: image.layers.map((l, i) => ({
      index: l.index,
      diffId: l.diffId,
      digest: l.digest,
      createdBy: l.createdBy,
      size: scans[i]?.storedBytes ?? l.size,
    })),
  };
}
