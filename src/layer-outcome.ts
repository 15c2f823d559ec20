import { createHash } from 'node:crypto';
import { sightingValue } from './attribute.js';
import { changesOf, HEAD_BYTES, type CachedLayer, type CachedMatch, type LayerCache, type ScannedChanges } from './cache/layer-cache.js';
import type { DetectionPool } from './detect/pool.js';
import { keyFingerprint } from './detect/public-keys.js';
import { ScanError } from './errors.js';
import { LayerWorkers, type ScannedLayer } from './layer/layer-workers.js';
import type { ArchiveLimits } from './layer/nested.js';
import { scanLayer, type LayerChanges } from './layer/walk.js';
import type { ImageContainer } from './source/container.js';
import type { ResolvedLayer } from './source/resolve.js';
import { StreamedImage } from './source/stream.js';

/**
 * The layer cache as one scan uses it. Cached results hold no raw value, so a scan that needs
 * them (--show-secrets, --verify) reads no layer from the cache (`read: false`) but still writes.
 */
export interface LayerCacheUse {
  store: LayerCache;
  read: boolean;
}

/** One file match of a layer, identified by hash; `secret` only when the layer was scanned this run. */
export interface LayerMatch extends CachedMatch {
  secret?: string;
}

/** A layer's results, scanned now or restored from the layer cache. */
export interface LayerOutcome {
  changes: LayerChanges;
  matches: LayerMatch[];
  files: number;
  bytes: number;
  skipped: Record<string, number>;
  storedBytes: number;
  cached: boolean;
}

/**
 * A layer's outcome from the layer cache, or null when it must be scanned. Probes for every layer
 * run at once, before any scan: each is a small file read and a 1 MiB hash, and taken two at a
 * time under the scan limit they were most of a cached rescan.
 */
export async function cachedLayer(
  container: ImageContainer,
  layer: ResolvedLayer,
  cache: LayerCacheUse | null,
): Promise<LayerOutcome | null> {
  const where = `layer ${layer.index} (${layer.digest ?? layer.blob})`;
  // A streamed image's layers were already walked on the way in: nothing to save there.
  const cached = cache?.read && !(container instanceof StreamedImage) ? await cache.store.get(layer.diffId) : null;
  if (!cached) return null;
  // The trust decision (README "Performance"): a cached layer is taken on its diff_id, which the
  // image config declares (and an OCI layout's config is checked against its digest). The blob
  // at hand must still be one an earlier full scan saw decompress to that diff_id:
  // - archive files and layout directories: same manifest digest, same size and same first MiB
  //   (sha256), which catches truncation, re-compression and damaged headers without reading
  //   the rest; --no-cache checks every byte;
  // - a registry: the whole blob is downloaded and hashed (the registry is not trusted), but not
  //   decompressed or walked.
  let hit: { size: number } | null = null;
  try {
    const byDigest = (d: string | null) => cached.blobs.filter((b) => d === null || !d.startsWith('sha256:') || b.digest === d);
    if (container.kind === 'tar' || container.kind === 'directory') {
      const size = container.size(layer.blob);
      const candidates = byDigest(layer.digest).filter((b) => b.size === size && b.head !== null);
      if (candidates.length > 0) {
        const head = await headHash(container, layer.blob);
        if (candidates.some((b) => b.head === head)) hit = { size };
      }
    } else {
      const blob = await hashBlob(container.open(layer.blob));
      if (layer.digest && layer.digest.startsWith('sha256:') && blob.digest !== layer.digest) {
        throw new ScanError(`${where}: blob content does not match its digest (got ${blob.digest})`);
      }
      if (byDigest(blob.digest).length > 0) hit = { size: blob.bytes };
    }
  } catch (cause) {
    if (cause instanceof ScanError) throw cause;
    throw new ScanError(`reading ${where}`, { cause });
  }
  if (!hit) return null;
  return outcomeOf(cached, hit.size);
}

/**
 * sha256 of a blob's first HEAD_BYTES: what the layer cache identifies a stored blob by. Null for
 * a container that cannot read a blob again (standard input, a daemon, a registry).
 */
export async function headHash(container: ImageContainer, blob: string): Promise<string | null> {
  if (!container.hashHead) return null;
  return `sha256:${await container.hashHead(blob, HEAD_BYTES)}`;
}

export async function scanOneLayer(
  container: ImageContainer,
  layer: ResolvedLayer,
  pool: DetectionPool | LayerWorkers,
  limits: ArchiveLimits,
  cache: LayerCacheUse | null,
  onFiles: (files: number, bytes: number) => void,
): Promise<LayerOutcome> {
  const outcome = await scanBlob(container, layer, pool, limits, onFiles);
  if (cache) {
    // The head hash is what later runs compare (see above); a streamed blob cannot be read again.
    const head = await headHash(container, layer.blob).catch(() => null);
    await cache.store.put(layer.diffId, { digest: outcome.blobDigest, size: outcome.storedBytes, head }, outcome);
  }
  return outcome;
}

/**
 * Scans one layer blob: decompressed, walked and detected, its digest and diff_id checked. Raw
 * values stay in `matches[].secret` (memory only); everything else is what the layer cache keeps.
 */
export async function scanBlob(
  container: ImageContainer,
  layer: Pick<ResolvedLayer, 'index' | 'diffId' | 'blob' | 'digest'>,
  pool: DetectionPool | LayerWorkers,
  limits: ArchiveLimits,
  onFiles: (files: number, bytes: number) => void = () => {},
): Promise<LayerOutcome & { blobDigest: string; changes: ScannedChanges }> {
  const where = `layer ${layer.index} (${layer.digest ?? layer.blob})`;
  let scan: ScannedLayer;
  try {
    scan = container instanceof StreamedImage
      ? await container.scanOf(layer.blob)!
      : pool instanceof LayerWorkers
        ? await pool.scan(container.locate!(layer.blob), (p) => onFiles(p.files, p.bytes))
        : await scanLayer(container.open(layer.blob), pool, (p) => onFiles(p.files, p.bytes), limits);
  } catch (cause) {
    throw new ScanError(`reading ${where}`, { cause });
  }
  if (layer.digest && layer.digest.startsWith('sha256:') && scan.blobDigest !== layer.digest) {
    throw new ScanError(`${where}: blob content does not match its digest (got ${scan.blobDigest})`);
  }
  if (scan.diffId !== layer.diffId) {
    throw new ScanError(`${where}: uncompressed content does not match the config's diff_id ${layer.diffId} (got ${scan.diffId})`);
  }
  const matches: LayerMatch[] = scan.matches.map((m) => ({
    ruleId: m.ruleId,
    ...sightingValue(m.secret),
    secret: m.secret,
    fingerprint: keyFingerprint(m.secret),
    length: m.secret.length,
    path: m.path,
    line: m.line,
    column: m.column,
    ...(m.replacedInLayer ? { replacedInLayer: true as const } : {}),
    ...(m.provider !== undefined ? { provider: m.provider } : {}),
  }));
  return { changes: scan.changes, matches, files: scan.files, bytes: scan.bytes, skipped: scan.skipped, storedBytes: scan.storedBytes, cached: false, blobDigest: scan.blobDigest };
}

/** A stored layer entry (layer cache or a shared store) as an outcome for assembleReport. */
export function outcomeOf(entry: CachedLayer, storedBytes: number): LayerOutcome {
  return { changes: changesOf(entry), matches: entry.matches, files: entry.files, bytes: entry.bytes, skipped: entry.skipped, storedBytes, cached: true };
}

/** sha256 and length of a blob as stored: what a cache hit costs instead of decompressing and walking it. */
export async function hashBlob(blob: AsyncIterable<Buffer>): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of blob) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, bytes };
}
