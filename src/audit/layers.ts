import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import pLimit, { type LimitFunction } from 'p-limit';
import { layerEntry, type BlobRecord, type CachedLayer, type LayerCache, type LayerCacheKeyParts, type LayerResult } from '../cache/layer-cache.js';
import type { DetectionPool } from '../detect/pool.js';
import type { ArchiveLimits } from '../layer/nested.js';
import { headHash, outcomeOf, scanBlob, type LayerOutcome } from '../layer-outcome.js';
import type { ImageContainer } from '../source/container.js';
import { RegistryClient, type RegistrySourceOptions } from '../source/registry.js';
import type { ResolvedLayer } from '../source/resolve.js';
import { parseReference } from '../source/target.js';

/**
 * Where a layer's blob can be read: a registry blob (by repository and digest, readable by any
 * machine with access to the registry) or a member of an image this process has open.
 */
export type LayerSource =
  | { kind: 'registry'; registry: string; repository: string; digest: string; size: number }
  | { kind: 'container'; container: ImageContainer };

export interface LayerNeed {
  layer: ResolvedLayer;
  source: LayerSource;
}

/** Stored layer results, by diff_id (and the key parts the store was made with). */
export interface ResultStore {
  get(diffId: string): Promise<CachedLayer | null>;
  /** Stores a layer's results; `blob` joins the blobs already recorded for the diff_id. */
  put(diffId: string, blob: BlobRecord, result: LayerResult): Promise<CachedLayer>;
  settled(): Promise<void>;
}

/** Scans a layer nobody has stored results for, and stores them. */
export interface LayerScanner {
  scan(need: LayerNeed): Promise<CachedLayer>;
}

/** Results of this process in memory, over the on-disk layer cache when there is one. */
export class LocalStore implements ResultStore {
  private readonly memory = new Map<string, CachedLayer>();

  constructor(
    private readonly parts: LayerCacheKeyParts,
    private readonly cache: LayerCache | null,
  ) {}

  async get(diffId: string): Promise<CachedLayer | null> {
    return this.memory.get(diffId) ?? (await this.cache?.get(diffId)) ?? null;
  }

  async put(diffId: string, blob: BlobRecord, result: LayerResult): Promise<CachedLayer> {
    const entry = layerEntry(this.parts, diffId, mergeBlobs(this.memory.get(diffId)?.blobs ?? [], blob), result);
    this.memory.set(diffId, entry);
    await this.cache?.put(diffId, blob, result);
    return entry;
  }

  async settled(): Promise<void> {
    await this.cache?.settled();
  }
}

export function mergeBlobs(blobs: readonly BlobRecord[], blob: BlobRecord): BlobRecord[] {
  if (blobs.some((b) => b.digest === blob.digest && b.size === blob.size && b.head === blob.head)) return [...blobs];
  return [...blobs.filter((b) => !(b.digest === blob.digest && b.head === null)), blob].slice(-8);
}

/**
 * Blobs of registry repositories as an ImageContainer, one client per repository: what a layer
 * scan reads from, here or on a queue worker. Credentials come from the client's own
 * environment (docker config, STRATASCAN_REGISTRY_*), never from whoever asked for the scan.
 */
export class RegistryBlobs {
  private readonly clients = new Map<string, RegistryClient>();

  constructor(private readonly options: RegistrySourceOptions) {}

  containerFor(source: Extract<LayerSource, { kind: 'registry' }>): ImageContainer {
    const id = `${source.registry}/${source.repository}`;
    let client = this.clients.get(id);
    if (!client) this.clients.set(id, (client = new RegistryClient(parseReference(`${id}:latest`), this.options)));
    const c = client;
    const name = `blobs/sha256/${source.digest.replace(/^sha256:/, '')}`;
    const refuse = (): never => {
      throw new Error(`only ${name} can be read here`);
    };
    return {
      kind: 'registry',
      label: id,
      has: (n) => n === name,
      size: () => source.size,
      read: async () => refuse(),
      open: (n): Readable => (n === name ? c.blobStream(source.digest, source.size) : refuse()),
      close: async () => {},
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}

/** Scans layers in this process, a bounded number at a time, on one detection pool. */
export class LocalScanner implements LayerScanner {
  private readonly limit: LimitFunction;

  constructor(
    private readonly store: ResultStore,
    private readonly pool: DetectionPool,
    private readonly limits: ArchiveLimits,
    private readonly blobs: RegistryBlobs,
    concurrency: number,
  ) {
    this.limit = pLimit(Math.max(1, concurrency));
  }

  scan(need: LayerNeed): Promise<CachedLayer> {
    return this.limit(async () => {
      const container = need.source.kind === 'registry' ? this.blobs.containerFor(need.source) : need.source.container;
      this.pool.start();
      const outcome = await scanBlob(container, need.layer, this.pool, this.limits);
      const head = await headOf(container, need.layer.blob);
      return this.store.put(need.layer.diffId, { digest: outcome.blobDigest, size: outcome.storedBytes, head }, outcome);
    });
  }
}

/**
 * Each layer an audit needs, scanned at most once: by diff_id and the blob that carries it, its
 * stored results are taken when the store has them for that blob, else it is scanned (once,
 * however many images wait for it). Counts what was scanned and what came from the store.
 */
export class LayerResolver {
  private readonly memo = new Map<string, Promise<CachedLayer>>();
  private readonly diffIds = new Map<string, number>();
  scanned = 0;
  fromCache = 0;

  constructor(
    private readonly store: ResultStore,
    private readonly scanner: LayerScanner,
  ) {}

  get unique(): number {
    return this.diffIds.size;
  }

  /** Uncompressed bytes of the unique layers resolved so far. */
  get bytes(): number {
    let n = 0;
    for (const b of this.diffIds.values()) n += b;
    return n;
  }

  async outcome(need: LayerNeed): Promise<LayerOutcome> {
    const id = `${need.layer.diffId}\0${blobIdentity(need)}`;
    let entry = this.memo.get(id);
    if (!entry) {
      entry = this.resolve(need);
      this.memo.set(id, entry);
    }
    const found = await entry;
    this.diffIds.set(need.layer.diffId, found.bytes);
    const size = need.source.kind === 'registry' ? need.source.size : found.blobs.at(-1)?.size ?? need.layer.size;
    return outcomeOf(found, need.layer.digest ? (found.blobs.find((b) => b.digest === need.layer.digest)?.size ?? size) : size);
  }

  private async resolve(need: LayerNeed): Promise<CachedLayer> {
    const stored = await this.store.get(need.layer.diffId);
    if (stored && (await accepts(stored, need))) {
      this.fromCache++;
      return stored;
    }
    const entry = await this.scanner.scan(need);
    this.scanned++;
    return entry;
  }
}

function blobIdentity(need: LayerNeed): string {
  if (need.source.kind === 'registry') return need.source.digest;
  return need.layer.digest ?? `${need.source.container.label}#${need.layer.blob}`;
}

/**
 * Whether stored results (made from the blobs in `entry.blobs`) hold for the blob at hand; the
 * same trust decision as the layer cache (README "Performance"). A registry blob is named by its
 * sha256, which whoever scanned it checked while reading it: the same digest is the same bytes,
 * so it is taken without downloading it again. An archive or layout blob needs the same size and
 * first MiB; a streamed image (daemon, standard input) was walked on the way in anyway.
 */
async function accepts(entry: CachedLayer, need: LayerNeed): Promise<boolean> {
  const { source, layer } = need;
  if (source.kind === 'registry') return entry.blobs.some((b) => b.digest === source.digest);
  const c = source.container;
  if (c.kind !== 'tar' && c.kind !== 'directory') return false;
  const size = c.size(layer.blob);
  const candidates = entry.blobs.filter((b) => (layer.digest === null || b.digest === layer.digest) && b.size === size && b.head !== null);
  if (candidates.length === 0) return false;
  const head = await headOf(c, layer.blob);
  return candidates.some((b) => b.head === head);
}

/** The blob's head hash as the layer cache keeps it; null when it cannot be read again (or fails to). */
function headOf(container: ImageContainer, blob: string): Promise<string | null> {
  return headHash(container, blob).catch(() => null);
}

/** The id of a queue job for one layer blob: from the layer key (diff_id, catalogue, options) and the blob's digest. */
export function layerJobId(key: string, digest: string): string {
  return `layer-${createHash('sha256').update(`${key}\0${digest}`).digest('hex').slice(0, 40)}`;
}
