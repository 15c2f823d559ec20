import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import pLimit from 'p-limit';
import { attribute, type Sighting } from './attribute.js';
import { configItems } from './config-items.js';
import { DetectionPool } from './detect/pool.js';
import { defaultDetectorsDir, loadRuleSet, type RuleSpec } from './detect/rules.js';
import { isAllowlisted, loadAllowlist } from './detect/allowlist.js';
import { ScanError } from './errors.js';
import { scanLayer, type LayerScan } from './layer/walk.js';
import type { ImageContainer } from './source/container.js';
import { openSource } from './source/open.js';
import { resolveImage, type ResolvedImage, type ResolvedLayer } from './source/resolve.js';
import { StreamedImage } from './source/stream.js';
import type { Finding, ImageInfo, ScanOptions, ScanReport } from './types.js';
import { redactWithin } from './redact.js';

export const TOOL_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Scans one image: `target` is a docker save tarball, an OCI archive, an OCI layout directory,
 * or "-" for a tarball on standard input. Rejects with a ScanError when the image cannot be read
 * as a whole; never returns a partial report.
 */
export async function scanImage(target: string, options: ScanOptions = {}): Promise<ScanReport> {
  const started = performance.now();
  const ruleSet = loadRuleSet(options.detectorsDir);
  const rules = new Map(ruleSet.rules.map((r) => [r.id, r] as const));
  const jobs = options.jobs ?? defaultJobs();
  const pool = new DetectionPool(ruleSet.rules, jobs);
  const progress = { layersDone: 0, layersTotal: 0, files: 0, bytes: 0, findings: 0 };
  const report = () => options.onProgress?.({ ...progress });
  let container: ImageContainer | null = null;
  try {
    container = await openSource(target, options, pool);
    const image = await resolveImage(container, {
      platform: options.platform,
      image: options.image,
      containerFormat: container.kind,
    });
    progress.layersTotal = image.layers.length;
    report();

    const layerFiles = new Map<number, { files: number; bytes: number }>();
    const limit = pLimit(Math.max(2, Math.min(jobs, 4)));
    const scans = await Promise.all(
      image.layers.map((layer) =>
        limit(async () => {
          const scan = await scanOneLayer(container!, layer, pool, (files, bytes) => {
            const before = layerFiles.get(layer.index) ?? { files: 0, bytes: 0 };
            progress.files += files - before.files;
            progress.bytes += bytes - before.bytes;
            layerFiles.set(layer.index, { files, bytes });
          });
          progress.layersDone++;
          report();
          return scan;
        }),
      ),
    );

    const allowlist = loadAllowlist(options.detectorsDir ?? defaultDetectorsDir());
    let allowlisted = 0;
    const sightings: Sighting[] = [];
    scans.forEach((scan, index) => {
      for (const m of scan.matches) {
        if (isAllowlisted(allowlist, m.ruleId, m.path)) {
          allowlisted++;
          continue;
        }
        sightings.push({ ruleId: m.ruleId, secret: m.secret, source: 'file', layerIndex: index, path: m.path, line: m.line, column: m.column, key: null });
      }
    });
    const items = configItems(image);
    const submitted = await Promise.all(items.map((item) => pool.submit(Buffer.from(item.text, 'utf8'))));
    pool.flush();
    const configMatches = await Promise.all(submitted.map((s) => s.result));
    configMatches.forEach((found, i) => {
      const item = items[i]!;
      for (const m of found) {
        sightings.push({ ruleId: m.ruleId, secret: m.secret, source: item.source, layerIndex: item.layerIndex, path: null, line: null, column: null, key: item.key });
      }
    });

    const layerInfos = imageInfo(image, scans);
    const findings = attribute({
      sightings,
      layers: scans.map((scan, i) => ({ ref: { index: i, diffId: image.layers[i]!.diffId, createdBy: image.layers[i]!.createdBy }, changes: scan.changes })),
      rules,
      showSecrets: options.showSecrets === true,
    });
    progress.findings = findings.length;
    report();
    if (options.showSecrets !== true) {
      // Build args land in history verbatim, so createdBy strings can hold the very secrets found.
      const found = [...new Set(sightings.map((x) => x.secret))];
      scrubCreatedBy(layerInfos, findings, found);
    }
    const skipped: Record<string, number> = {};
    for (const s of scans) for (const [why, n] of Object.entries(s.skipped)) skipped[why] = (skipped[why] ?? 0) + n;
    return {
      schemaVersion: 1,
      tool: { name: 'stratascan', version: TOOL_VERSION },
      target,
      image: layerInfos,
      findings,
      stats: {
        layers: scans.length,
        files: scans.reduce((n, s) => n + s.files, 0),
        bytes: scans.reduce((n, s) => n + s.bytes, 0),
        durationMs: Math.round(performance.now() - started),
        skipped,
        allowlisted,
      },
    };
  } finally {
    await pool.close();
    await container?.close();
  }
}

async function scanOneLayer(
  container: ImageContainer,
  layer: ResolvedLayer,
  pool: DetectionPool,
  onFiles: (files: number, bytes: number) => void,
): Promise<LayerScan> {
  const where = `layer ${layer.index} (${layer.digest ?? layer.blob})`;
  let scan: LayerScan;
  try {
    scan = container instanceof StreamedImage
      ? await container.scanOf(layer.blob)!
      : await scanLayer(container.open(layer.blob), pool, (p) => onFiles(p.files, p.bytes));
  } catch (cause) {
    throw new ScanError(`reading ${where}`, { cause });
  }
  if (layer.digest && layer.digest.startsWith('sha256:') && scan.blobDigest !== layer.digest) {
    throw new ScanError(`${where}: blob content does not match its digest (got ${scan.blobDigest})`);
  }
  if (scan.diffId !== layer.diffId) {
    throw new ScanError(`${where}: uncompressed content does not match the config's diff_id ${layer.diffId} (got ${scan.diffId})`);
  }
  return scan;
}

function scrubCreatedBy(info: ImageInfo, findings: Finding[], secrets: string[]): void {
  const scrub = (text: string | null) => (text === null ? null : redactWithin(text, secrets));
  for (const layer of info.layers) layer.createdBy = scrub(layer.createdBy);
  for (const f of findings) {
    if (f.layer) f.layer.createdBy = scrub(f.layer.createdBy);
    if (f.removedBy) f.removedBy.createdBy = scrub(f.removedBy.createdBy);
  }
}

function imageInfo(image: ResolvedImage, scans: LayerScan[]): ImageInfo {
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

export type { RuleSpec };
