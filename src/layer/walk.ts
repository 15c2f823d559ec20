import { createHash, type Hash } from 'node:crypto';
import { posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import type { DetectionPool } from '../detect/pool.js';
import type { RawMatch } from '../detect/engine.js';
import { decompressor, peek, sniffCompression } from './decompress.js';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

/** What one layer does to the filesystem: enough to replay it over the layers below. */
export interface LayerChanges {
  /** Paths this layer writes, with what it writes there. */
  entries: Map<string, EntryKind>;
  /** Paths this layer deletes (from `.wh.<name>` files). */
  whiteouts: Set<string>;
  /** Directories whose lower contents this layer hides (`.wh..wh..opq`). */
  opaqueDirs: Set<string>;
}

export interface FileMatch extends RawMatch {
  path: string;
}

export interface LayerScan {
  /** sha256 of the blob as stored. */
  blobDigest: string;
  /** sha256 of the uncompressed tar: what the config's rootfs.diff_ids lists. */
  diffId: string;
  storedBytes: number;
  changes: LayerChanges;
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

/** Normalises a tar member name to an absolute path inside the image. */
export function imagePath(name: string): string {
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

/** Looks like text: no NUL byte in the first few KiB. */
function isBinary(head: Uint8Array): boolean {
  return head.subarray(0, SNIFF_BYTES).includes(0);
}

export async function scanLayer(
  blob: Readable,
  pool: DetectionPool | null,
  onProgress?: (p: WalkProgress) => void,
): Promise<LayerScan> {
  const blobHash = createHash('sha256');
  const tarHash = createHash('sha256');
  const stored = { bytes: 0 };
  const { head, stream } = await peek(blob, 4);
  const inflate = decompressor(sniffCompression(head));
  const extract = tar.extract();
  const stages: NodeJS.ReadWriteStream[] = [hashTap(blobHash, stored)];
  if (inflate) stages.push(inflate);
  stages.push(hashTap(tarHash));
  const piping = (pipeline as (...s: unknown[]) => Promise<void>)(stream, ...stages, extract);
  // Surfaced through the iterator below; this only stops an unhandled rejection.
  piping.catch(() => {});

  const changes: LayerChanges = { entries: new Map(), whiteouts: new Set(), opaqueDirs: new Set() };
  const hardlinks = new Map<string, string>();
  const matches: FileMatch[] = [];
  const results: Promise<void>[] = [];
  const skipped: Record<string, number> = {};
  let files = 0;
  let bytes = 0;

  try {
    for await (const entry of extract) {
      const header = entry.header;
      const path = imagePath(header.name);
      const base = posix.basename(path);
      if (base.startsWith('.wh.')) {
        const dir = posix.dirname(path);
        if (base === '.wh..wh..opq') changes.opaqueDirs.add(dir);
        else changes.whiteouts.add(posix.join(dir, base.slice(4)));
        entry.resume();
        continue;
      }
      switch (header.type) {
        case 'file':
        case 'contiguous-file': {
          changes.entries.set(path, 'file');
          files++;
          bytes += header.size ?? 0;
          if (pool) await scanFile(entry as unknown as AsyncIterable<Buffer>, path, pool, matches, results, skipped);
          else entry.resume();
          onProgress?.({ files, bytes });
          break;
        }
        case 'directory':
          changes.entries.set(path, 'dir');
          entry.resume();
          break;
        case 'symlink':
          changes.entries.set(path, 'symlink');
          entry.resume();
          break;
        case 'link':
          changes.entries.set(path, 'hardlink');
          if (header.linkname) hardlinks.set(path, imagePath(header.linkname));
          entry.resume();
          break;
        default:
          changes.entries.set(path, 'other');
          entry.resume();
      }
    }
    await piping;
  } catch (err) {
    stream.destroy();
    throw err;
  }
  pool?.flush();
  await Promise.all(results);

  // A hard link shares its target's bytes: the secret is reachable under both names.
  for (const [link, target] of hardlinks) {
    for (const m of matches.filter((x) => x.path === target)) matches.push({ ...m, path: link });
  }
  return {
    blobDigest: `sha256:${blobHash.digest('hex')}`,
    diffId: `sha256:${tarHash.digest('hex')}`,
    storedBytes: stored.bytes,
    changes,
    matches,
    files,
    bytes,
    skipped,
  };
}

/** Streams one file through detection in overlapping windows, translating positions back. */
async function scanFile(
  entry: AsyncIterable<Buffer>,
  path: string,
  pool: DetectionPool,
  out: FileMatch[],
  results: Promise<void>[],
  skipped: Record<string, number>,
): Promise<void> {
  let parts: Buffer[] = [];
  let buffered = 0;
  let sniffed = false;
  let binary = false;
  let windowStart = 0; // file offset of parts[0]
  let line = 1; // line number at windowStart
  let lineStart = 0; // file offset where that line begins

  const emit = async (window: Buffer, final: boolean) => {
    const start = windowStart;
    const startLine = line;
    const startLineOffset = lineStart;
    const submitted = await pool.submit(window);
    results.push(
      submitted.result.then((found) => {
        for (const m of found) {
          // The overlap is scanned again as the head of the next window.
          if (!final && m.offset >= WINDOW_BYTES) continue;
          out.push({
            ...m,
            path,
            offset: start + m.offset,
            line: startLine + m.line - 1,
            column: m.line === 1 ? m.column + (start - startLineOffset) : m.column,
          });
        }
      }),
    );
  };

  for await (const chunk of entry) {
    if (binary) continue;
    parts.push(chunk);
    buffered += chunk.length;
    if (!sniffed && buffered >= SNIFF_BYTES) {
      sniffed = true;
      if (isBinary(parts.length === 1 ? parts[0]! : Buffer.concat(parts))) {
        binary = true;
        parts = [];
        continue;
      }
    }
    while (buffered >= WINDOW_BYTES + OVERLAP_BYTES) {
      const joined = Buffer.concat(parts);
      const window = joined.subarray(0, WINDOW_BYTES + OVERLAP_BYTES);
      await emit(window, false);
      const advanced = joined.subarray(0, WINDOW_BYTES);
      for (let nl = advanced.indexOf(10); nl !== -1; nl = advanced.indexOf(10, nl + 1)) {
        line++;
        lineStart = windowStart + nl + 1;
      }
      windowStart += WINDOW_BYTES;
      parts = [joined.subarray(WINDOW_BYTES)];
      buffered = parts[0]!.length;
    }
  }
  if (binary) {
    skipped.binary = (skipped.binary ?? 0) + 1;
    return;
  }
  if (buffered === 0) return;
  const rest = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  if (!sniffed && isBinary(rest)) {
    skipped.binary = (skipped.binary ?? 0) + 1;
    return;
  }
  await emit(rest, true);
}
