import { createHash } from 'node:crypto';
import { endianness, homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-write.js';
import { isPackedPathTable, PathTable, type PackedPathTable } from '../layer/path-table.js';
import type { EntryKind, LayerChanges, PathKinds } from '../layer/walk.js';

/**
 * Bumped whenever the entry layout or anything that changes per-layer results without changing
 * the detector catalogue changes (window sizes, binary sniffing, the walk itself).
 */
export const CACHE_FORMAT = 4;

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
  /**
   * `entries`: the paths as lists by kind (JSON, as the audit's Redis store keeps them) or as a
   * PathTable's packed arrays (the on-disk entry, looked up without being listed).
   */
  changes: { entries: PathsByKind | PackedPathTable; whiteouts: string[]; opaqueDirs: string[] };
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
    return join(this.dir, 'layers', `v${CACHE_FORMAT}`, key.slice(0, 2), `${key}.entry`);
  }

  async get(diffId: string): Promise<CachedLayer | null> {
    let raw: Buffer;
    try {
      raw = await readFile(this.pathOf(diffId));
    } catch {
      return null;
    }
    return decodeEntry(raw, this.parts, diffId);
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
    const entry = layerEntry(this.parts, diffId, blobs, result, 'table');
    await writeEntry(this.pathOf(diffId), encodeEntry(entry));
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

/** An entry in its JSON form (the audit's Redis store) read back, or null when it is damaged or was made for other keys. */
export function parseEntry(raw: string, parts: LayerCacheKeyParts, diffId: string): CachedLayer | null {
  try {
    const entry = JSON.parse(raw) as CachedLayer;
    return isEntryFor(entry, parts, diffId) && entry.changes && isPathsByKind(entry.changes.entries) ? entry : null;
  } catch {
    return null;
  }
}

function isEntryFor(entry: Omit<CachedLayer, 'changes'>, parts: LayerCacheKeyParts, diffId: string): boolean {
  return (
    entry.format === CACHE_FORMAT &&
    entry.diffId === diffId &&
    entry.rulesHash === parts.rulesHash &&
    entry.tool === parts.toolVersion &&
    Array.isArray(entry.blobs) &&
    Array.isArray(entry.matches)
  );
}

/**
 * An on-disk entry: MAGIC, the header's length (u32 LE), the header (JSON: everything but the
 * paths, and where the paths are), zero padding to a multiple of 8, then the layer's PathTable as
 * packed arrays (starts, hashes, block ends, kinds, deflated path bytes). Reading it back is one
 * small JSON parse and views over the file's bytes: the paths are neither decoded nor listed
 * until a lookup asks (a JSON entry of 44k paths took 20-30 ms to parse and list).
 */
const MAGIC = 'SSLC';

interface EntryHeader extends Omit<CachedLayer, 'changes'> {
  changes: { whiteouts: string[]; opaqueDirs: string[] };
  /** The paths' arrays: their sizes, the machine's byte order, and the sha256 of them all. */
  paths: { count: number; blocks: number; packedBytes: number; endian: string; sha256: string };
}

/** An entry whose paths are a packed table (layerEntry(..., 'table')) as the bytes of its file. */
export function encodeEntry(entry: CachedLayer): Buffer {
  const { changes, ...rest } = entry;
  const table = isPackedArrays(changes.entries) ? changes.entries : new CachedPaths(changes.entries).packed();
  const arrays = [table.starts, table.hashes, table.blockEnds, table.kinds, table.packed].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  const body = Buffer.concat(arrays);
  const header: EntryHeader = {
    ...rest,
    changes: { whiteouts: changes.whiteouts, opaqueDirs: changes.opaqueDirs },
    paths: {
      count: table.kinds.length,
      blocks: table.blockEnds.length,
      packedBytes: table.packed.length,
      endian: endianness(),
      sha256: createHash('sha256').update(body).digest('hex'),
    },
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const lead = Buffer.alloc(bodyOffset(json.length));
  lead.write(MAGIC, 0, 'latin1');
  lead.writeUInt32LE(json.length, 4);
  json.copy(lead, 8);
  return Buffer.concat([lead, body]);
}

/** Where the arrays start: after the header, aligned for the Int32Arrays. */
function bodyOffset(headerBytes: number): number {
  return (8 + headerBytes + 7) & ~7;
}

/** An on-disk entry read back, or null when it is damaged, from another machine's byte order, or made for other keys. */
export function decodeEntry(raw: Buffer, parts: LayerCacheKeyParts, diffId: string): CachedLayer | null {
  try {
    if (raw.length < 8 || raw.toString('latin1', 0, 4) !== MAGIC) return null;
    const headerBytes = raw.readUInt32LE(4);
    const at = bodyOffset(headerBytes);
    if (at > raw.length || raw.subarray(8 + headerBytes, at).some((b) => b !== 0)) return null;
    const header = JSON.parse(raw.toString('utf8', 8, 8 + headerBytes)) as EntryHeader;
    if (!isEntryFor(header, parts, diffId) || !header.changes || !Array.isArray(header.changes.whiteouts) || !Array.isArray(header.changes.opaqueDirs)) return null;
    const table = packedTableOf(raw.subarray(at), header.paths);
    if (table === null) return null;
    const { paths, changes, ...rest } = header;
    void paths;
    return { ...rest, changes: { ...changes, entries: table } };
  } catch {
    return null;
  }
}

/** The arrays of an entry's body as views (copied once if the file's bytes are not 4-aligned), or null when they do not check out. */
function packedTableOf(stored: Buffer, paths: EntryHeader['paths'] | undefined): PackedPathTable | null {
  if (typeof paths !== 'object' || paths === null || paths.endian !== endianness()) return null;
  const { count, blocks, packedBytes } = paths;
  if (![count, blocks, packedBytes].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  if (stored.length !== 4 * (count + 1) + 4 * count + 4 * blocks + count + packedBytes) return null;
  if (createHash('sha256').update(stored).digest('hex') !== paths.sha256) return null;
  const body = stored.byteOffset % 4 === 0 ? stored : Uint8Array.prototype.slice.call(stored);
  let at = body.byteOffset;
  const take = <T>(make: (buffer: ArrayBuffer, offset: number, length: number) => T, length: number, width: number): T => {
    const view = make(body.buffer as ArrayBuffer, at, length);
    at += length * width;
    return view;
  };
  const int32 = (b: ArrayBuffer, o: number, n: number) => new Int32Array(b, o, n);
  const bytes = (b: ArrayBuffer, o: number, n: number) => new Uint8Array(b, o, n);
  const table: PackedPathTable = {
    starts: take(int32, count + 1, 4),
    hashes: take(int32, count, 4),
    blockEnds: take(int32, blocks, 4),
    kinds: take(bytes, count, 1),
    packed: take(bytes, packedBytes, 1),
  };
  return isPackedPathTable(table) ? table : null;
}

/**
 * The stored form of one layer's results: hashes and redacted values, never a raw secret. The
 * paths as lists by kind (JSON) or as a packed table (the on-disk entry, see encodeEntry).
 */
export function layerEntry(parts: LayerCacheKeyParts, diffId: string, blobs: BlobRecord[], result: LayerResult, paths: 'lists' | 'table' = 'lists'): CachedLayer {
  const { entries } = result.changes;
  const stored = entries instanceof CachedPaths ? entries : new CachedPaths(entries);
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
      entries: paths === 'table' ? stored.packed() : stored.lists(),
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

/** An entry written atomically (mode 0600), so no reader sees half of it; the cache is best-effort, so failures are ignored. */
async function writeEntry(path: string, value: unknown): Promise<void> {
  // Not compressed as a whole: a gzip'd entry took longer to read back than it saved on disk.
  await writeFileAtomic(path, Buffer.isBuffer(value) ? value : JSON.stringify(value), { mode: 0o600, mkdirMode: 0o700 }).catch(() => {});
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
 * A layer's paths as the cache stored them: lists by kind (JSON) or a PathTable's packed arrays
 * (on disk), turned into a table on the first lookup only: only a finding in a layer below asks.
 * Listing every path of every layer (tens of thousands) took a tenth of a rescan served from the
 * cache, most of it in the collector; a table keeps their bytes and ~20 more each, outside the heap.
 */
export class CachedPaths implements PathKinds {
  private listed: PathTable | null = null;

  constructor(private readonly stored: PathsByKind | PackedPathTable | ReadonlyMap<string, EntryKind> | PathTable) {}

  get(path: string): EntryKind | undefined {
    return this.table().get(path);
  }

  /** As lists by kind, the JSON form. */
  lists(): PathsByKind {
    const { stored } = this;
    if (stored instanceof Map || stored instanceof PathTable) return pathsByKind(stored as Iterable<[string, EntryKind]>);
    return isPackedArrays(stored) ? pathsByKind(this.table()) : (stored as PathsByKind);
  }

  /** As a table's packed arrays, the on-disk form. */
  packed(): PackedPathTable {
    const { stored } = this;
    if (stored instanceof PathTable) return stored.packedData();
    return isPackedArrays(stored) ? stored : this.table().packedData();
  }

  private table(): PathTable {
    if (this.listed === null) this.listed = tableOf(this.stored);
    return this.listed;
  }
}

function isPackedArrays(value: unknown): value is PackedPathTable {
  return typeof value === 'object' && value !== null && ArrayBuffer.isView((value as PackedPathTable).starts);
}

function tableOf(stored: PathsByKind | PackedPathTable | ReadonlyMap<string, EntryKind> | PathTable): PathTable {
  if (stored instanceof PathTable) return stored;
  if (isPackedArrays(stored)) return PathTable.fromPacked(stored);
  const table = new PathTable();
  if (stored instanceof Map) {
    for (const [path, kind] of stored as ReadonlyMap<string, EntryKind>) table.set(path, kind);
    return table;
  }
  const lists = stored as PathsByKind;
  for (const kind of ENTRY_KINDS) {
    const paths = lists[kind];
    if (paths === undefined) continue;
    for (const p of typeof paths === 'string' ? paths.split('\n') : paths) table.set(p, kind);
  }
  return table;
}
