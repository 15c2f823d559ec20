import type { Readable } from 'node:stream';
import { posix } from 'node:path';
import type { Extract, ExtractEvents } from 'tar-stream';
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
    const ending = new ArchiveEnding(input, extract);
    input.pipe(extract);
    let members = 0;
    const taking: MemberContext = { pool, limits, onLayerBytes, jsonBytes: 0 };
    try {
      for await (const entry of extract) {
        ending.betweenMembers = false;
        members++;
        await image.take(entry, taking);
        ending.betweenMembers = true;
      }
    } catch (cause) {
      throw new ScanError(members === 0 ? `${label} is not a tar archive` : `reading ${label}`, { cause: isStreamDestroyed(cause) ? (extractError ?? cause) : cause });
    }
    if (members === 0) throw new ScanError(`${label} is empty or not a tar archive`);
    if (!ending.sawEndMarker()) throw new ScanError(`${label} is truncated: the tar archive ends without its end-of-archive marker`);
    return image;
  }

  /** One member as it passes: a link noted, JSON kept, a layer scanned, anything else drained unread. */
  private async take(entry: TarEntry, context: MemberContext): Promise<void> {
    const name = memberName(entry.header.name);
    const type = entry.header.type;
    checkEntryHeader(entry.header, `member ${name}`);
    if ((type === 'symlink' || type === 'link') && entry.header.linkname) {
      const target = type === 'symlink' ? posix.normalize(posix.join(posix.dirname(name), entry.header.linkname)) : entry.header.linkname;
      this.links.set(name, memberName(target));
    }
    if (type !== 'file' && type !== 'contiguous-file') {
      entry.resume();
      return;
    }
    const size = entry.header.size ?? 0;
    this.sizes.set(name, size);
    const { head, stream } = await peek(entry as unknown as Readable, 512);
    const first = head.subarray(0, 64).toString('latin1').trimStart()[0];
    if ((first === '{' || first === '[') && size <= MAX_METADATA) {
      // Every JSON member is kept until the manifest says which matter: bound them all together.
      context.jsonBytes += size;
      if (context.jsonBytes > MAX_METADATA) throw new Error(`it holds more than ${MAX_METADATA >> 20} MiB of JSON members`);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      this.json.set(name, Buffer.concat(chunks));
    } else if (looksLikeLayer(head)) {
      const scan = scanLayer(stream, context.pool, (p) => context.onLayerBytes?.(p.files, p.bytes), context.limits);
      this.scans.set(name, scan);
      await scan;
    } else {
      // Iterating (not resume + 'end') surfaces a member cut short and cannot wait for ever.
      for await (const _chunk of stream) {
        // Not image content: drained unread.
      }
    }
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

/** One member as tar-stream yields it: its header and a stream of its data. */
type TarEntry = ExtractEvents['entry'][1];

/** What ingest hands each member: where layers are scanned, and the JSON kept so far. */
interface MemberContext {
  pool: DetectionPool;
  limits: ArchiveLimits;
  onLayerBytes: ((files: number, bytes: number) => void) | undefined;
  jsonBytes: number;
}

/**
 * Watches the bytes of a tar stream for its end. tar-stream neither needs nor reports the
 * end-of-archive marker; a file on disk must have it (tar-index.ts), so a stream must too, or a
 * cut at a member boundary would pass as complete. And after the marker tar-stream skips zero
 * blocks for ever, so a stream that goes on sending them (`cat image.tar /dev/zero`) is ended
 * here once it has sent more zeros between members than any padding.
 */
class ArchiveEnding {
  /** Whether the walk is waiting for its next member (set by the reader). */
  betweenMembers = true;
  private readonly tail = Buffer.alloc(END_MARKER);
  private total = 0;
  private sawData = false;
  /** Zero bytes since the last non-zero one. */
  private zeroRun = 0;
  private endedEarly = false;

  constructor(private readonly input: Readable, private readonly extract: Extract) {
    input.on('data', (chunk: Buffer) => this.see(chunk));
  }

  sawEndMarker(): boolean {
    return this.total >= END_MARKER && this.tail.every((b) => b === 0);
  }

  private see(chunk: Buffer): void {
    let last = chunk.length - 1;
    while (last >= 0 && chunk[last] === 0) last--;
    this.zeroRun = last < 0 ? this.zeroRun + chunk.length : chunk.length - 1 - last;
    if (this.sawData && this.betweenMembers && this.zeroRun >= TRAILING_ZEROS && !this.endedEarly) {
      this.endedEarly = true;
      this.input.unpipe(this.extract);
      this.input.pause();
      (this.extract as unknown as NodeJS.WritableStream).end();
    }
    if (chunk.length >= END_MARKER) chunk.copy(this.tail, 0, chunk.length - END_MARKER);
    else {
      this.tail.copy(this.tail, 0, chunk.length);
      chunk.copy(this.tail, END_MARKER - chunk.length);
    }
    this.total += chunk.length;
    // Zero blocks are skipped one by one for ever: an endless stream of them (/dev/zero) would never end the walk.
    if (!this.sawData && chunk.some((b) => b !== 0)) this.sawData = true;
    if (!this.sawData && this.total >= END_MARKER) this.extract.destroy(new Error('it starts with an end-of-archive marker'));
  }
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
