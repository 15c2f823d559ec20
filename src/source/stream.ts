import type { Readable } from 'node:stream';
import { posix } from 'node:path';
import { tarStream } from '../lazy.js';
import { ScanError } from '../errors.js';
import type { DetectionPool } from '../detect/pool.js';
import { peek, sniffCompression } from '../layer/decompress.js';
import { scanLayer, type LayerScan } from '../layer/walk.js';
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from '../layer/nested.js';
import { checkEntryHeader } from '../layer/tar-entries.js';
import { checksumOk, memberName } from './tar-index.js';
import type { ImageContainer } from './container.js';

const MAX_METADATA = 64 * 1024 * 1024;
/** Two zero blocks end a tar archive. */
const END_MARKER = 1024;
/** Padding after the end marker is a few KiB (tar pads to 10 KiB records); this much is not padding. */
const TRAILING_ZEROS = 1024 * 1024;

/**
 * An image tarball read once from a pipe. The manifest usually comes last, so every member that
 * looks like a layer is scanned as it passes and kept by name; JSON members are kept whole.
 * Afterwards the manifest decides which scans belong to the image.
 */
export class StreamedImage implements ImageContainer {
  /** 'daemon' when the tarball is a daemon's `GET /images/{name}/get` stream. */
  readonly kind: 'stream' | 'daemon';
  private readonly json = new Map<string, Buffer>();
  private readonly scans = new Map<string, Promise<LayerScan>>();
  private readonly sizes = new Map<string, number>();
  private readonly links = new Map<string, string>();

  private constructor(readonly label: string, kind: 'stream' | 'daemon') {
    this.kind = kind;
  }

  static async ingest(
    input: Readable,
    label: string,
    pool: DetectionPool,
    onLayerBytes?: (files: number, bytes: number) => void,
    kind: 'stream' | 'daemon' = 'stream',
    limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
  ): Promise<StreamedImage> {
    const image = new StreamedImage(label, kind);
    const extract = tarStream().extract();
    // A member cut short fails its own data stream with a bare "Stream was destroyed": the
    // extractor's error says what happened ("Unexpected end of data").
    let extractError: unknown = null;
    extract.on('error', (err) => (extractError ??= err));
    input.on('error', (err) => extract.destroy(err));
    // tar-stream neither needs nor reports the end-of-archive marker; a file on disk must have it
    // (tar-index.ts), so a stream must too, or a cut at a member boundary would pass as complete.
    const tail = Buffer.alloc(END_MARKER);
    let total = 0;
    let sawData = false;
    // Zero bytes since the last non-zero one, and whether the walk is waiting for its next member:
    // after the end marker tar-stream skips zero blocks for ever, so a stream that goes on sending
    // them (`cat image.tar /dev/zero`) would never finish.
    let zeroRun = 0;
    let betweenMembers = true;
    let endedEarly = false;
    input.on('data', (chunk: Buffer) => {
      let last = chunk.length - 1;
      while (last >= 0 && chunk[last] === 0) last--;
      zeroRun = last < 0 ? zeroRun + chunk.length : chunk.length - 1 - last;
      if (sawData && betweenMembers && zeroRun >= TRAILING_ZEROS && !endedEarly) {
        endedEarly = true;
        input.unpipe(extract);
        input.pause();
        (extract as unknown as NodeJS.WritableStream).end();
      }
      if (chunk.length >= END_MARKER) chunk.copy(tail, 0, chunk.length - END_MARKER);
      else {
        tail.copy(tail, 0, chunk.length);
        chunk.copy(tail, END_MARKER - chunk.length);
      }
      total += chunk.length;
      // Zero blocks are skipped one by one for ever: an endless stream of them (/dev/zero) would never end the walk.
      if (!sawData && chunk.some((b) => b !== 0)) sawData = true;
      if (!sawData && total >= END_MARKER) extract.destroy(new Error('it starts with an end-of-archive marker'));
    });
    input.pipe(extract);
    let members = 0;
    let jsonBytes = 0;
    try {
      for await (const entry of extract) {
        betweenMembers = false;
        members++;
        const name = memberName(entry.header.name);
        const type = entry.header.type;
        checkEntryHeader(entry.header, `member ${name}`);
        if ((type === 'symlink' || type === 'link') && entry.header.linkname) {
          const target = type === 'symlink' ? posix.normalize(posix.join(posix.dirname(name), entry.header.linkname)) : entry.header.linkname;
          image.links.set(name, memberName(target));
        }
        if (type !== 'file' && type !== 'contiguous-file') {
          entry.resume();
          betweenMembers = true;
          continue;
        }
        const size = entry.header.size ?? 0;
        image.sizes.set(name, size);
        const { head, stream } = await peek(entry as unknown as Readable, 512);
        const first = head.subarray(0, 64).toString('latin1').trimStart()[0];
        if ((first === '{' || first === '[') && size <= MAX_METADATA) {
          // Every JSON member is kept until the manifest says which matter: bound them all together.
          jsonBytes += size;
          if (jsonBytes > MAX_METADATA) throw new Error(`it holds more than ${MAX_METADATA >> 20} MiB of JSON members`);
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          image.json.set(name, Buffer.concat(chunks));
        } else if (looksLikeLayer(head)) {
          const scan = scanLayer(stream, pool, (p) => onLayerBytes?.(p.files, p.bytes), limits);
          image.scans.set(name, scan);
          await scan;
        } else {
          // Iterating (not resume + 'end') surfaces a member cut short and cannot wait for ever.
          for await (const _chunk of stream) {
            // Not image content: drained unread.
          }
        }
        betweenMembers = true;
      }
    } catch (cause) {
      throw new ScanError(members === 0 ? `${label} is not a tar archive` : `reading ${label}`, { cause: isStreamDestroyed(cause) ? (extractError ?? cause) : cause });
    }
    if (members === 0) throw new ScanError(`${label} is empty or not a tar archive`);
    if (total < END_MARKER || tail.some((b) => b !== 0)) throw new ScanError(`${label} is truncated: the tar archive ends without its end-of-archive marker`);
    return image;
  }

  private resolve(name: string): string {
    let current = memberName(name);
    for (let hops = 0; hops < 16 && this.links.has(current); hops++) current = this.links.get(current)!;
    return current;
  }

  has(name: string): boolean {
    const n = this.resolve(name);
    return this.json.has(n) || this.scans.has(n);
  }

  size(name: string): number {
    return this.sizes.get(this.resolve(name)) ?? 0;
  }

  async read(name: string): Promise<Buffer> {
    const bytes = this.json.get(this.resolve(name));
    if (!bytes) throw new ScanError(`${this.label} has no file ${name}`);
    return bytes;
  }

  open(name: string): Readable {
    throw new Error(`${name} was consumed while streaming ${this.label}`);
  }

  /** The scan made while streaming, for a layer the manifest names. */
  scanOf(name: string): Promise<LayerScan> | undefined {
    return this.scans.get(this.resolve(name));
  }

  async close(): Promise<void> {}
}

/** streamx's error for a stream destroyed without a reason of its own (a member whose extractor failed). */
function isStreamDestroyed(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === 'STREAM_DESTROYED';
}

function looksLikeLayer(head: Buffer): boolean {
  if (sniffCompression(head) !== 'none') return true;
  if (head.length < 512) return false;
  return head.every((b) => b === 0) || checksumOk(head);
}
