import type { Readable } from 'node:stream';
import { posix } from 'node:path';
import * as tar from 'tar-stream';
import { ScanError } from '../errors.js';
import type { DetectionPool } from '../detect/pool.js';
import { peek, sniffCompression } from '../layer/decompress.js';
import { scanLayer, type LayerScan } from '../layer/walk.js';
import { checksumOk, memberName } from './tar-index.js';
import type { ImageContainer } from './container.js';

const MAX_METADATA = 64 * 1024 * 1024;

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
  ): Promise<StreamedImage> {
    const image = new StreamedImage(label, kind);
    const extract = tar.extract();
    input.on('error', (err) => extract.destroy(err));
    input.pipe(extract);
    let members = 0;
    try {
      for await (const entry of extract) {
        members++;
        const name = memberName(entry.header.name);
        const type = entry.header.type;
        if ((type === 'symlink' || type === 'link') && entry.header.linkname) {
          const target = type === 'symlink' ? posix.normalize(posix.join(posix.dirname(name), entry.header.linkname)) : entry.header.linkname;
          image.links.set(name, memberName(target));
        }
        if (type !== 'file' && type !== 'contiguous-file') {
          entry.resume();
          continue;
        }
        const size = entry.header.size ?? 0;
        image.sizes.set(name, size);
        const { head, stream } = await peek(entry as unknown as Readable, 512);
        const first = head.subarray(0, 64).toString('latin1').trimStart()[0];
        if ((first === '{' || first === '[') && size <= MAX_METADATA) {
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          image.json.set(name, Buffer.concat(chunks));
        } else if (looksLikeLayer(head)) {
          const scan = scanLayer(stream, pool, (p) => onLayerBytes?.(p.files, p.bytes));
          image.scans.set(name, scan);
          await scan;
        } else {
          stream.resume();
          await new Promise((resolve) => stream.on('end', resolve));
        }
      }
    } catch (cause) {
      throw new ScanError(members === 0 ? `${label} is not a tar archive` : `reading ${label}`, { cause });
    }
    if (members === 0) throw new ScanError(`${label} is empty or not a tar archive`);
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

function looksLikeLayer(head: Buffer): boolean {
  if (sniffCompression(head) !== 'none') return true;
  if (head.length < 512) return false;
  return head.every((b) => b === 0) || checksumOk(head);
}
