import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import pLimit from 'p-limit';
import { attribute, sightingValue, type Sighting } from './attribute.js';
import { type CachedLayer, type LayerCacheKeyParts, changesOf, type ConfigMatch, defaultCacheDir, findByHash, hashBlob, HEAD_BYTES, LayerCache, ruleMemo, type CachedMatch } from './cache/layer-cache.js';
import { configItems, type ConfigItem } from './config-items.js';
import { DetectionPool } from './detect/pool.js';
import { DetectionEngine, type RawMatch } from './detect/engine.js';
import { defaultDetectorsDir, loadRuleSet, type RuleSet, type RuleSpec } from './detect/rules.js';
import { isAllowlisted, loadAllowlist, type AllowEntry } from './detect/allowlist.js';
import { keyFingerprint, loadPublicKeys } from './detect/public-keys.js';
import { ScanError } from './errors.js';
import { scanLayer, type LayerChanges, type LayerScan, type WalkedChanges } from './layer/walk.js';
import { archiveLimits, type ArchiveLimits } from './layer/nested.js';
import { LayerWorkers } from './layer/layer-workers.js';
import type { Readable } from 'node:stream';
import type { ImageContainer } from './source/container.js';
import { openSource } from './source/open.js';
import { resolveImage, type ResolvedImage, type ResolvedLayer } from './source/resolve.js';
import { StreamedImage } from './source/stream.js';
import type { Finding, ImageInfo, ScanOptions, ScanReport } from './types.js';
import { redactWithin } from './redact.js';
import { parseVerifyEndpoints, verifyFindings } from './verify/run.js';

export const TOOL_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/** What a layer's cached results depend on besides its content: the catalogue, the tool, the options that change results. */
export function layerCacheKeyParts(rulesHash: string, options: Pick<ScanOptions, 'archives'>): LayerCacheKeyParts {
  return { rulesHash, toolVersion: TOOL_VERSION, settings: JSON.stringify({ archives: archiveLimits(options) }) };
}

/**
 * Detection workers when not told: one per core but one. The main thread is a core's worth of work
 * itself (tar walk, digests, copying to workers) and decompression runs beside it; on a 2-core
 * machine a second worker made the scan slower (measured: 8% more wall, 10% more CPU), its
 * compiler and collector competing with the work.
 */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * How scanImage rejects when its `signal` aborts. Named "AbortError" with code ABORT_ERR like
 * Node's own cancellations, so `err.name === 'AbortError'` works too; `cause` is the signal's reason.
 */
export class ScanAbortedError extends Error {
  override name = 'AbortError';
  readonly code = 'ABORT_ERR';
}

/**
 * Scans one image: `target` is a docker save tarball, an OCI archive, an OCI layout directory,
 * or "-" for a tarball on standard input. Rejects with a ScanError when the image cannot be read
 * as a whole; never returns a partial report.
 */
export async function scanImage(target: string, options: ScanOptions = {}): Promise<ScanReport> {
  const started = performance.now();
  if (options.signal?.aborted) throw new ScanAbortedError(`scan of ${target} cancelled`, { cause: options.signal.reason });
  // Bad endpoints fail the scan before it starts, not after minutes of work.
  const verifyEndpoints = options.verify ? parseVerifyEndpoints(options.verifyEndpoints) : null;
  const cacheDir = options.cache === false ? null : (options.cacheDir ?? defaultCacheDir());
  const ruleSet = loadRuleSet(options.detectorsDir, cacheDir === null ? undefined : ruleMemo(cacheDir, TOOL_VERSION));
  const rules = new Map(ruleSet.rules.map((r) => [r.id, r] as const));
  const jobs = options.jobs ?? defaultJobs();
  const limits = archiveLimits(options);
  const pool = new DetectionPool(ruleSet.rules, jobs, ruleSet.plan);
  const progress = { layersDone: 0, layersTotal: 0, files: 0, bytes: 0, findings: 0 };
  const report = () => options.onProgress?.({ ...progress });
  // Cached results hold no raw value, so --show-secrets and --verify read no layer from the cache (they still write).
  const cache = cacheDir === null
    ? null
    : { store: new LayerCache(cacheDir, layerCacheKeyParts(ruleSet.hash, options)), read: options.showSecrets !== true && options.verify !== true };
  let container: ImageContainer | null = null;
  let walkersOf: LayerWorkers | null = null;
  const cancel = new Cancellation(target, options, pool);
  try {
    const opening = openSource(target, options, pool);
    // A source that finishes opening after the scan was cancelled has nobody left to close it.
    opening.then((c) => (cancel.error ? c.close() : undefined)).catch(() => {});
    container = await cancel.race(opening);
    const source = cancel.tracking(container);
    const image = await cancel.race(resolveImage(container, {
      platform: options.platform,
      image: options.image,
      containerFormat: container.kind,
    }));
    progress.layersTotal = image.layers.length;
    report();

    const layerFiles = new Map<number, { files: number; bytes: number }>();
    // Layers in files are walked whole on layer workers (detection inline), as many at once as
    // there are cores; others (streams, daemons, registries) on this thread, detection on the pool.
    // Each layer worker holds its own heap and buffers: at most 8.
    const layerThreads = Math.max(2, Math.min(jobs + 1, 8));
    const walkers = jobs > 0 && container.locate && !(container instanceof StreamedImage) ? new LayerWorkers(ruleSet.rules, ruleSet.plan, limits, layerThreads) : null;
    walkersOf = walkers;
    if (walkers) cancel.whenAborted((err) => void walkers.close(err).catch(() => {}));
    const limit = pLimit(walkers ? layerThreads : Math.max(2, Math.min(jobs, 4)));
    // A registry probe downloads the whole blob: those stay under the limit.
    const local = container.kind === 'tar' || container.kind === 'directory';
    const fromCache = await cancel.race(Promise.all(
      image.layers.map((layer) => (local ? cachedLayer(source, layer, cache) : limit(() => cachedLayer(source, layer, cache)))),
    ));
    const items = configItems(image);
    const texts = items.map((item) => item.text);
    let configScan: Promise<RawMatch[][]> | null = null;
    if (fromCache.some((hit) => hit === null) && !walkers) {
      // After this tick, once the layers' first reads are issued: starting a worker (cloning the
      // rules to it) is main-thread work that can run while those reads are on their way.
      setImmediate(() => pool.start());
      configScan = pool.detectAll(texts.map((text) => Buffer.from(text, 'utf8')));
      configScan.catch(() => {});
    }
    // Served from the cache, the config's matches are looked up too (by its texts), read meanwhile.
    const storedConfig = configScan === null && cache?.read ? cache.store.getConfig(texts) : null;
    const scans = await cancel.race(Promise.all(
      image.layers.map((layer, i) =>
        limit(async () => {
          const hit = fromCache[i];
          if (hit) {
            progress.files += hit.files;
            progress.bytes += hit.bytes;
            progress.layersDone++;
            report();
            return hit;
          }
          const scan = await scanOneLayer(source, layer, walkers ?? pool, limits, cache, (files, bytes) => {
            const before = layerFiles.get(layer.index) ?? { files: 0, bytes: 0 };
            progress.files += files - before.files;
            progress.bytes += bytes - before.bytes;
            layerFiles.set(layer.index, { files, bytes });
            // A big layer takes a while: the display should move within it, not only between layers.
            report();
          });
          progress.layersDone++;
          report();
          return scan;
        }),
      ),
    ));

    let configMatches: ConfigSeen[][];
    const stored = storedConfig ? await storedConfig : null;
    if (stored) configMatches = stored;
    else {
      const found = configScan ? (pool.flush(), await cancel.race(configScan)) : scanConfigHere(items, ruleSet);
      configMatches = found.map((list) => list.map((m) => ({ ruleId: m.ruleId, ...sightingValue(m.secret), length: m.secret.length, ...(m.provider !== undefined ? { provider: m.provider } : {}) })));
      void cache?.store.putConfig(texts, configMatches);
    }
    // Workers take ~10 ms to terminate: that now runs beside the attribution below.
    const closing = Promise.all([pool.close(), walkers?.close()]);
    closing.catch(() => {});

    const assembled = assembleReport({ target, image, scans, configMatches, items, rules, showSecrets: options.showSecrets === true, allowlist: loadAllowlist(options.detectorsDir ?? defaultDetectorsDir()), publicKeys: loadPublicKeys(options.detectorsDir ?? defaultDetectorsDir()), started, onFindings: (n) => {
      progress.findings = n;
      report();
    } });
    if (verifyEndpoints) {
      // Raw values stay in this closure: the checks get them by hash, the report never does.
      const raw = new Map<string, string>();
      for (const m of [...scans.flatMap((scan) => scan.matches), ...configMatches.flat()]) if (m.secret !== undefined) raw.set(m.secretHash, m.secret);
      await cancel.race(verifyFindings(assembled.findings, raw, { endpoints: verifyEndpoints, timeoutMs: options.verifyTimeoutMs, signal: options.signal }));
      assembled.stats.durationMs = Math.round(performance.now() - started);
    }
    return assembled;
  } catch (err) {
    // After a cancel, whatever failed downstream (a destroyed stream, a rejected batch) is the cancel.
    throw cancel.error ?? err;
  } finally {
    cancel.dispose();
    await pool.close();
    await walkersOf?.close().catch(() => {});
    // Never return (and let the CLI exit) between a cache entry's temp file and its rename.
    await cache?.store.settled();
    await container?.close();
  }
}

/**
 * Ties one scan to `options.signal`. On abort the detection pool is aborted (its workers end),
 * every blob stream opened through `tracking` and the image on `stdin` are destroyed, and `race`
 * rejects at once, also for waits nothing can interrupt (a registry request in flight).
 */
class Cancellation {
  error: ScanAbortedError | null = null;
  private readonly streams = new Set<Readable>();
  private readonly aborted: Promise<never>;
  private readonly onAbort: () => void;

  constructor(
    private readonly target: string,
    private readonly options: ScanOptions,
    private readonly pool: DetectionPool,
  ) {
    let reject!: (err: Error) => void;
    this.aborted = new Promise<never>((_resolve, rej) => {
      reject = rej;
    });
    this.aborted.catch(() => {});
    this.onAbort = () => {
      const err = new ScanAbortedError(`scan of ${this.target} cancelled`, { cause: this.options.signal?.reason });
      this.error = err;
      void this.pool.abort(err).catch(() => {});
      for (const s of this.streams) s.destroy(err);
      for (const fn of this.abortHandlers) fn(err);
      const input = this.options.stdin ?? (this.target === '-' ? process.stdin : undefined);
      (input as Readable | undefined)?.destroy(err);
      reject(err);
    };
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly abortHandlers: ((err: Error) => void)[] = [];

  /** Runs `fn` on abort (at once if already aborted): for work that streams cannot reach, like layer workers. */
  whenAborted(fn: (err: Error) => void): void {
    if (this.error) fn(this.error);
    else this.abortHandlers.push(fn);
  }

  race<T>(work: Promise<T>): Promise<T> {
    return this.options.signal ? Promise.race([work, this.aborted]) : work;
  }

  /** The container, with each blob stream it opens destroyed on abort (at once if already aborted). */
  tracking(container: ImageContainer): ImageContainer {
    // A streamed image's layers were consumed while ingesting: its input is destroyed instead.
    if (!this.options.signal || container instanceof StreamedImage) return container;
    const track = (stream: Readable): Readable => {
      if (this.error) stream.destroy(this.error);
      else {
        this.streams.add(stream);
        stream.once('close', () => this.streams.delete(stream));
      }
      return stream;
    };
    return {
      kind: container.kind,
      label: container.label,
      has: (name) => container.has(name),
      size: (name) => container.size(name),
      read: (name, maxBytes) => container.read(name, maxBytes),
      open: (name) => track(container.open(name)),
      // A few positional reads of the blob's first MiB: over before a cancel could need to interrupt them.
      ...(container.hashHead ? { hashHead: (name: string, bytes: number) => container.hashHead!(name, bytes) } : {}),
      ...(container.locate ? { locate: (name: string) => container.locate!(name) } : {}),
      close: () => container.close(),
    };
  }

  dispose(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }
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
async function cachedLayer(
  container: ImageContainer,
  layer: ResolvedLayer,
  cache: { store: LayerCache; read: boolean } | null,
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
  return { changes: changesOf(cached), matches: cached.matches, files: cached.files, bytes: cached.bytes, skipped: cached.skipped, storedBytes: hit.size, cached: true };
}

/**
 * sha256 of a blob's first HEAD_BYTES: what the layer cache identifies a stored blob by. Null for
 * a container that cannot read a blob again (standard input, a daemon, a registry).
 */
async function headHash(container: ImageContainer, blob: string): Promise<string | null> {
  if (!container.hashHead) return null;
  return `sha256:${await container.hashHead(blob, HEAD_BYTES)}`;
}

async function scanOneLayer(
  container: ImageContainer,
  layer: ResolvedLayer,
  pool: DetectionPool | LayerWorkers,
  limits: ArchiveLimits,
  cache: { store: LayerCache; read: boolean } | null,
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
): Promise<LayerOutcome & { blobDigest: string; changes: WalkedChanges }> {
  const where = `layer ${layer.index} (${layer.digest ?? layer.blob})`;
  let scan: LayerScan;
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

/** The image config's matches, found on this thread with `engine` (raw values in memory only). */
export function configMatchesWith(engine: DetectionEngine, items: readonly ConfigItem[]): ConfigSeen[][] {
  return items.map((item) => engine.scan(Buffer.from(item.text, 'utf8')).map((m) => ({
    ruleId: m.ruleId, ...sightingValue(m.secret), length: m.secret.length, ...(m.provider !== undefined ? { provider: m.provider } : {}),
  })));
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
  rules: ReadonlyMap<string, RuleSpec>;
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
  const { image, scans, configMatches, items, showSecrets } = parts;
  // Cached matches carry their fingerprint (a hash): the raw value is never stored.
  const isPublic = (m: { fingerprint?: string; secret?: string }) => {
    const fingerprint = m.fingerprint ?? (m.secret !== undefined ? keyFingerprint(m.secret) : undefined);
    return fingerprint !== undefined && parts.publicKeys.has(fingerprint);
  };
  let allowlisted = 0;
  const sightings: Sighting[] = [];
  scans.forEach((scan, index) => {
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
  configMatches.forEach((found, i) => {
    const item = items[i]!;
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

  const layerInfos = imageInfo(image, scans);
  const findings = attribute({
    sightings,
    layers: scans.map((scan, i) => ({ ref: { index: i, diffId: image.layers[i]!.diffId, createdBy: image.layers[i]!.createdBy }, changes: scan.changes })),
    rules: parts.rules,
    showSecrets,
  });
  parts.onFindings?.(findings.length);
  if (!showSecrets) {
    // Build args land in history verbatim, so createdBy strings can hold the very secrets found.
    const found = new Set(sightings.flatMap((x) => (x.secret === undefined ? [] : [x.secret])));
    // Values from the cache are known only by hash: look for them in the history text by hash.
    const known = new Set(sightings.flatMap((x) => (x.secret === undefined ? [] : [x.secretHash])));
    const hashedOnly = new Map<string, ConfigSeen>();
    for (const s of scans) for (const m of s.matches) if (m.secret === undefined && !known.has(m.secretHash)) hashedOnly.set(m.secretHash, m);
    for (const list of configMatches) for (const m of list) if (m.secret === undefined && !known.has(m.secretHash)) hashedOnly.set(m.secretHash, m);
    if (hashedOnly.size > 0) {
      for (const l of image.layers) if (l.createdBy) findByHash(l.createdBy, [...hashedOnly.values()]).forEach((v) => found.add(v));
    }
    scrubCreatedBy(layerInfos, findings, [...found]);
  }
  const skipped: Record<string, number> = {};
  for (const s of scans) for (const [why, n] of Object.entries(s.skipped)) skipped[why] = (skipped[why] ?? 0) + n;
  return {
    schemaVersion: 1,
    tool: { name: 'stratascan', version: TOOL_VERSION },
    target: parts.target,
    image: layerInfos,
    findings,
    stats: {
      layers: scans.length,
      files: scans.reduce((n, s) => n + s.files, 0),
      bytes: scans.reduce((n, s) => n + s.bytes, 0),
      durationMs: Math.round(performance.now() - parts.started),
      skipped,
      allowlisted,
      cachedLayers: scans.filter((s) => s.cached).length,
    },
  };
}

/** A match in an image config item; `secret` only when scanned this run, not read from the cache. */
export type ConfigSeen = ConfigMatch & { secret?: string };

/**
 * The image config's matches on this thread: a scan served from the layer cache starts no worker
 * for these few KiB.
 */
function scanConfigHere(items: readonly ConfigItem[], ruleSet: RuleSet): RawMatch[][] {
  const engine = new DetectionEngine(ruleSet.rules, ruleSet.plan ? { plan: ruleSet.plan, prepareNow: false } : {});
  return items.map((item) => engine.scan(Buffer.from(item.text, 'utf8')));
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

export type { RuleSpec };
