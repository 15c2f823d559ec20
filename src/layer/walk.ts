import { createHash, type Hash } from 'node:crypto';
import { posix } from 'node:path';
import { close, createReadStream, open, read } from 'node:fs';
import { Readable, Transform, Writable, type Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import type { DetectionPool } from '../detect/pool.js';
import { GzipOutcome } from '../detect/gzip-member.js';
import type { RawMatch } from '../detect/engine.js';
import { decodeRange, decompressor, peek, sniffCompression, type BlobRange } from './decompress.js';
import { GATED_ARCHIVE_BYTES, type ArchiveGate } from './archive-gate.js';
import { PathTable, type PathKinds } from './path-table.js';
import { checkEntryHeader } from './tar-entries.js';
import { TarWalk, type TarEntry } from './tar-walk.js';
import {
  ArchiveStop, archiveKind, DEFAULT_ARCHIVE_LIMITS, expandArchive, expandTar, gunzippedName, gunzipWhole, hasZipDirectory, isBinary,
  layerPathOf, mayBePrefixedZip, NESTED_SEPARATOR, newBudget, RATIO_FLOOR_BYTES,
  type ArchiveKind, type ArchiveLimits, type NestedFile,
} from './nested.js';
import { HeldResults, ZipStream } from './zip-stream.js';

export type { EntryKind, PathKinds } from './path-table.js';

/** What one layer does to the filesystem: enough to replay it over the layers below. */
export interface LayerChanges {
  /** Paths this layer writes, with what it writes there. */
  entries: PathKinds;
  /** Paths this layer deletes (from `.wh.<name>` files). */
  whiteouts: ReadonlySet<string>;
  /** Directories whose lower contents this layer hides (`.wh..wh..opq`). */
  opaqueDirs: ReadonlySet<string>;
}

/** A layer's changes as its walk records them: every path listed. */
export interface WalkedChanges extends LayerChanges {
  entries: PathTable;
  whiteouts: Set<string>;
  opaqueDirs: Set<string>;
}

export interface FileMatch extends RawMatch {
  path: string;
  /**
   * The same layer wrote this path again later (a tar may hold one name twice; extraction keeps
   * the last) and the last copy does not hold this secret: still in the blob, not in the image.
   */
  replacedInLayer?: true;
}

export interface LayerScan {
  /** sha256 of the blob as stored. */
  blobDigest: string;
  /** sha256 of the uncompressed tar: what the config's rootfs.diff_ids lists. */
  diffId: string;
  storedBytes: number;
  changes: WalkedChanges;
  matches: FileMatch[];
  files: number;
  bytes: number;
  skipped: Record<string, number>;
}

export interface WalkProgress {
  files: number;
  bytes: number;
}

// Large files are scanned in windows so memory does not grow with file size; the overlap must
// exceed the longest secret a rule can match (PEM blocks are a few KiB).
export const WINDOW_BYTES = 1024 * 1024;
export const OVERLAP_BYTES = 32 * 1024;
const SNIFF_BYTES = 8 * 1024;
/** .gz files up to this size (as stored) are read whole and inflated in one call. */
const SMALL_GZIP_BYTES = 256 * 1024;

/** The PAX records of an entry that has none: one object for all of them, only ever read. */
const NO_PAX: Readonly<Record<string, string>> = Object.freeze({});

/** A name that normalising could change: backslashes, empty, `.` or `..` segments. */
const NOT_PLAIN = /\\|\/\/|(?:^|\/)\.\.?(?:\/|$)/;

/** Normalises a tar member name to an absolute path inside the image. */
export function imagePath(name: string): string {
  // Nearly every name in a layer is already plain (`usr/share/doc/x/`): skip the full normalisation.
  if (name !== '' && name[0] !== '/' && !NOT_PLAIN.test(name)) return '/' + (name.endsWith('/') ? name.slice(0, -1) : name);
  const normal = posix.normalize('/' + name.replace(/\\/g, '/'));
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

function hashTap(hash: Hash, counter?: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      hash.update(chunk);
      if (counter) counter.bytes += chunk.length;
      callback(null, chunk);
    },
  });
}

export async function scanLayer(
  blob: Readable | BlobRange,
  pool: DetectionPool | null,
  onProgress?: (p: WalkProgress) => void,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
  gate: ArchiveGate | null = null,
): Promise<LayerScan> {
  const blobHash = createHash('sha256');
  const tarHash = createHash('sha256');
  const stored = { bytes: 0 };
  const input = await layerTar(blob, blobHash, tarHash, stored);
  // A layer read from a file can be read again: a zip streamed from it that must be held whole after all is read from there.
  const reread = blob instanceof Readable ? null : (offset: number, length: number) => readTarRange(blob, offset, length);
  const walk = new LayerWalk(pool, limits, gate, blob instanceof Readable ? undefined : blob.beforeRead, reread);
  const tar = new TarWalk(async (entry) => {
    const header = entry.header;
    const pax = (header.pax ?? NO_PAX) as Record<string, string>;
    // GNU sparse 1.0 keeps the real name in a PAX record; the header holds a placeholder.
    const path = imagePath(pax['GNU.sparse.name'] ?? header.name);
    const size = header.size ?? 0;
    checkEntryHeader(header, path);
    await walk.entry(entry, path, size, pax);
    if (walk.progressed) onProgress?.({ files: walk.files, bytes: walk.bytes });
  });
  try {
    await (pipeline as (...s: unknown[]) => Promise<void>)(...input.stages, tar);
    await input.read;
  } catch (err) {
    input.stages[0]!.destroy();
    throw err;
  }
  pool?.flush();
  const matches = await walk.matches();
  const blobDigest = blobHash.digest('hex');
  return {
    blobDigest: `sha256:${blobDigest}`,
    diffId: `sha256:${input.compressed ? tarHash.digest('hex') : blobDigest}`,
    storedBytes: stored.bytes,
    changes: walk.changes,
    matches,
    files: walk.files,
    bytes: walk.bytes,
    skipped: walk.skipped,
  };
}

/** The streams that turn a layer blob into its tar, hashing both on the way. */
interface LayerTar {
  /** Source first; the tar comes out of the last. */
  stages: (Readable | Duplex)[];
  /** The blob is compressed: the tar has a hash of its own. */
  compressed: boolean;
  /** Settles when the blob is read to its end (at once for a streamed blob: the pipeline says). */
  read: Promise<void>;
}

async function layerTar(blob: Readable | BlobRange, blobHash: Hash, tarHash: Hash, stored: { bytes: number }): Promise<LayerTar> {
  let stream: Readable;
  if (blob instanceof Readable) stream = blob;
  else {
    const decoding = await decodeRange(blob, blobHash, stored);
    if (decoding) return { stages: [decoding.tar, hashTap(tarHash)], compressed: true, read: decoding.read };
    // createReadStream cannot express an empty range (end < start reads to EOF).
    stream = blob.size === 0 ? Readable.from([]) : createReadStream(blob.path, { start: blob.start, end: blob.start + blob.size - 1, highWaterMark: 1024 * 1024, ...readsCalling(blob.beforeRead) });
  }
  const { head, stream: replayed } = await peek(stream, 4);
  const inflate = decompressor(sniffCompression(head));
  const stages: (Readable | Duplex)[] = [replayed, hashTap(blobHash, stored)];
  // An uncompressed blob is the tar itself: one hash gives both digests (hashing is this thread's work).
  if (inflate.length > 0) stages.push(...inflate, hashTap(tarHash));
  return { stages, compressed: inflate.length > 0, read: Promise.resolve() };
}

/**
 * `length` bytes of a layer's tar from `offset`, from a second read (and decompression) of the
 * blob: a zip whose stream could not be trusted, scanned whole as it always was (zip-stream.ts).
 */
async function readTarRange(blob: BlobRange, offset: number, length: number): Promise<Buffer> {
  const input = await layerTar(blob, createHash('sha256'), createHash('sha256'), { bytes: 0 });
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  let filled = 0;
  const enough = new Error('range read');
  const collect = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const from = Math.max(0, offset - at);
      const to = Math.min(chunk.length, offset + length - at);
      if (to > from) filled += chunk.copy(out, filled, from, to);
      at += chunk.length;
      // Stops the read (and the decompression) once the range is in.
      callback(filled === length ? enough : null);
    },
  });
  try {
    await (pipeline as (...s: unknown[]) => Promise<void>)(...input.stages, collect);
  } catch (err) {
    if (err !== enough) throw new Error(`reading the layer again to tar offset ${offset}`, { cause: err });
  } finally {
    await input.read;
  }
  if (filled !== length) throw new Error(`reading the layer again: ${length - filled} bytes missing at tar offset ${offset}`);
  return out;
}

/** File-system calls for createReadStream that call `hook` before each read. */
function readsCalling(hook: (() => void) | undefined): { fs?: { open: typeof open; close: typeof close; read: typeof read } } {
  if (!hook) return {};
  const hooked = ((...args: Parameters<typeof read>) => {
    hook();
    read(...args);
  }) as typeof read;
  return { fs: { open, close, read: hooked } };
}

/**
 * One layer's walk, entry by entry: what each path becomes, the files' scans and their matches.
 * Detection runs only with a pool; without one the walk records the layer's changes only.
 */
class LayerWalk {
  readonly changes: WalkedChanges = { entries: new PathTable(), whiteouts: new Set(), opaqueDirs: new Set() };
  readonly skipped: Record<string, number> = {};
  files = 0;
  bytes = 0;
  /** The last entry was a file: progress to report. */
  progressed = false;
  private readonly hardlinks = new Map<string, string>();
  /** The matches of each file entry that has any, with how many times its path had been written by then. */
  private readonly copies: FileFinds[] = [];
  private readonly outstanding = new Outstanding();

  constructor(
    private readonly pool: DetectionPool | null,
    private readonly limits: ArchiveLimits,
    private readonly gate: ArchiveGate | null = null,
    private readonly collect: (() => void) | undefined = undefined,
    private readonly reread: TarRangeReader | null = null,
  ) {}

  /** Records one entry and, for a file, scans its data; every other entry's data is skipped. */
  async entry(entry: TarEntry, path: string, size: number, pax: Record<string, string>): Promise<void> {
    const { changes } = this;
    const header = entry.header;
    this.progressed = false;
    // Paths are absolute and have no trailing slash (imagePath): the name is what follows the last slash.
    const slash = path.lastIndexOf('/');
    if (path.startsWith('.wh.', slash + 1)) {
      const base = path.slice(slash + 1);
      const dir = posix.dirname(path);
      if (base === '.wh..wh..opq') changes.opaqueDirs.add(dir);
      else changes.whiteouts.add(posix.join(dir, base.slice(4)));
      entry.resume();
      return;
    }
    // An unknown typeflag with data is above all GNU's old sparse format ('S'), which dockerd
    // extracts as a file: its stored bytes are the file's data segments.
    switch (header.type === null && size > 0 ? 'file' : header.type) {
      case 'file':
      case 'contiguous-file':
        await this.file(entry, path, size, pax, changes.entries.set(path, 'file'));
        return;
      case 'directory':
        changes.entries.set(path, 'dir');
        break;
      case 'symlink':
        changes.entries.set(path, 'symlink');
        break;
      case 'link':
        changes.entries.set(path, 'hardlink');
        if (header.linkname) this.hardlinks.set(path, imagePath(header.linkname));
        break;
      case 'block-device':
      case 'character-device':
      case 'fifo':
      default:
        changes.entries.set(path, 'other');
    }
    entry.resume();
  }

  private async file(entry: TarEntry, path: string, size: number, pax: Record<string, string>, copy: number): Promise<void> {
    this.files++;
    this.bytes += size;
    this.progressed = true;
    const data: FileData = pax['GNU.sparse.major'] === '1'
      ? sparseSegments(entry, () => count(this.skipped, 'sparse-map'))
      : entry;
    const found = new FileFinds(path, copy, this.files, this.copies);
    const { pool } = this;
    // Only an entry read as it is can be read again from its offset (not a sparse file's segments).
    const reread = data === entry ? this.reread : null;
    if (pool) await scanFile(data, path, size, { pool, out: found, outstanding: this.outstanding, skipped: this.skipped, limits: this.limits, gate: this.gate, collect: this.collect, reread, offset: entry.dataOffset });
    else entry.resume();
  }

  /** Once every entry is walked and the pool flushed: the layer's matches, hard links included. */
  async matches(): Promise<FileMatch[]> {
    await this.outstanding.settled();
    // Registered as their first match came back: in the order of the files again.
    this.copies.sort((a, b) => a.ordinal - b.ordinal);
    const matches = markReplaced(this.copies, this.changes.entries);
    // A hard link shares its target's bytes: the secret is reachable under both names.
    for (const [link, target] of this.hardlinks) {
      for (const m of matches.filter((x) => layerPathOf(x.path) === target)) matches.push({ ...m, path: link + m.path.slice(target.length) });
    }
    return matches;
  }
}

/**
 * One file entry's matches. It joins the layer's list with its first match only: a list per file
 * (hundreds of thousands in a big layer, nearly all empty) was kept to the layer's end.
 */
class FileFinds {
  readonly found: FileMatch[] = [];

  constructor(
    readonly path: string,
    /** How many times the layer had written this path, this write included. */
    readonly copy: number,
    /** The file's place in the layer's walk. */
    readonly ordinal: number,
    private readonly copies: FileFinds[],
  ) {}

  push(match: FileMatch): void {
    if (this.found.length === 0) this.copies.push(this);
    this.found.push(match);
  }
}

const MAX_SPARSE_MAP = 1024 * 1024;

/**
 * The stored data segments of a GNU sparse 1.0 file: its data starts with the sparse map (a count,
 * then offset and length per segment, in decimal lines, padded to a block), not with file content.
 * A map that cannot be read makes the file one skipped file, not a failed layer.
 */
async function* sparseSegments(entry: AsyncIterable<Buffer>, onBadMap: () => void): AsyncGenerator<Buffer> {
  let head = Buffer.alloc(0);
  let dataStart: number | null = null;
  let bad = false;
  for await (const chunk of entry) {
    if (bad) continue;
    if (dataStart === null) {
      head = Buffer.concat([head, chunk]);
      const end = sparseMapEnd(head);
      if (end === 'bad' || (end === null && head.length > MAX_SPARSE_MAP)) {
        bad = true;
        onBadMap();
        continue;
      }
      if (end === null || head.length < end) continue;
      dataStart = end;
      if (head.length > end) yield head.subarray(end);
      head = Buffer.alloc(0);
      continue;
    }
    yield chunk;
  }
  // The entry ended inside its map.
  if (dataStart === null && !bad && typeof sparseMapEnd(head) !== 'number') onBadMap();
}

/** Where the segments start after a sparse 1.0 map: null while the map is incomplete. */
function sparseMapEnd(buf: Buffer): number | 'bad' | null {
  let pos = 0;
  let expected: number | null = null;
  for (let lines = 0; expected === null || lines < expected; lines++) {
    const nl = buf.indexOf(10, pos);
    if (nl === -1) return buf.length - pos > 20 ? 'bad' : null;
    const text = buf.toString('latin1', pos, nl);
    if (!/^\d{1,20}$/.test(text)) return 'bad';
    if (expected === null) expected = 1 + 2 * Number(text);
    pos = nl + 1;
  }
  return Math.ceil(pos / 512) * 512;
}

/**
 * Cuts one file into overlapping windows for detection and translates match positions back to
 * the file. Fed chunk by chunk, so memory is one window whatever the file's size. Line numbers
 * need the newlines before each window: the worker counts them in a window's first WINDOW_BYTES
 * while it has the window at hand (vector instructions, ~0.04 ms a MiB, where counting here cost
 * the walk's thread ~0.5 ms a MiB), so matches are translated when every earlier window is back.
 */
class FileWindows {
  private parts: Buffer[] = [];
  private buffered = 0;
  private windowStart = 0; // file offset of parts[0]
  /** Windows handed out, in file order, whose matches are not yet translated. */
  private readonly waiting: WindowOutcome[] = [];
  private line = 1; // line number at the start of waiting[0]
  private lineStart = 0; // file offset where that line begins

  constructor(
    private readonly path: string,
    private readonly sink: ScanSink,
  ) {}

  /** Takes the next chunk; a promise when the pool asks the walk to wait (else null: no promise per chunk). */
  push(chunk: Buffer): Promise<void> | null {
    this.parts.push(chunk);
    this.buffered += chunk.length;
    return this.cut();
  }

  private cut(): Promise<void> | null {
    while (this.buffered >= WINDOW_BYTES + OVERLAP_BYTES) {
      // A window goes to the pool as the parts it spans, never joined here: the pool copies them
      // once into its batch (a joined copy per window was most of the main thread's garbage).
      const wait = this.emit(headOf(this.parts, WINDOW_BYTES + OVERLAP_BYTES), false);
      this.windowStart += WINDOW_BYTES;
      this.parts = tailOf(this.parts, WINDOW_BYTES);
      this.buffered -= WINDOW_BYTES;
      if (wait) return wait.then(() => this.cut() ?? undefined);
    }
    return null;
  }

  end(): Promise<void> | null {
    if (this.buffered === 0) return null;
    const wait = this.emit(this.parts, true);
    this.parts = [];
    this.buffered = 0;
    return wait;
  }

  /** Hands one window to the pool; a promise when the pool asks the walk to wait. */
  private emit(window: readonly Buffer[], final: boolean): Promise<void> | null {
    const { sink } = this;
    const outcome: WindowOutcome = { start: this.windowStart, final, found: null, newlines: 0, lastNewline: -1 };
    this.waiting.push(outcome);
    sink.outstanding.add();
    return sink.pool.submit(window, {
      found: (found, newlines, lastNewline) => {
        outcome.found = found;
        outcome.newlines = newlines;
        outcome.lastNewline = lastNewline;
        this.translate();
        sink.outstanding.done();
      },
      failed(err) {
        sink.outstanding.fail(err);
      },
    }, final ? 0 : WINDOW_BYTES);
  }

  /** Moves the matches of every window that is back, and all before it are, to the layer's list. */
  private translate(): void {
    const { waiting, path, sink } = this;
    let done = 0;
    for (; done < waiting.length && waiting[done]!.found !== null; done++) {
      const w = waiting[done]!;
      for (const m of w.found!) {
        // The overlap is scanned again as the head of the next window.
        if (!w.final && m.offset >= WINDOW_BYTES) continue;
        sink.out.push({
          ...m,
          path,
          offset: w.start + m.offset,
          line: this.line + m.line - 1,
          column: m.line === 1 ? m.column + (w.start - this.lineStart) : m.column,
        });
      }
      if (w.final) continue;
      this.line += w.newlines;
      if (w.lastNewline !== -1) this.lineStart = w.start + w.lastNewline + 1;
    }
    if (done > 0) waiting.splice(0, done);
  }
}

/** One window's outcome: its matches (null until back) and the newlines in its first WINDOW_BYTES. */
interface WindowOutcome {
  start: number;
  final: boolean;
  found: RawMatch[] | null;
  newlines: number;
  lastNewline: number;
}

/**
 * Windows of one layer handed to detection whose matches have not come back. The layer waits for
 * none to be left; a failed pool (a crash, a cancel) fails that wait, and only that wait, so a
 * walk that failed first never leaves a rejection unhandled.
 */
class Outstanding {
  private count = 0;
  private error: Error | null = null;
  private waiter: { resolve: () => void; reject: (err: Error) => void } | null = null;

  add(): void {
    this.count++;
  }

  done(): void {
    this.count--;
    this.wake();
  }

  fail(err: Error): void {
    this.error ??= err;
    this.count--;
    this.wake();
  }

  settled(): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  private wake(): void {
    const waiter = this.waiter;
    if (waiter === null) return;
    if (this.error) {
      this.waiter = null;
      waiter.reject(this.error);
    } else if (this.count === 0) {
      this.waiter = null;
      waiter.resolve();
    }
  }
}

/** The first `n` bytes of `parts`, as views. */
function headOf(parts: readonly Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const part of parts) {
    if (n <= 0) break;
    out.push(part.length <= n ? part : part.subarray(0, n));
    n -= part.length;
  }
  return out;
}

/** `parts` without their first `n` bytes, as views. */
function tailOf(parts: readonly Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const part of parts) {
    if (n >= part.length) {
      n -= part.length;
      continue;
    }
    out.push(n > 0 ? part.subarray(n) : part);
    n = 0;
  }
  return out;
}

/** Reads `length` bytes of the layer's tar again from `offset`. */
type TarRangeReader = (offset: number, length: number) => Promise<Buffer>;

/** Where one layer's file scans deliver: the pool, the matches and what is still out. */
interface ScanSink {
  pool: DetectionPool;
  out: { push(match: FileMatch): void };
  outstanding: Outstanding;
  skipped: Record<string, number>;
  limits: ArchiveLimits;
  /** Shared with other layer workers: how many big archives' bytes may be held at once (null: unbounded). */
  gate: ArchiveGate | null;
  /**
   * The layer worker's memory collector (BlobRange.beforeRead), also called per archive member:
   * an archive expands from memory with no read in between, its dead members piling up meanwhile.
   */
  collect: (() => void) | undefined;
  /** The file's tar can be read again (null: it cannot), and where its data starts in it. */
  reread: TarRangeReader | null;
  offset: number;
}

function count(skipped: Record<string, number>, reason: string): void {
  skipped[reason] = (skipped[reason] ?? 0) + 1;
}

/** A tar entry's data as tar-stream hands it over (a streamx Readable). */
interface EntryStream {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** A file's bytes: the entry itself, or (GNU sparse files) the data segments read out of it. */
type FileData = EntryStream | AsyncIterable<Buffer>;

/**
 * Hands each chunk of a tar entry to `take` as it arrives, pausing the entry while `take` waits
 * (the pool's back-pressure). Events rather than an async iterator: the iterator costs a promise
 * per chunk and listeners and closures per entry, ~0.1 s of main-thread CPU on the benchmark image.
 */
function feed(entry: EntryStream, take: (chunk: Buffer) => Promise<void> | null): Promise<void> {
  return new Promise((resolve, reject) => {
    let waiting = false;
    let ended = false;
    let failed = false;
    // Chunks that arrive while paused (should the stream emit what it already holds) keep their order.
    const queued: Buffer[] = [];
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      reject(err);
    };
    const settle = (): void => {
      if (ended && !waiting && !failed) resolve();
    };
    const run = (chunk: Buffer): void => {
      let wait: Promise<void> | null;
      try {
        wait = take(chunk);
      } catch (err) {
        fail(err);
        return;
      }
      if (wait === null) return;
      waiting = true;
      entry.pause();
      wait.then(() => {
        waiting = false;
        while (queued.length > 0 && !failed) {
          run(queued.shift()!);
          if (waiting) return;
        }
        if (failed) return;
        entry.resume();
        settle();
      }, fail);
    };
    entry.on('data', (chunk) => {
      if (failed) return;
      if (waiting) queued.push(chunk);
      else run(chunk);
    });
    entry.on('end', () => {
      ended = true;
      settle();
    });
    entry.on('error', fail);
    // Destroyed without an end (its layer's stream failed): what the iterator would have thrown.
    entry.on('close', () => {
      if (!ended) fail(new Error('tar entry closed before its end'));
    });
  });
}

/** Applies `fn` to each part in turn; a promise only if some call had to wait. */
function eachPart(parts: readonly Buffer[], fn: (part: Buffer) => Promise<void> | null, from = 0): Promise<void> | null {
  for (let i = from; i < parts.length; i++) {
    const wait = fn(parts[i]!);
    if (wait) return wait.then(() => eachPart(parts, fn, i + 1) ?? undefined);
  }
  return null;
}

/**
 * Streams one file through detection. The first bytes decide: an archive is read whole (up to a
 * bound) and its members scanned; a binary file is drained unread; text goes out in windows.
 */
async function scanFile(data: FileData, path: string, declaredSize: number, sink: ScanSink): Promise<void> {
  const file = new FileScan(path, declaredSize, sink);
  const take = (chunk: Buffer): Promise<void> | null => file.take(chunk);
  try {
    if ('pause' in data) await feed(data, take);
    else {
      for await (const chunk of data) {
        const wait = take(chunk);
        if (wait) await wait;
      }
    }
    await file.finish();
  } finally {
    file.releaseArchive();
  }
}

/** One file's scan, chunk by chunk, in whichever mode its first bytes decided. */
class FileScan {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private mode: 'sniffing' | 'text' | 'archive' | 'zip-stream' | 'gzip' | 'small-gzip' | 'drain' = 'sniffing';
  private gzip: GzipFileScan | null = null;
  /** A big zip read from its local headers as it streams past (zip-stream.ts), and its matches held until its directory agrees. */
  private zip: { stream: ZipStream; held: HeldResults<FileMatch> } | null = null;
  private kind: ArchiveKind | null = null;
  private prefixed = false;
  /**
   * An archive's bytes, copied in as they arrive into one buffer of the size its tar header
   * declares: keeping the chunks and joining them at the end held a big archive (a JDK's 53 MB
   * src.zip) twice, and pinned the decompressor's buffers the chunks were cut from.
   */
  private archive: Buffer | null = null;
  private archiveBytes = 0;
  /** Gives the archive's share of the gate back (see archive-gate.ts); a no-op once called. */
  private release: (() => void) | null = null;
  private readonly windows: FileWindows;

  constructor(
    private readonly path: string,
    private readonly declaredSize: number,
    private readonly sink: ScanSink,
  ) {
    this.windows = new FileWindows(path, sink);
  }

  take(chunk: Buffer): Promise<void> | null {
    const mode = this.mode;
    switch (mode) {
      case 'drain':
        return null;
      case 'text':
        return this.windows.push(chunk);
      case 'gzip':
        return this.gzip!.write(chunk);
      case 'archive':
        this.copyIntoArchive(chunk);
        return null;
      case 'zip-stream':
        return this.zip!.stream.write(chunk);
      case 'sniffing':
      case 'small-gzip':
        this.head.push(chunk);
        this.headBytes += chunk.length;
        return mode === 'sniffing' && this.headBytes >= SNIFF_BYTES ? this.decide(sniffed(this.head)) : null;
      default: {
        const never: never = mode;
        throw new Error(`unknown file mode ${String(never)}`);
      }
    }
  }

  private decide(first: Buffer): Promise<void> | null {
    const { sink, path } = this;
    let kind = sink.limits.maxDepth > 0 ? archiveKind(first) : null;
    if (kind === null && sink.limits.maxDepth > 0 && mayBePrefixedZip(path)) {
      kind = 'zip';
      this.prefixed = true;
    }
    this.kind = kind;
    if (kind === 'gzip' && this.declaredSize <= SMALL_GZIP_BYTES) {
      // Read whole and inflated in one call at the end (see scanSmallGzip).
      this.mode = 'small-gzip';
      return null;
    }
    if (kind === 'gzip') {
      this.mode = 'gzip';
      const gzip = (this.gzip = new GzipFileScan(path, sink));
      return eachPart(this.head.splice(0), (part) => gzip.write(part));
    }
    if (kind !== null) {
      if (kind === 'zip' && !this.prefixed && this.streamable()) return this.streamZip();
      if (this.declaredSize <= sink.limits.maxArchiveBytes) return this.holdArchive();

      count(sink.skipped, 'archive-too-large');
      this.mode = 'drain';
      return null;
    }
    if (isBinary(first)) {
      count(sink.skipped, 'binary');
      this.mode = 'drain';
      return null;
    }
    this.mode = 'text';
    return eachPart(this.head.splice(0), (part) => this.windows.push(part));
  }

  /**
   * A zip is streamed when it is big enough to matter (the gate's threshold) and its bytes can be
   * read again should its stream not agree with its directory: a layer read from a file.
   */
  private streamable(): boolean {
    const { declaredSize, sink } = this;
    return declaredSize >= GATED_ARCHIVE_BYTES && declaredSize <= sink.limits.maxArchiveBytes && sink.reread !== null;
  }

  private streamZip(): Promise<void> | null {
    const { sink } = this;
    const held = new HeldResults<FileMatch>();
    const heldSink: ScanSink = { ...sink, out: held };
    const stream = new ZipStream(this.path, sink.limits, {
      scan: (file) => {
        sink.collect?.();
        return scanWhole(file, heldSink);
      },
    });
    this.zip = { stream, held };
    this.mode = 'zip-stream';
    return eachPart(this.head.splice(0), (part) => stream.write(part));
  }

  /**
   * The end of a streamed zip: its held results stand if its directory agreed; else they go, and
   * the zip is read again from the layer and scanned whole, as a zip not streamed would have been.
   */
  private async finishZip(): Promise<void> {
    const { sink } = this;
    const { stream, held } = this.zip!;
    this.zip = null;
    if ((await stream.end()) === 'streamed') {
      for (const [reason, n] of Object.entries(stream.skipped)) sink.skipped[reason] = (sink.skipped[reason] ?? 0) + n;
      held.commit(sink.out);
      return;
    }
    held.discard();
    const pass = sink.gate?.(this.declaredSize) ?? null;
    this.release = pass === null ? null : typeof pass === 'function' ? pass : await pass;
    await this.expandHeld(await sink.reread!(sink.offset, this.declaredSize));
  }

  /** Reads the file whole from here on, once the gate lets its bytes be held (the entry waits, paused). */
  private holdArchive(): Promise<void> | null {
    const admit = (release: () => void): void => {
      this.release = release;
      this.mode = 'archive';
      this.archive = Buffer.allocUnsafe(this.declaredSize);
      for (const part of this.head.splice(0)) this.copyIntoArchive(part);
    };
    const pass = this.sink.gate?.(this.declaredSize) ?? null;
    if (pass === null) {
      admit(() => {});
      return null;
    }
    if (typeof pass === 'function') {
      admit(pass);
      return null;
    }
    return pass.then(admit);
  }

  releaseArchive(): void {
    this.archive = null;
    const release = this.release;
    this.release = null;
    release?.();
  }

  private copyIntoArchive(chunk: Buffer): void {
    const archive = this.archive!;
    if (this.archiveBytes + chunk.length > archive.length) throw new Error(`${this.path}: more data than its tar header declares (${archive.length} bytes)`);
    chunk.copy(archive, this.archiveBytes);
    this.archiveBytes += chunk.length;
  }

  /** An archive held whole: its members scanned (or, named like a zip but not one, the file itself). */
  private async expandHeld(data: Buffer): Promise<void> {
    const { sink, path, windows } = this;
    if (this.prefixed && !hasZipDirectory(data)) {
      // Named like a zip, but is not one: scan it as the file it is.
      if (isBinary(data)) count(sink.skipped, 'binary');
      else {
        await windows.push(data);
        await windows.end();
      }
      return;
    }
    const budget = newBudget(sink.limits);
    for await (const member of expandArchive(data, this.kind!, path, 1, sink.limits, budget, (why) => count(sink.skipped, why))) {
      sink.collect?.();
      await scanWhole(member, sink);
    }
  }

  /** After the last chunk: what is still buffered goes out, and an archive is expanded. */
  async finish(): Promise<void> {
    const { sink, path, windows } = this;
    if (this.mode === 'sniffing') {
      if (this.headBytes === 0) return;
      await this.decide(sniffed(this.head));
    }
    const mode = this.mode;
    switch (mode) {
      case 'text':
        await windows.end();
        return;
      case 'gzip':
        await this.gzip!.end();
        return;
      case 'small-gzip':
        await submitSmallGzip(this.head.splice(0), path, sink);
        return;
      case 'archive': {
        const data = this.archive!.subarray(0, this.archiveBytes);
        this.archive = null;
        await this.expandHeld(data);
        return;
      }
      case 'zip-stream':
        await this.finishZip();
        return;
      case 'drain':
      case 'sniffing':
        return;
      default: {
        const never: never = mode;
        throw new Error(`unknown file mode ${String(never)}`);
      }
    }
  }
}

/**
 * The first SNIFF_BYTES of a file's head, for deciding what it is: a view when the first part holds
 * them. Joining the whole head copied most text files' first (often only) chunk again, and those
 * copies, as external memory, cost the main thread a full garbage collection every few dozen MB.
 */
function sniffed(head: readonly Buffer[]): Buffer {
  const first = head[0]!;
  if (first.length >= SNIFF_BYTES || head.length === 1) return first.subarray(0, SNIFF_BYTES);
  return Buffer.concat(head, Math.min(SNIFF_BYTES, head.reduce((n, part) => n + part.length, 0)));
}

/** Flattens per-entry matches, marking those an entry later in the same layer replaced. */
function markReplaced(copies: readonly FileFinds[], paths: PathTable): FileMatch[] {
  const lastHolds = new Set<string>();
  for (const c of copies) {
    if (c.copy === paths.writesOf(c.path)) for (const m of c.found) lastHolds.add(`${m.path}\0${m.secret}`);
  }
  const out: FileMatch[] = [];
  for (const c of copies) {
    const replaced = c.copy !== paths.writesOf(c.path);
    for (const m of c.found) out.push(replaced && !lastHolds.has(`${m.path}\0${m.secret}`) ? { ...m, replacedInLayer: true } : m);
  }
  return out;
}

/** Scans a member already in memory (expanded from an archive) in windows. */
async function scanWhole(member: NestedFile, sink: ScanSink): Promise<void> {
  const windows = new FileWindows(member.path, sink);
  await windows.push(member.data);
  await windows.end();
}

/**
 * A .gz file this small (man pages, changelog.Debian.gz: thousands in a Debian image) goes to
 * detection as it is stored, and is inflated there in one bounded call and scanned
 * (scanGzipMember): a zlib stream per file on this thread (its handle, its buffers, a trip to the
 * thread pool and back per piece) cost far more than the inflation, and the walk's thread is the
 * one that limits a scan. What detection declines (a tar inside, output over a window, corrupt
 * data) is scanned here as before.
 */
function submitSmallGzip(parts: Buffer[], path: string, sink: ScanSink): Promise<void> | null {
  sink.outstanding.add();
  return sink.pool.submit(parts, {
    found(matches, _newlines, _lastNewline, outcome) {
      switch (outcome) {
        case GzipOutcome.Scanned:
          // One window from the file's start: positions and lines are the file's own. The inner
          // path is spelt out only for a file with matches (a few in thousands).
          if (matches.length > 0) {
            const inner = `${path}${NESTED_SEPARATOR}${gunzippedName(path)}`;
            for (const m of matches) sink.out.push({ ...m, path: inner });
          }
          sink.outstanding.done();
          return;
        case GzipOutcome.Binary:
          count(sink.skipped, 'binary');
          sink.outstanding.done();
          return;
        case GzipOutcome.Declined:
          scanSmallGzip(parts.length === 1 ? parts[0]! : Buffer.concat(parts), path, sink).then(
            () => {
              // The walk may be over, its last batch sent: what this queued must go too.
              sink.pool.flush();
              sink.outstanding.done();
            },
            (err: unknown) => sink.outstanding.fail(err instanceof Error ? err : new Error(String(err))),
          );
          return;
        default: {
          const never: never = outcome;
          throw new Error(`unknown gzip outcome ${String(never)}`);
        }
      }
    },
    failed(err) {
      sink.outstanding.fail(err);
    },
  }, 0, true);
}

/**
 * A small .gz file detection declined, scanned here: inflated in one bounded call when its output
 * fits RATIO_FLOOR_BYTES (no bound applies below it), else (larger, corrupt, truncated) through
 * the stream (GzipFileScan) from its start, so what it finds and counts is what it always was.
 */
async function scanSmallGzip(data: Buffer, path: string, sink: ScanSink): Promise<void> {
  let inflated: Buffer;
  try {
    inflated = gunzipWhole(data, RATIO_FLOOR_BYTES);
  } catch {
    const gzip = new GzipFileScan(path, sink);
    await gzip.write(data);
    await gzip.end();
    return;
  }
  if (inflated.length === 0) return;
  if (archiveKind(inflated) === 'tar') {
    const skip = (why: string) => count(sink.skipped, why);
    for await (const member of expandTar(once(inflated), path, 1, sink.limits, newBudget(sink.limits), skip)) await scanWhole(member, sink);
    return;
  }
  if (isBinary(inflated)) {
    count(sink.skipped, 'binary');
    return;
  }
  await scanWhole({ path: `${path}${NESTED_SEPARATOR}${gunzippedName(path)}`, data: inflated }, sink);
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

/** Waits until a writable can take more, or is gone. */
function drainOrClose(stream: Transform): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/**
 * A gzip file in a layer is inflated as it streams past, so a 2 GB rotated log costs a window of
 * memory, not its size: a tar inside is walked member by member, anything else is scanned as the
 * text it holds. Inflation is bounded by the archive budget and the ratio; a bomb or corrupt data
 * ends this file's scan (counted in `stats.skipped`), never the layer's.
 */
class GzipFileScan {
  private readonly gunzip = createGunzip({ chunkSize: 256 * 1024 });
  private written = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly path: string,
    private readonly sink: ScanSink,
  ) {
    // Errors surface through the consumer's iterator; this keeps an early one from going unhandled.
    this.gunzip.on('error', () => {});
    this.done = this.consume()
      .catch((err: unknown) => count(sink.skipped, err instanceof ArchiveStop ? err.reason : 'archive-corrupt'))
      .finally(() => {
        this.stopped = true;
        this.gunzip.destroy();
      });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.stopped || this.gunzip.destroyed) return;
    this.written += chunk.length;
    if (!this.gunzip.write(chunk)) await drainOrClose(this.gunzip);
  }

  async end(): Promise<void> {
    if (!this.stopped && !this.gunzip.destroyed) this.gunzip.end();
    await this.done;
  }

  private async *inflated(): AsyncGenerator<Buffer> {
    const { limits } = this.sink;
    let total = 0;
    for await (const chunk of this.gunzip as AsyncIterable<Buffer>) {
      total += chunk.length;
      // Compressed bytes written so far run ahead of what has come out, so this ratio errs low.
      if (total > limits.maxTotalBytes || total > Math.max(RATIO_FLOOR_BYTES, this.written * limits.maxRatio)) {
        throw new ArchiveStop('archive-bomb');
      }
      yield chunk;
    }
  }

  private async consume(): Promise<void> {
    const source = this.inflated();
    const head: Buffer[] = [];
    let headBytes = 0;
    while (headBytes < SNIFF_BYTES) {
      const next = await source.next();
      if (next.done) break;
      head.push(next.value);
      headBytes += next.value.length;
    }
    if (headBytes === 0) return;
    const first = Buffer.concat(head);
    async function* rest(): AsyncGenerator<Buffer> {
      yield first;
      yield* source;
    }
    if (archiveKind(first) === 'tar') return this.members(rest());
    if (isBinary(first)) {
      count(this.sink.skipped, 'binary');
      return;
    }
    const windows = new FileWindows(`${this.path}${NESTED_SEPARATOR}${gunzippedName(this.path)}`, this.sink);
    for await (const chunk of rest()) {
      const wait = windows.push(chunk);
      if (wait) await wait;
    }
    await windows.end();
  }

  /** A .tar.gz: each member read whole (up to the member bound) and scanned like a zip's. */
  private async members(tarStream: AsyncGenerator<Buffer>): Promise<void> {
    const { sink, path } = this;
    const skip = (why: string) => count(sink.skipped, why);
    for await (const member of expandTar(tarStream, path, 1, sink.limits, newBudget(sink.limits), skip)) await scanWhole(member, sink);
  }
}
