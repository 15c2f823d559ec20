import { availableParallelism } from 'node:os';
import pLimit, { type LimitFunction } from 'p-limit';
import { assembleReport, configSeenOf, scanConfigHere, type ConfigSeen } from './assemble.js';
import { defaultCacheDir, LayerCache, type LayerCacheKeyParts } from './cache/layer-cache.js';
import { ruleMemo } from './cache/rule-memo.js';
import { Cancellation, ScanAbortedError } from './cancellation.js';
import { configItems, type ConfigItem } from './config-items.js';
import { loadAllowlist } from './detect/allowlist.js';
import { DetectionPool } from './detect/pool.js';
import { loadPublicKeys } from './detect/public-keys.js';
import { defaultDetectorsDir, loadRuleSet, type RuleSet, type RuleSpec } from './detect/rules.js';
import { layerStartOrder, LayerWorkers } from './layer/layer-workers.js';
import { archiveLimits, type ArchiveLimits } from './layer/nested.js';
import { cachedLayer, scanOneLayer, type LayerCacheUse, type LayerOutcome } from './layer-outcome.js';
import type { ImageContainer } from './source/container.js';
import { openSource } from './source/open.js';
import { resolveImage, type ResolvedImage } from './source/resolve.js';
import { StreamedImage } from './source/stream.js';
import type { ScanOptions, ScanProgress, ScanReport } from './types.js';
import { TOOL_VERSION } from './version.js';

// The stages' modules keep their old import path: audit and tests reach them through this one.
export { assembleReport, configMatchesWith, type ConfigSeen, type ReportParts } from './assemble.js';
export { ScanAbortedError } from './cancellation.js';
export { outcomeOf, scanBlob, type LayerMatch, type LayerOutcome } from './layer-outcome.js';
export { TOOL_VERSION } from './version.js';
export type { RuleSpec };

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
 * Scans one image: `target` is a docker save tarball, an OCI archive, an OCI layout directory,
 * or "-" for a tarball on standard input. Rejects with a ScanError when the image cannot be read
 * as a whole; never returns a partial report.
 */
export async function scanImage(target: string, options: ScanOptions = {}): Promise<ScanReport> {
  const started = performance.now();
  if (options.signal?.aborted) throw new ScanAbortedError(`scan of ${target} cancelled`, { cause: options.signal.reason });
  // Bad endpoints fail the scan before it starts, not after minutes of work. The checks' ~25
  // modules load only for --verify: importing them was a tenth of a rescan served from the cache.
  const verify = options.verify ? await import('./verify/run.js') : null;
  const verifyEndpoints = verify ? { module: verify, endpoints: verify.parseVerifyEndpoints(options.verifyEndpoints) } : null;
  const scan = scanContext(target, options, started);
  const held: HeldResources = { container: null, walkers: null };
  try {
    const opened = await openImage(scan, held);
    const probed = await probeLayerCache(scan, opened);
    const config = startConfigScan(scan, opened, probed);
    const layers = await scanLayers(scan, opened, probed);
    const configMatches = await config.matches();
    // Workers take ~10 ms to terminate: that now runs beside the attribution below.
    Promise.all([scan.pool.close(), held.walkers?.close()]).catch(() => {});
    const report = reportOf(scan, opened, layers, configMatches);
    if (verifyEndpoints) await verifyReport(scan, report, { layers, configMatches, ...verifyEndpoints });
    return report;
  } catch (err) {
    // After a cancel, whatever failed downstream (a destroyed stream, a rejected batch) is the cancel.
    throw scan.cancel.error ?? err;
  } finally {
    await release(scan, held);
  }
}

type VerifyModule = typeof import('./verify/run.js');

/** What every stage of one scan shares. */
interface ScanContext {
  target: string;
  options: ScanOptions;
  /** performance.now() when the scan began. */
  started: number;
  ruleSet: RuleSet;
  jobs: number;
  limits: ArchiveLimits;
  pool: DetectionPool;
  cache: LayerCacheUse | null;
  progress: ProgressCounter;
  cancel: Cancellation;
}

/** What the scan must close whatever happens, filled in as the stages open it. */
interface HeldResources {
  container: ImageContainer | null;
  walkers: LayerWorkers | null;
}

/** Stage 1's output: the image opened and resolved to one platform's layers and config. */
interface OpenedImage {
  /** The container, its blob streams tied to the scan's cancellation. */
  source: ImageContainer;
  image: ResolvedImage;
  /** Layer workers that walk whole layer files (detection inline); null: walks on this thread. */
  walkers: LayerWorkers | null;
  /** Layers probed and scanned at once. */
  limit: LimitFunction;
  items: ConfigItem[];
}

/** Stage 3's output, started before the layers are scanned and read after. */
interface ConfigScan {
  matches(): Promise<ConfigSeen[][]>;
}

function scanContext(target: string, options: ScanOptions, started: number): ScanContext {
  const cacheDir = options.cache === false ? null : (options.cacheDir ?? defaultCacheDir());
  const ruleSet = loadRuleSet(options.detectorsDir, cacheDir === null ? undefined : ruleMemo(cacheDir, TOOL_VERSION));
  const jobs = options.jobs ?? defaultJobs();
  // The rule set itself: its rules are read whole only once something is detected.
  const pool = new DetectionPool(ruleSet, jobs);
  // Cached results hold no raw value, so --show-secrets and --verify read no layer from the cache (they still write).
  const cache = cacheDir === null
    ? null
    : { store: new LayerCache(cacheDir, layerCacheKeyParts(ruleSet.hash, options)), read: options.showSecrets !== true && options.verify !== true };
  return {
    target, options, started, ruleSet, jobs, pool, cache,
    limits: archiveLimits(options),
    progress: new ProgressCounter(options.onProgress),
    cancel: new Cancellation(target, options, pool),
  };
}

/** Stage 1: the source opened (file, directory, stdin, daemon, registry) and resolved to one image. */
async function openImage(scan: ScanContext, held: HeldResources): Promise<OpenedImage> {
  const { target, options, cancel } = scan;
  const opening = openSource(target, options, scan.pool);
  // A source that finishes opening after the scan was cancelled has nobody left to close it.
  opening.then((c) => (cancel.error ? c.close() : undefined)).catch(() => {});
  const container = (held.container = await cancel.race(opening));
  const image = await cancel.race(resolveImage(container, { platform: options.platform, image: options.image, containerFormat: container.kind }));
  scan.progress.start(image.layers.length);
  // Layers in files are walked whole on layer workers (detection inline), as many at once as
  // there are cores; others (streams, daemons, registries) on this thread, detection on the pool.
  // Each layer worker holds its own heap and buffers: at most 8.
  const layerThreads = Math.max(2, Math.min(scan.jobs + 1, 8));
  const walkers = scan.jobs > 0 && container.locate && !(container instanceof StreamedImage)
    ? new LayerWorkers(scan.ruleSet, undefined, scan.limits, layerThreads)
    : null;
  held.walkers = walkers;
  if (walkers) cancel.whenAborted((err) => void walkers.close(err).catch(() => {}));
  const limit = pLimit(walkers ? layerThreads : Math.max(2, Math.min(scan.jobs, 4)));
  return { source: cancel.tracking(container), image, walkers, limit, items: configItems(image) };
}

/** Stage 2a: each layer's outcome from the layer cache, or null where it must be scanned. */
async function probeLayerCache(scan: ScanContext, opened: OpenedImage): Promise<(LayerOutcome | null)[]> {
  const { source, image, limit } = opened;
  // A registry probe downloads the whole blob: those stay under the scan limit.
  const local = source.kind === 'tar' || source.kind === 'directory';
  return scan.cancel.race(Promise.all(
    image.layers.map((layer) => (local ? cachedLayer(source, layer, scan.cache) : limit(() => cachedLayer(source, layer, scan.cache)))),
  ));
}

/**
 * Stage 3: the image config's matches. On the detection pool, started now so it runs beside the
 * layers, when the pool will be started anyway; else from the cache, or on this thread afterwards.
 */
function startConfigScan(scan: ScanContext, opened: OpenedImage, probed: readonly (LayerOutcome | null)[]): ConfigScan {
  const { pool, cache, cancel } = scan;
  const texts = opened.items.map((item) => item.text);
  if (probed.some((hit) => hit === null) && !opened.walkers) {
    // After this tick, once the layers' first reads are issued: starting a worker (cloning the
    // rules to it) is main-thread work that can run while those reads are on their way.
    setImmediate(() => pool.start());
    const onPool = pool.detectAll(texts.map((text) => Buffer.from(text, 'utf8')));
    onPool.catch(() => {});
    return {
      matches: async () => {
        pool.flush();
        const found = (await cancel.race(onPool)).map((list) => list.map(configSeenOf));
        void cache?.store.putConfig(texts, found);
        return found;
      },
    };
  }
  // Served from the cache, the config's matches are looked up too (by its texts), read meanwhile.
  const stored = cache?.read ? cache.store.getConfig(texts) : null;
  return {
    matches: async () => {
      const hit = stored ? await stored : null;
      if (hit) return hit;
      const found = scanConfigHere(opened.items, scan.ruleSet);
      void cache?.store.putConfig(texts, found);
      return found;
    },
  };
}

/** Stage 2b: every layer's outcome, from the cache where the probe found it, else scanned (and cached). */
async function scanLayers(scan: ScanContext, opened: OpenedImage, probed: readonly (LayerOutcome | null)[]): Promise<LayerOutcome[]> {
  const { progress } = scan;
  const { layers } = opened.image;
  const outcomes: LayerOutcome[] = new Array<LayerOutcome>(layers.length);
  // Layer workers take whole layers: started biggest first, see layerStartOrder.
  const order = opened.walkers
    ? layerStartOrder(layers.map((layer, i) => (probed[i] ? null : storedSize(opened.source, layer.blob))))
    : layers.map((_, i) => i);
  await scan.cancel.race(Promise.all(
    order.map((i) => {
      const layer = layers[i]!;
      return opened.limit(async () => {
        const outcome = probed[i] ?? await scanOneLayer(opened.source, layer, opened.walkers ?? scan.pool, scan.limits, scan.cache, (files, bytes) => {
          // A big layer takes a while: the display should move within it, not only between layers.
          progress.layerFiles(layer.index, files, bytes);
        });
        progress.layerDone(outcome);
        outcomes[i] = outcome;
      });
    }),
  ));
  return outcomes;
}

/** A blob's size as stored, for ordering only: 0 when the container cannot say (its scan will). */
function storedSize(source: ImageContainer, blob: string): number {
  try {
    return source.size(blob);
  } catch {
    return 0;
  }
}

/** Stage 4: attribution, allowlist, history scrubbing and stats, as one report. */
function reportOf(scan: ScanContext, opened: OpenedImage, layers: LayerOutcome[], configMatches: ConfigSeen[][]): ScanReport {
  const detectorsDir = scan.options.detectorsDir ?? defaultDetectorsDir();
  return assembleReport({
    target: scan.target,
    image: opened.image,
    scans: layers,
    configMatches,
    items: opened.items,
    rules: new Map((scan.ruleSet.info ?? scan.ruleSet.rules).map((r) => [r.id, r] as const)),
    showSecrets: scan.options.showSecrets === true,
    allowlist: loadAllowlist(detectorsDir),
    publicKeys: loadPublicKeys(detectorsDir),
    started: scan.started,
    onFindings: (n) => scan.progress.findings(n),
  });
}

/** Stage 5 (--verify): each finding's provider asked whether it still works, its answer in the report. */
async function verifyReport(
  scan: ScanContext,
  report: ScanReport,
  found: { layers: LayerOutcome[]; configMatches: ConfigSeen[][]; module: VerifyModule; endpoints: ReturnType<VerifyModule['parseVerifyEndpoints']> },
): Promise<void> {
  // Raw values stay in this closure: the checks get them by hash, the report never does.
  const raw = new Map<string, string>();
  for (const m of [...found.layers.flatMap((layer) => layer.matches), ...found.configMatches.flat()]) if (m.secret !== undefined) raw.set(m.secretHash, m.secret);
  const { options } = scan;
  await scan.cancel.race(found.module.verifyFindings(report.findings, raw, { endpoints: found.endpoints, timeoutMs: options.verifyTimeoutMs, signal: options.signal }));
  report.stats.durationMs = Math.round(performance.now() - scan.started);
}

async function release(scan: ScanContext, held: HeldResources): Promise<void> {
  scan.cancel.dispose();
  await scan.pool.close();
  await held.walkers?.close().catch(() => {});
  // Never return (and let the CLI exit) between a cache entry's temp file and its rename.
  await scan.cache?.store.settled();
  await held.container?.close();
}

/** The running totals `options.onProgress` is told of, each layer's files and bytes counted once. */
class ProgressCounter {
  private readonly state: ScanProgress = { layersDone: 0, layersTotal: 0, files: 0, bytes: 0, findings: 0 };
  private readonly perLayer = new Map<number, { files: number; bytes: number }>();

  constructor(private readonly onProgress: ((progress: ScanProgress) => void) | undefined) {}

  start(layersTotal: number): void {
    this.state.layersTotal = layersTotal;
    this.report();
  }

  /** A layer's walk so far (running totals for that layer). */
  layerFiles(index: number, files: number, bytes: number): void {
    const before = this.perLayer.get(index) ?? { files: 0, bytes: 0 };
    this.state.files += files - before.files;
    this.state.bytes += bytes - before.bytes;
    this.perLayer.set(index, { files, bytes });
    this.report();
  }

  layerDone(outcome: LayerOutcome): void {
    // A layer from the cache reported no walk: its totals count now.
    if (outcome.cached) {
      this.state.files += outcome.files;
      this.state.bytes += outcome.bytes;
    }
    this.state.layersDone++;
    this.report();
  }

  findings(count: number): void {
    this.state.findings = count;
    this.report();
  }

  private report(): void {
    this.onProgress?.({ ...this.state });
  }
}
