import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { tarStream } from '../lazy.js';
import { checkedEntries } from './tar-entries.js';

/**
 * Archives found inside a layer (a jar in /opt, a wheel in site-packages, a rotated log.gz) are
 * opened in memory and their members scanned under `outer!/member` paths. Everything here is
 * bounded: an archive is untrusted input that may be built to exhaust memory or time.
 */

export type ArchiveKind = 'zip' | 'gzip' | 'tar';

/** Joins an archive's path to a member's: `/opt/app.jar!/BOOT-INF/classes/app.properties`. */
export const NESTED_SEPARATOR = '!/';

export interface ArchiveLimits {
  /** Deepest archive nesting opened: 3 reaches `a.zip!/b.jar!/c.tgz!/file`. 0 opens none. */
  maxDepth: number;
  /** Largest archive (as stored in the layer) read into memory to be opened. */
  maxArchiveBytes: number;
  /** Largest single member expanded. */
  maxEntryBytes: number;
  /** Expanded bytes allowed across one top-level archive and everything nested in it. */
  maxTotalBytes: number;
  /** Members allowed across one top-level archive and everything nested in it. */
  maxEntries: number;
  /** Expanded/compressed ratio beyond which a member larger than 1 MiB counts as a bomb. */
  maxRatio: number;
}

export const DEFAULT_ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxDepth: 3,
  maxArchiveBytes: 100 * 1024 * 1024,
  maxEntryBytes: 32 * 1024 * 1024,
  maxTotalBytes: 512 * 1024 * 1024,
  maxEntries: 100_000,
  maxRatio: 200,
});

/** The limits a scan runs with: `archives: false` opens no archive, a partial object adjusts the defaults. */
export function archiveLimits(options: { archives?: Partial<ArchiveLimits> | false }): ArchiveLimits {
  if (options.archives === false) return { ...DEFAULT_ARCHIVE_LIMITS, maxDepth: 0 };
  return { ...DEFAULT_ARCHIVE_LIMITS, ...options.archives };
}

/** Why part of an archive was not scanned; counted in `stats.skipped` under `archive-<reason>`. */
export type ArchiveSkip =
  | 'archive-bomb'
  | 'archive-too-large'
  | 'archive-entry-too-large'
  | 'archive-too-many-entries'
  | 'archive-too-deep'
  | 'archive-corrupt'
  | 'archive-encrypted'
  | 'archive-unsupported-method'
  | 'binary';

export interface NestedFile {
  /** `outer!/member[!/member...]`. */
  path: string;
  data: Buffer;
}

/** Remaining allowance shared by one top-level archive and everything nested in it. */
export interface ArchiveBudget {
  bytes: number;
  entries: number;
}

export const RATIO_FLOOR_BYTES = 1024 * 1024;
const SNIFF_BYTES = 8 * 1024;

/** zlib refuses output chunks below this. */
const MIN_INFLATE_CHUNK = 64;
/** A declared size above this is inflated in pieces of this size: the claim may be false. */
const MAX_INFLATE_CHUNK = 4 * 1024 * 1024;

/**
 * The output chunk for a one-call inflate of data that declares its size (a gzip trailer, a zip
 * entry): one buffer of that size, where zlib's default 16 KiB pieces cost an allocation each and a
 * copy to join them (thousands of man pages and changelogs in a Debian image). One byte more than
 * the claim, or zlib, finding the buffer full, would allocate another before it sees the end. A
 * false claim costs more pieces or a larger first buffer, never more output: the caller's
 * maxOutputLength still bounds what comes out.
 */
export function inflateChunk(declared: number): number {
  return Math.min(Math.max(declared + 1, MIN_INFLATE_CHUNK), MAX_INFLATE_CHUNK);
}

/** A gzip file's own claim of its inflated size (its last member's ISIZE, modulo 4 GiB). */
export function gzipDeclaredSize(data: Uint8Array): number {
  // Header (10) and trailer (8) at least.
  if (data.length < 18) return 0;
  return (data[data.length - 4]! | (data[data.length - 3]! << 8) | (data[data.length - 2]! << 16) | (data[data.length - 1]! << 24)) >>> 0;
}

/** Inflates a whole gzip file in one call, at most `maxOutputLength` bytes of output (else throws). */
export function gunzipWhole(data: Uint8Array, maxOutputLength: number): Buffer {
  return gunzipSync(data, { maxOutputLength, chunkSize: inflateChunk(Math.min(gzipDeclaredSize(data), maxOutputLength)) });
}

// Members that are binary by construction: expanding them only to find a NUL byte wastes the budget.
const BINARY_EXTENSIONS = new Set([
  '.class', '.png', '.jpg', '.jpeg', '.gif', '.ico', '.webp', '.bmp', '.so', '.dll', '.dylib', '.exe',
  '.woff', '.woff2', '.ttf', '.otf', '.eot', '.mp3', '.mp4', '.ogg', '.wav', '.pyc', '.pyo', '.o', '.a',
  '.node', '.wasm',
]);

/** What kind of archive these first bytes open, if any. `head` should hold at least 263 bytes. */
export function archiveKind(head: Uint8Array): ArchiveKind | null {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'zip';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  // "ustar" at 257 covers POSIX (ustar\0) and GNU (ustar  ) headers alike.
  if (head.length >= 262 && head[257] === 0x75 && head[258] === 0x73 && head[259] === 0x74 && head[260] === 0x61 && head[261] === 0x72) return 'tar';
  return null;
}

// Zip readers look for the directory at the end, so a zip can carry anything in front of it: the
// launch script of a Spring Boot "fully executable" jar, a self-extractor stub.
const ZIP_NAMES = /\.(zip|jar|war|ear|aar|whl|egg|nupkg|apk)$/i;

/** A file named like a zip that does not start like one: worth reading whole to look for its directory. */
export function mayBePrefixedZip(path: string): boolean {
  return ZIP_NAMES.test(path);
}

/** Whether a zip end record is where one must be. */
export function hasZipDirectory(data: Buffer): boolean {
  try {
    findDirectory(data);
    return true;
  } catch {
    return false;
  }
}

/** Members binary by their name alone, skipped before any byte is expanded. */
export function binaryByName(name: string): boolean {
  return BINARY_EXTENSIONS.has(posix.extname(name).toLowerCase());
}

export function isBinary(head: Uint8Array): boolean {
  return head.subarray(0, SNIFF_BYTES).includes(0);
}

/** The path of the file in the layer that holds a possibly nested path. */
export function layerPathOf(path: string): string {
  const cut = path.indexOf(NESTED_SEPARATOR);
  return cut === -1 ? path : path.slice(0, cut);
}

export function newBudget(limits: ArchiveLimits): ArchiveBudget {
  return { bytes: limits.maxTotalBytes, entries: limits.maxEntries };
}

/** A member's own name, cleaned so it cannot climb out of its archive or collide with the separator. */
function memberPath(name: string): string {
  const normal = posix.normalize('/' + name.replace(/\\/g, '/')).replace(/^\/+/, '');
  return normal.replace(/\/+$/, '');
}

/** Ends the expansion of one archive; what it says is counted in `stats.skipped`. */
export class ArchiveStop extends Error {
  constructor(readonly reason: ArchiveSkip) {
    super(reason);
  }
}

interface Expansion {
  limits: ArchiveLimits;
  budget: ArchiveBudget;
  skip: (reason: ArchiveSkip) => void;
}

/**
 * Expands one archive held in memory, yielding the text members to scan (nested archives are
 * opened in turn, up to `limits.maxDepth`). Problems are counted through `skip`, never thrown:
 * a bomb or a corrupt member ends that archive, and what was yielded before stands.
 */
export async function* expandArchive(
  data: Buffer,
  kind: ArchiveKind,
  path: string,
  depth: number,
  limits: ArchiveLimits,
  budget: ArchiveBudget,
  skip: (reason: ArchiveSkip) => void,
): AsyncGenerator<NestedFile> {
  const ctx: Expansion = { limits, budget, skip };
  try {
    switch (kind) {
      case 'zip':
        yield* expandMembers(zipMembers(data, ctx), path, depth, ctx);
        break;
      case 'tar':
        yield* expandMembers(tarMembers(data, ctx), path, depth, ctx);
        break;
      case 'gzip': {
        const inner = inflateBounded(() => data.length, (max) => gunzipWhole(data, max), ctx);
        // A .tar.gz is one archive level: its members sit right under the outer path.
        if (archiveKind(inner) === 'tar') yield* expandMembers(tarMembers(inner, ctx), path, depth, ctx);
        else yield* expandMembers(single(gunzippedName(path), inner), path, depth, ctx);
        break;
      }
      default: {
        const never: never = kind;
        throw new Error(`unknown archive kind ${String(never)}`);
      }
    }
  } catch (err) {
    if (err instanceof ArchiveStop) skip(err.reason);
    else throw err;
  }
}

/**
 * The members of a tar read as it streams (a .tar.gz inflating in a layer), expanded like any
 * archive's: nested archives opened, binaries skipped, problems counted through `skip`.
 */
export async function* expandTar(
  source: AsyncIterable<Buffer>,
  path: string,
  depth: number,
  limits: ArchiveLimits,
  budget: ArchiveBudget,
  skip: (reason: ArchiveSkip) => void,
): AsyncGenerator<NestedFile> {
  const ctx: Expansion = { limits, budget, skip };
  try {
    yield* expandMembers(tarMembers(source, ctx), path, depth, ctx);
  } catch (err) {
    if (err instanceof ArchiveStop) skip(err.reason);
    else throw err;
  }
}

/**
 * One member of an archive, expanded as every archive's members are (nested archives opened,
 * binaries skipped): zip-stream.ts hands a streamed zip's members over one at a time.
 */
export function expandMember(
  name: string,
  data: Buffer,
  path: string,
  depth: number,
  limits: ArchiveLimits,
  budget: ArchiveBudget,
  skip: (reason: ArchiveSkip) => void,
): AsyncGenerator<NestedFile> {
  return expandMembers(single(name, data), path, depth, { limits, budget, skip });
}

async function* single(name: string, data: Buffer): AsyncGenerator<{ name: string; data: Buffer }> {
  yield { name, data };
}

/** What a .gz file holds, named as gunzip would: `app.log.gz` holds `app.log`, `x.tgz` holds `x.tar`. */
export function gunzippedName(path: string): string {
  const base = posix.basename(path);
  if (/\.tgz$/i.test(base)) return base.slice(0, -4) + '.tar';
  const stripped = base.replace(/\.(gz|z)$/i, '');
  return stripped === base || stripped === '' ? `${base}.data` : stripped;
}

async function* expandMembers(
  members: AsyncIterable<{ name: string; data: Buffer }> | Iterable<{ name: string; data: Buffer }>,
  path: string,
  depth: number,
  ctx: Expansion,
): AsyncGenerator<NestedFile> {
  for await (const member of members) {
    const name = memberPath(member.name);
    if (name === '') continue;
    const inner = `${path}${NESTED_SEPARATOR}${name}`;
    const kind = archiveKind(member.data.subarray(0, 512));
    if (kind !== null) {
      if (depth >= ctx.limits.maxDepth) {
        ctx.skip('archive-too-deep');
        continue;
      }
      yield* expandArchive(member.data, kind, inner, depth + 1, ctx.limits, ctx.budget, ctx.skip);
      continue;
    }
    if (isBinary(member.data)) {
      ctx.skip('binary');
      continue;
    }
    yield { path: inner, data: member.data };
  }
}

function takeEntry(ctx: Expansion): void {
  if (ctx.budget.entries <= 0) throw new ArchiveStop('archive-too-many-entries');
  ctx.budget.entries--;
}

/**
 * Runs a bounded inflate. The bound is the smallest of the member limit, what is left of the
 * archive's budget and the ratio allowance; which one was hit says whether this is a bomb.
 */
function inflateBounded(compressedBytes: () => number, inflate: (max: number) => Buffer, ctx: Expansion): Buffer {
  const { limits, budget } = ctx;
  const byRatio = Math.max(RATIO_FLOOR_BYTES, compressedBytes() * limits.maxRatio);
  const max = Math.min(limits.maxEntryBytes, budget.bytes, byRatio);
  let out: Buffer;
  try {
    // One byte over the bound tells "exactly at the bound" from "over it".
    out = inflate(max + 1);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ArchiveStop(overflowReason(max, limits));
    throw new ArchiveStop('archive-corrupt');
  }
  if (out.length > max) throw new ArchiveStop(overflowReason(max, limits));
  budget.bytes -= out.length;
  return out;
}

/** A member merely larger than the per-member limit is not an attack; outgrowing the ratio or the archive's budget is. */
function overflowReason(max: number, limits: ArchiveLimits): ArchiveSkip {
  return max === limits.maxEntryBytes ? 'archive-entry-too-large' : 'archive-bomb';
}

// --- zip -------------------------------------------------------------------------------------

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const U32_MAX = 0xffffffff;

interface ZipDirectory {
  entries: number;
  offset: number;
  size: number;
  /** Bytes prepended to the archive (self-extracting stubs, launch scripts in front of a jar). */
  shift: number;
}

/**
 * Where the last end-of-central-directory record in `data` starts, or -1: it sits in the last 22
 * bytes plus a comment of at most 65535.
 */
export function lastEndRecord(data: Buffer): number {
  const lowest = Math.max(0, data.length - 22 - 0xffff);
  for (let i = data.length - 22; i >= lowest; i--) {
    if (data.readUInt32LE(i) === EOCD_SIG) return i;
  }
  return -1;
}

function findDirectory(data: Buffer): ZipDirectory {
  const eocd = lastEndRecord(data);
  if (eocd < 0) throw new ArchiveStop('archive-corrupt');
  let entries = data.readUInt16LE(eocd + 10);
  let size = data.readUInt32LE(eocd + 12);
  let offset = data.readUInt32LE(eocd + 16);
  let end = eocd;
  if ((entries === 0xffff || size === U32_MAX || offset === U32_MAX) && eocd >= 20 && data.readUInt32LE(eocd - 20) === ZIP64_LOCATOR_SIG) {
    const at = Number(data.readBigUInt64LE(eocd - 20 + 8));
    if (at + 56 > data.length || data.readUInt32LE(at) !== ZIP64_EOCD_SIG) throw new ArchiveStop('archive-corrupt');
    entries = Number(data.readBigUInt64LE(at + 32));
    size = Number(data.readBigUInt64LE(at + 40));
    offset = Number(data.readBigUInt64LE(at + 48));
    end = at;
  }
  const shift = end - (offset + size);
  if (shift < 0 || offset + shift + size > data.length) throw new ArchiveStop('archive-corrupt');
  return { entries, offset, size, shift };
}

function* zipMembers(data: Buffer, ctx: Expansion): Generator<{ name: string; data: Buffer }> {
  const dir = findDirectory(data);
  // Directory entries that share local data are the non-recursive zip bomb: one deflate stream
  // listed thousands of times. Honest zips never point two entries at the same bytes.
  const seen = new Set<number>();
  let at = dir.offset + dir.shift;
  const end = at + dir.size;
  for (let n = 0; n < dir.entries; n++) {
    if (at + 46 > end || data.readUInt32LE(at) !== CENTRAL_SIG) throw new ArchiveStop('archive-corrupt');
    const flags = data.readUInt16LE(at + 8);
    const method = data.readUInt16LE(at + 10);
    let compressed = data.readUInt32LE(at + 20);
    let declared = data.readUInt32LE(at + 24);
    const nameLength = data.readUInt16LE(at + 28);
    const extraLength = data.readUInt16LE(at + 30);
    const commentLength = data.readUInt16LE(at + 32);
    let local = data.readUInt32LE(at + 42);
    const nameEnd = at + 46 + nameLength;
    if (nameEnd + extraLength > end) throw new ArchiveStop('archive-corrupt');
    const name = data.toString('utf8', at + 46, nameEnd);
    if (compressed === U32_MAX || declared === U32_MAX || local === U32_MAX) {
      ({ compressed, declared, local } = zip64Sizes(data.subarray(nameEnd, nameEnd + extraLength), { compressed, declared, local }));
    }
    at = nameEnd + extraLength + commentLength;
    if (name.endsWith('/')) continue;
    takeEntry(ctx);
    if (binaryByName(name)) {
      ctx.skip('binary');
      continue;
    }
    if (flags & 0x1) {
      ctx.skip('archive-encrypted');
      continue;
    }
    const localAt = local + dir.shift;
    if (seen.has(localAt)) throw new ArchiveStop('archive-bomb');
    seen.add(localAt);
    if (localAt + 30 > data.length || data.readUInt32LE(localAt) !== LOCAL_SIG) throw new ArchiveStop('archive-corrupt');
    const start = localAt + 30 + data.readUInt16LE(localAt + 26) + data.readUInt16LE(localAt + 28);
    if (start + compressed > data.length) throw new ArchiveStop('archive-corrupt');
    const body = data.subarray(start, start + compressed);
    switch (method) {
      case 0: {
        if (body.length > ctx.limits.maxEntryBytes) {
          ctx.skip('archive-entry-too-large');
          continue;
        }
        if (body.length > ctx.budget.bytes) throw new ArchiveStop('archive-too-large');
        ctx.budget.bytes -= body.length;
        yield { name, data: body };
        break;
      }
      case 8: {
        // The declared size is the archive's claim; the bound below is what holds.
        if (declared > RATIO_FLOOR_BYTES && declared / Math.max(1, compressed) > ctx.limits.maxRatio) throw new ArchiveStop('archive-bomb');
        let member: Buffer;
        try {
          member = inflateBounded(() => body.length, (max) => inflateRawSync(body, { maxOutputLength: max, chunkSize: inflateChunk(Math.min(declared, max)) }), ctx);
        } catch (err) {
          if (err instanceof ArchiveStop && err.reason === 'archive-entry-too-large') {
            ctx.skip(err.reason);
            continue;
          }
          throw err;
        }
        yield { name, data: member };
        break;
      }
      default:
        ctx.skip('archive-unsupported-method');
    }
  }
}

export function zip64Sizes(
  extra: Buffer,
  sizes: { compressed: number; declared: number; local: number },
): { compressed: number; declared: number; local: number } {
  let at = 0;
  while (at + 4 <= extra.length) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    const body = extra.subarray(at + 4, at + 4 + length);
    if (id === 0x0001) {
      // Only the fields that overflowed are present, in this order.
      let i = 0;
      const next = () => {
        if (i + 8 > body.length) throw new ArchiveStop('archive-corrupt');
        const v = Number(body.readBigUInt64LE(i));
        i += 8;
        return v;
      };
      const declared = sizes.declared === U32_MAX ? next() : sizes.declared;
      const compressed = sizes.compressed === U32_MAX ? next() : sizes.compressed;
      const local = sizes.local === U32_MAX ? next() : sizes.local;
      return { compressed, declared, local };
    }
    at += 4 + length;
  }
  throw new ArchiveStop('archive-corrupt');
}

// --- tar -------------------------------------------------------------------------------------

async function* tarMembers(data: Buffer | AsyncIterable<Buffer>, ctx: Expansion): AsyncGenerator<{ name: string; data: Buffer }> {
  const extract = tarStream().extract();
  const source = Readable.from(Buffer.isBuffer(data) ? [data] : data);
  source.pipe(extract);
  source.on('error', (err) => extract.destroy(err));
  try {
    for await (const entry of checkedEntries(extract)) {
      const header = entry.header;
      if (header.type !== 'file' && header.type !== 'contiguous-file') {
        entry.resume();
        continue;
      }
      takeEntry(ctx);
      const size = header.size ?? 0;
      if (binaryByName(header.name)) {
        entry.resume();
        ctx.skip('binary');
        continue;
      }
      if (size > ctx.limits.maxEntryBytes) {
        entry.resume();
        ctx.skip('archive-entry-too-large');
        continue;
      }
      const parts: Buffer[] = [];
      for await (const chunk of entry as AsyncIterable<Buffer>) parts.push(chunk);
      yield { name: header.name, data: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
    }
  } catch (err) {
    if (err instanceof ArchiveStop) throw err;
    throw new ArchiveStop('archive-corrupt');
  } finally {
    source.unpipe(extract);
    extract.destroy();
  }
}
