import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-write.js';
import { PathTable } from '../layer/path-table.js';
import type { EntryKind, LayerChanges, PathKinds } from '../layer/walk.js';

/**
 * Bumped whenever the entry layout or anything that changes per-layer results without changing
 * the detector catalogue changes (window sizes, binary sniffing, the walk itself).
 */
export const CACHE_FORMAT = 3;

/** One match restored from the cache: identity by hash, never the raw value. */
export interface CachedMatch {
  ruleId: string;
  secretHash: string;
  redacted: string;
  /** Length of the secret in characters: lets the build-arg scrubber find it by hash. */
  length: number;
  /** keyFingerprint(secret): matched against detectors/public-keys.json on every scan. */
  fingerprint?: string;
  path: string;
  line: number;
  column: number;
  /** Written again later in the same layer without this secret (see FileMatch). */
  replacedInLayer?: true;
  /** The service a catch-all match's setting names (see RawMatch). */
  provider?: string;
}

/** A blob as stored: its digest, size and the sha256 of its first HEAD_BYTES (null when unknown). */
export interface BlobRecord {
  digest: string;
  size: number;
  head: string | null;
}

/** How much of a blob the cheap identity check (size + head hash) reads. */
export const HEAD_BYTES = 1024 * 1024;

/** What the cache holds for one layer: enough to attribute and report without reading the blob. */
export interface CachedLayer {
  format: number;
  diffId: string;
  rulesHash: string;
  tool: string;
  /**
   * Blobs (as stored: compressed or not) that a full scan saw decompress to `diffId`. A cache hit
   * needs the blob at hand to be one of these: see cachedLayer in layer-outcome.ts.
   */
  blobs: BlobRecord[];
  files: number;
  bytes: number;
  skipped: Record<string, number>;
  changes: { entries: PathsByKind; whiteouts: string[]; opaqueDirs: string[] };
  matches: CachedMatch[];
}

export interface LayerCacheKeyParts {
  /** RuleSet.hash: every detector file's name and content. */
  rulesHash: string;
  /** stratascan's version: the walk and the engine can change between releases. */
  toolVersion: string;
  /** The scan options that change a layer's results (archive limits), serialised. */
  settings?: string;
}

/** `$XDG_CACHE_HOME/stratascan` when that is an absolute path, else `~/.cache/stratascan`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(base, 'stratascan');
}

/**
 * Per-layer scan results on disk, keyed by the layer's diff_id plus everything else that decides
 * what a scan of that layer finds (detector catalogue hash, cache format, tool version). Entries
 * are JSON files written atomically (temp file + rename), so concurrent scans never see half an
 * entry; a missing, corrupt or foreign entry is a miss. The cache is best-effort: failing to read
 * or write it never fails a scan.
 */
export class LayerCache {
  readonly dir: string;
  private readonly parts: LayerCacheKeyParts;
  private readonly writing = new Set<Promise<void>>();

  constructor(dir: string, parts: LayerCacheKeyParts) {
    this.dir = dir;
    this.parts = parts;
  }

  key(diffId: string): string {
    return layerKey(this.parts, diffId);
  }

  pathOf(diffId: string): string {
    const key = this.key(diffId);
    return join(this.dir, 'layers', `v${CACHE_FORMAT}`, key.slice(0, 2), `${key}.json`);
  }

  async get(diffId: string): Promise<CachedLayer | null> {
    let raw: string;
    try {
      raw = await readFile(this.pathOf(diffId), 'utf8');
    } catch {
      return null;
    }
    return parseEntry(raw, this.parts, diffId);
  }

  /** Stores one layer's results; `blob` joins the blobs already recorded for this diff_id. */
  put(diffId: string, blob: BlobRecord, result: LayerResult): Promise<void> {
    const writing: Promise<void> = this.write(diffId, blob, result).finally(() => this.writing.delete(writing));
    this.writing.add(writing);
    return writing;
  }

  /**
   * Resolves when no entry is being written. A cancelled scan waits for this before it returns, so
   * the process never exits between writing a temp file and renaming (or removing) it.
   */
  async settled(): Promise<void> {
    while (this.writing.size > 0) await Promise.allSettled(this.writing);
  }

  private async write(diffId: string, blob: BlobRecord, result: LayerResult): Promise<void> {
    const previous = await this.get(diffId);
    const same = (b: BlobRecord) => b.digest === blob.digest && b.size === blob.size && b.head === blob.head;
    if (previous?.blobs.some(same)) return;
    // A record without a head hash (streamed blob) is superseded by one with it.
    const blobs = [...(previous?.blobs ?? []).filter((b) => !(b.digest === blob.digest && b.head === null)), blob].slice(-8);
    const entry = layerEntry(this.parts, diffId, blobs, result);
    await writeEntry(this.pathOf(diffId), entry);
  }

  /** Where the matches of an image config with these item texts are kept. */
  configPathOf(texts: readonly string[]): string {
    const key = createHash('sha256')
      .update(JSON.stringify({ what: 'stratascan-config', format: CACHE_FORMAT, tool: this.parts.toolVersion, rules: this.parts.rulesHash, texts }))
      .digest('hex');
    return join(this.dir, 'configs', `v${CACHE_FORMAT}`, key.slice(0, 2), `${key}.json`);
  }

  /**
   * The matches of each image config item, as a scan of the same texts with the same catalogue
   * found them (by hash, never raw), or null. A rescan served from the cache then builds no
   * engine for a few KiB of config, a tenth of its time.
   */
  async getConfig(texts: readonly string[]): Promise<ConfigMatch[][] | null> {
    try {
      const entry = JSON.parse(await readFile(this.configPathOf(texts), 'utf8')) as { format?: unknown; matches?: unknown };
      const matches = entry.matches;
      if (entry.format !== CACHE_FORMAT || !Array.isArray(matches) || matches.length !== texts.length) return null;
      const valid = (m: unknown): m is ConfigMatch => {
        const c = m as ConfigMatch;
        return typeof c?.ruleId === 'string' && typeof c.secretHash === 'string' && typeof c.redacted === 'string' && typeof c.length === 'number';
      };
      return matches.every((list) => Array.isArray(list) && list.every(valid)) ? matches : null;
    } catch {
      return null;
    }
  }

  /** Stores what getConfig gives back; raw values are dropped here. */
  putConfig(texts: readonly string[], matches: readonly (readonly ConfigMatch[])[]): Promise<void> {
    const entry = {
      format: CACHE_FORMAT,
      matches: matches.map((list) =>
        list.map((m) => ({ ruleId: m.ruleId, secretHash: m.secretHash, redacted: m.redacted, length: m.length, ...(typeof m.provider === 'string' ? { provider: m.provider } : {}) })),
      ),
    };
    const writing: Promise<void> = writeEntry(this.configPathOf(texts), entry).finally(() => this.writing.delete(writing));
    this.writing.add(writing);
    return writing;
  }
}

/** One match in an image config item, as the cache keeps it: by hash, never raw. */
export interface ConfigMatch {
  ruleId: string;
  secretHash: string;
  redacted: string;
  /** In characters: lets the build-arg scrubber find it by hash. */
  length: number;
  /** The service a catch-all match's setting names (see RawMatch). */
  provider?: string;
}

/** A stored entry read back, or null when it is damaged or was made for other keys. */
export function parseEntry(raw: string, parts: LayerCacheKeyParts, diffId: string): CachedLayer | null {
  try {
    const entry = JSON.parse(raw) as CachedLayer;
    if (
      entry.format !== CACHE_FORMAT ||
      entry.diffId !== diffId ||
      entry.rulesHash !== parts.rulesHash ||
      entry.tool !== parts.toolVersion ||
      !Array.isArray(entry.blobs) ||
      !Array.isArray(entry.matches) ||
      !entry.changes ||
      !isPathsByKind(entry.changes.entries)
    ) {
      return null;
    }
    return entry;
  } catch {
    return null;
  }
}

/** The stored form of one layer's results: hashes and redacted values, never a raw secret. */
export function layerEntry(parts: LayerCacheKeyParts, diffId: string, blobs: BlobRecord[], result: LayerResult): CachedLayer {
  return {
    format: CACHE_FORMAT,
    diffId,
    rulesHash: parts.rulesHash,
    tool: parts.toolVersion,
    blobs,
    files: result.files,
    bytes: result.bytes,
    skipped: result.skipped,
    changes: {
      entries: result.changes.entries instanceof CachedPaths ? result.changes.entries.byKind : pathsByKind(result.changes.entries),
      whiteouts: [...result.changes.whiteouts],
      opaqueDirs: [...result.changes.opaqueDirs],
    },
    // Explicit fields: a raw value must never be stored, whatever the caller passed.
    matches: result.matches.map((m) => ({
      ruleId: m.ruleId,
      secretHash: m.secretHash,
      redacted: m.redacted,
      length: m.length,
      ...(m.fingerprint ? { fingerprint: m.fingerprint } : {}),
      path: m.path,
      line: m.line,
      column: m.column,
      ...(m.replacedInLayer ? { replacedInLayer: true as const } : {}),
      ...(typeof m.provider === 'string' ? { provider: m.provider } : {}),
    })),
  };
}

/**
 * The key of one layer's results: its diff_id with everything else that decides what a scan of
 * it finds (catalogue hash, entry format, tool version, result-changing options), hex.
 */
export function layerKey(parts: LayerCacheKeyParts, diffId: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ what: 'stratascan-layer', format: CACHE_FORMAT, tool: parts.toolVersion, rules: parts.rulesHash, settings: parts.settings ?? '', diffId }))
    .digest('hex');
}

/** JSON written atomically (mode 0600), so no reader sees half of it; the cache is best-effort, so failures are ignored. */
async function writeEntry(path: string, value: unknown): Promise<void> {
  // Plain JSON: a gzip'd entry took longer to read back than it saved on disk.
  await writeFileAtomic(path, JSON.stringify(value), { mode: 0o600, mkdirMode: 0o700 }).catch(() => {});
}

/** What a scan of one layer gives the cache (raw values, if any, are dropped by `put`). */
export interface LayerResult {
  files: number;
  bytes: number;
  skipped: Record<string, number>;
  changes: ScannedChanges;
  matches: CachedMatch[];
}

/**
 * A layer's paths by what it writes there: one newline-joined string per kind (a list where some
 * path holds a newline). Tens of thousands of [path, kind] pairs made the JSON of a big layer slow
 * to parse, most of a rescan served from the cache.
 */
export type PathsByKind = Partial<Record<EntryKind, string | string[]>>;

const ENTRY_KINDS: readonly EntryKind[] = ['file', 'dir', 'symlink', 'hardlink', 'other'];

/**
 * A scanned layer's changes as attribution and the cache take them: every path as the walk
 * listed it (a PathTable, also what a layer worker sends back), or as the cache stored them.
 */
export interface ScannedChanges extends LayerChanges {
  entries: ReadonlyMap<string, EntryKind> | PathTable | CachedPaths;
  whiteouts: ReadonlySet<string>;
  opaqueDirs: ReadonlySet<string>;
}

export function pathsByKind(entries: Iterable<readonly [string, EntryKind]>): PathsByKind {
  const lists = new Map<EntryKind, string[]>();
  for (const [path, kind] of entries) {
    let list = lists.get(kind);
    if (!list) lists.set(kind, (list = []));
    list.push(path);
  }
  const out: PathsByKind = {};
  for (const [kind, list] of lists) out[kind] = list.some((p) => p.includes('\n')) ? list : list.join('\n');
  return out;
}

function isPathsByKind(value: unknown): value is PathsByKind {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value).every(
    ([kind, paths]) => (ENTRY_KINDS as readonly string[]).includes(kind) && (typeof paths === 'string' || (Array.isArray(paths) && paths.every((p) => typeof p === 'string'))),
  );
}

/** LayerChanges back from their JSON form. */
export function changesOf(entry: CachedLayer): LayerChanges {
  return { entries: new CachedPaths(entry.changes.entries), whiteouts: new Set(entry.changes.whiteouts), opaqueDirs: new Set(entry.changes.opaqueDirs) };
}

/**
 * A layer's paths grouped by kind as the cache stored them, listed on first lookup: only a
 * finding in a layer below asks. Listing every path of every layer (tens of thousands) took a
 * tenth of a rescan served from the cache, most of it in the collector; listed into a PathTable
 * rather than a Map, they take their bytes and ~20 more each, outside the heap.
 */
export class CachedPaths implements PathKinds {
  private listed: PathTable | null = null;

  constructor(readonly byKind: PathsByKind) {}

  get(path: string): EntryKind | undefined {
    if (this.listed === null) {
      const listed = new PathTable();
      for (const kind of ENTRY_KINDS) {
        const paths = this.byKind[kind];
        if (paths === undefined) continue;
        for (const p of typeof paths === 'string' ? paths.split('\n') : paths) listed.set(p, kind);
      }
      this.listed = listed;
    }
    return this.listed.get(path);
  }
}
