import pLimit from 'p-limit';
import { defaultCacheDir, LayerCache, type LayerCacheKeyParts } from '../cache/layer-cache.js';
import { ruleMemo } from '../cache/rule-memo.js';
import { configItems } from '../config-items.js';
import { loadAllowlist } from '../detect/allowlist.js';
import { loadPublicKeys } from '../detect/public-keys.js';
import { DetectionEngine } from '../detect/engine.js';
import { DetectionPool } from '../detect/pool.js';
import { defaultDetectorsDir, loadRuleSet } from '../detect/rules.js';
import { describeError, ScanError } from '../errors.js';
import { archiveLimits, type ArchiveLimits } from '../layer/nested.js';
import { redactWithin } from '../redact.js';
import { assembleReport, configMatchesWith, defaultJobs, layerCacheKeyParts, ScanAbortedError, TOOL_VERSION } from '../scan.js';
import type { ImageContainer } from '../source/container.js';
import { openSource } from '../source/open.js';
import type { RegistrySourceOptions } from '../source/registry.js';
import { blobPath, resolveImage, type ResolvedImage } from '../source/resolve.js';
import { parseTarget } from '../source/target.js';
import type { ScanOptions } from '../types.js';
import { LayerResolver, LocalScanner, LocalStore, RegistryBlobs, type LayerNeed, type LayerSource, type ResultStore } from './layers.js';
import type { QueueScanner, QueueWait } from './queue.js';
import type { QueueTuning } from './tuning.js';
import { expandSources } from './sources.js';
import type { AuditImage, AuditReport } from './types.js';

export type { AuditImage, AuditReport, AuditLayerStats } from './types.js';

export interface AuditProgress {
  imagesDone: number;
  imagesTotal: number;
  layersScanned: number;
  layersFromCache: number;
}

export interface AuditOptions extends Pick<ScanOptions, 'jobs' | 'detectorsDir' | 'cache' | 'cacheDir' | 'pull' | 'registryAuth' | 'insecureRegistries' | 'archives' | 'signal'> {
  /** Repository globs for `registry:HOST` sources. */
  repos?: string[];
  /** Tag globs for `registry:HOST` sources. */
  tags?: string[];
  /** os/arch[/variant] of multi-platform images (default linux/amd64). */
  platform?: string;
  /** Every platform of a multi-platform image, each reported as an image of its own. */
  allPlatforms?: boolean;
  /** `redis://HOST[:PORT][/DB]`: layers go to BullMQ workers; results are kept in that Redis. */
  queue?: string;
  queueTuning?: QueueTuning;
  /** With `queue`: give up (reject) when no queued layer has finished for this long (default: wait for ever). */
  queueTimeoutMs?: number;
  /** Layers scanned at once in this process (default 4: downloads overlap, detection shares one pool). */
  concurrency?: number;
  onProgress?: (progress: AuditProgress) => void;
  /** One line worth telling whoever waits (no worker listens on the queue yet). */
  onNote?: (line: string) => void;
}

/**
 * Audits many images: every image the sources name (registries listed, references as given) is
 * read, each unique layer scanned once (in this process, or by queue workers with `queue`), and
 * each image's findings assembled from its layers' results and its own config: exactly what
 * scanImage reports for that image alone. An image that cannot be read is listed with its error;
 * the audit rejects only when it cannot run at all (no image named, Redis unreachable) or is cancelled.
 */
export async function auditImages(sources: readonly string[], options: AuditOptions = {}): Promise<AuditReport> {
  const started = performance.now();
  const cacheDir = options.cache === false ? null : (options.cacheDir ?? defaultCacheDir());
  const ruleSet = loadRuleSet(options.detectorsDir, cacheDir === null ? undefined : ruleMemo(cacheDir, TOOL_VERSION));
  const rules = new Map(ruleSet.rules.map((r) => [r.id, r] as const));
  const allowlist = loadAllowlist(options.detectorsDir ?? defaultDetectorsDir());
  const publicKeys = loadPublicKeys(options.detectorsDir ?? defaultDetectorsDir());
  const parts = layerCacheKeyParts(ruleSet.hash, options);
  const registry: RegistrySourceOptions = { credentials: options.registryAuth, insecureRegistries: options.insecureRegistries };
  const refs = await expandSources(sources, { repos: options.repos, tags: options.tags }, registry);
  if (refs.length === 0) throw new ScanError('the sources name no image (an empty registry, or --repo/--tag matched nothing)');
  // BullMQ and ioredis load only for an audit with a queue.
  const queueModule = options.queue === undefined ? null : await import('./queue.js');
  const address = options.queue === undefined ? null : queueModule!.parseQueueUrl(options.queue);

  const pool = new DetectionPool(ruleSet.rules, options.jobs ?? defaultJobs(), ruleSet.plan);
  const engine = new DetectionEngine(ruleSet.rules, ruleSet.plan ? { plan: ruleSet.plan, prepareNow: false } : {});
  const blobs = new RegistryBlobs(registry);
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const connection = address ? await queueModule!.openQueue(address) : null;
  if (connection && (await connection.queue.getWorkersCount()) === 0) {
    options.onNote?.(`no worker listens on ${address!.label} yet: layers wait until one starts (stratascan worker --queue …)`);
  }
  const backend = layerBackend(queueModule, connection, {
    parts, pool, blobs, concurrency, limits: archiveLimits(options),
    wait: {
      label: address?.label ?? '',
      pollMs: options.queueTuning?.pollMs ?? 200,
      noteEveryMs: options.queueTuning?.noteEveryMs ?? 10_000,
      onNote: options.onNote,
      idleTimeoutMs: options.queueTimeoutMs ?? null,
    },
    cache: cacheDir === null ? null : new LayerCache(cacheDir, parts),
  });
  const { resolver, store, queueScanner } = backend;
  const onAbort = () => {
    const err = new ScanAbortedError('audit cancelled', { cause: options.signal?.reason });
    void pool.abort(err).catch(() => {});
    queueScanner?.fail(err);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const progress: AuditProgress = { imagesDone: 0, imagesTotal: refs.length, layersScanned: 0, layersFromCache: 0 };
    // Reading an image is a few small requests; with a queue it is mostly waiting for workers.
    const images = pLimit(connection ? 32 : Math.max(8, concurrency * 2));
    const scrub = (text: string) => redactWithin(text, engine.scan(Buffer.from(text, 'utf8')).map((m) => m.secret));
    const audited = await Promise.all(refs.map((ref) => images(async () => {
      // Images still queued when the audit is cancelled are not opened.
      if (options.signal?.aborted) throw new ScanAbortedError('audit cancelled', { cause: options.signal.reason });
      const result = await auditOne(ref, { options, pool, resolver, rules, allowlist, publicKeys, engine, scrub, gaveUp: () => queueScanner?.gaveUp ?? null });
      progress.imagesDone++;
      progress.layersScanned = resolver.scanned;
      progress.layersFromCache = resolver.fromCache;
      options.onProgress?.({ ...progress });
      return result;
    })));
    if (options.signal?.aborted) throw new ScanAbortedError('audit cancelled', { cause: options.signal.reason });
    return {
      schemaVersion: 1,
      kind: 'audit',
      tool: { name: 'stratascan', version: TOOL_VERSION },
      images: audited.flat(),
      layers: { unique: resolver.unique, scanned: resolver.scanned, fromCache: resolver.fromCache },
      stats: { images: audited.flat().length, bytes: resolver.bytes, durationMs: Math.round(performance.now() - started) },
    };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    queueScanner?.stop();
    await pool.close();
    // Never return (and let the CLI exit) between a cache entry's temp file and its rename.
    await store.settled();
    await blobs.close();
    await connection?.close();
  }
}

/**
 * Where layer results come from: with a queue, Redis (registry layers scanned by workers, the rest
 * here); without, this process and the local layer cache.
 */
function layerBackend(
  queueModule: typeof import('./queue.js') | null,
  connection: Awaited<ReturnType<typeof import('./queue.js').openQueue>> | null,
  c: { parts: LayerCacheKeyParts; pool: DetectionPool; blobs: RegistryBlobs; concurrency: number; limits: ArchiveLimits; wait: QueueWait; cache: LayerCache | null },
): { resolver: LayerResolver; store: ResultStore; queueScanner: QueueScanner | null } {
  if (connection && queueModule) {
    const store = new queueModule.RedisStore(connection.redis, c.parts);
    const local = new LocalScanner(store, c.pool, c.limits, c.blobs, c.concurrency);
    const queueScanner = new queueModule.QueueScanner(connection.queue, store, local, c.parts, c.limits, c.wait);
    return { resolver: new LayerResolver(store, queueScanner), store, queueScanner };
  }
  const store = new LocalStore(c.parts, c.cache);
  return { resolver: new LayerResolver(store, new LocalScanner(store, c.pool, c.limits, c.blobs, c.concurrency)), store, queueScanner: null };
}

interface AuditContext {
  options: AuditOptions;
  pool: DetectionPool;
  resolver: LayerResolver;
  rules: Parameters<typeof assembleReport>[0]['rules'];
  allowlist: Parameters<typeof assembleReport>[0]['allowlist'];
  publicKeys: Parameters<typeof assembleReport>[0]['publicKeys'];
  engine: DetectionEngine;
  scrub: (text: string) => string;
  /** Why the audit's queue was given up on (--queue-timeout), or null. */
  gaveUp: () => Error | null;
}

/** One reference's images (one, or one per platform with allPlatforms), each scanned or in error. */
async function auditOne(ref: string, ctx: AuditContext): Promise<AuditImage[]> {
  let container: ImageContainer | null = null;
  try {
    const scanOptions: ScanOptions = { pull: ctx.options.pull, registryAuth: ctx.options.registryAuth, insecureRegistries: ctx.options.insecureRegistries, archives: ctx.options.archives };
    container = await openSource(ref, scanOptions, ctx.pool);
    const c = container;
    const platforms = ctx.options.allPlatforms ? await platformsOf(c) : [ctx.options.platform];
    const out: AuditImage[] = [];
    for (const platform of platforms) {
      const started = performance.now();
      let image: ResolvedImage | null = null;
      try {
        image = await resolveImage(c, { platform, containerFormat: c.kind });
        const resolved = image;
        const scans = await Promise.all(resolved.layers.map((layer) => ctx.resolver.outcome({ layer, source: sourceOf(ref, c, layer) })));
        const items = configItems(resolved);
        const report = assembleReport({
          target: ref, image: resolved, scans, configMatches: configMatchesWith(ctx.engine, items), items,
          rules: ctx.rules, showSecrets: false, allowlist: ctx.allowlist, publicKeys: ctx.publicKeys, started,
        });
        out.push({ reference: ref, digest: report.image.digest, format: report.image.format, platform: report.image.platform, status: 'scanned', error: null, findings: report.findings, layers: report.image.layers });
      } catch (err) {
        if (ctx.options.signal?.aborted) throw err;
        // The queue given up on fails every image alike: the audit ends with that one error.
        const gaveUp = ctx.gaveUp();
        if (gaveUp) throw gaveUp;
        out.push(errorImage(ref, image?.digest ?? null, image?.platform ?? platform ?? null, ctx.scrub(describeError(err))));
      }
    }
    return out;
  } catch (err) {
    if (ctx.options.signal?.aborted) throw err;
    const gaveUp = ctx.gaveUp();
    if (gaveUp) throw gaveUp;
    return [errorImage(ref, null, ctx.options.platform ?? null, ctx.scrub(describeError(err)))];
  } finally {
    await container?.close().catch(() => {});
  }
}

function errorImage(reference: string, digest: string | null, platform: string | null, error: string): AuditImage {
  return { reference, digest, format: null, platform, status: 'error', error, findings: [], layers: [] };
}

function sourceOf(ref: string, container: ImageContainer, layer: LayerNeed['layer']): LayerSource {
  if (container.kind === 'registry' && layer.digest) {
    const target = parseTarget(ref, () => false);
    if (target.kind === 'registry' || target.kind === 'reference') {
      return { kind: 'registry', registry: target.ref.registry, repository: target.ref.repository, digest: layer.digest, size: layer.size };
    }
  }
  return { kind: 'container', container };
}

/** The platforms a multi-platform image offers (attestations left out); [undefined] for a single image. */
async function platformsOf(container: ImageContainer): Promise<(string | undefined)[]> {
  if (container.has('manifest.json') || !container.has('index.json')) return [undefined];
  const found = new Set<string>();
  const visit = async (descriptors: unknown, depth: number): Promise<void> => {
    if (!Array.isArray(descriptors) || depth > 4) return;
    for (const d of descriptors as { mediaType?: unknown; digest?: unknown; platform?: { os?: unknown; architecture?: unknown; variant?: unknown } }[]) {
      if (typeof d?.digest !== 'string') continue;
      if (typeof d.mediaType === 'string' && /index|manifest\.list/.test(d.mediaType)) {
        const nested = JSON.parse((await container.read(blobPath(d.digest))).toString('utf8')) as { manifests?: unknown };
        await visit(nested.manifests, depth + 1);
        continue;
      }
      const p = d.platform;
      if (p && typeof p.os === 'string' && p.os !== 'unknown' && typeof p.architecture === 'string') {
        found.add([p.os, p.architecture, typeof p.variant === 'string' && p.variant !== '' ? p.variant : null].filter(Boolean).join('/'));
      }
    }
  };
  const index = JSON.parse((await container.read('index.json')).toString('utf8')) as { manifests?: unknown };
  await visit(index.manifests, 0);
  return found.size === 0 ? [undefined] : [...found];
}
