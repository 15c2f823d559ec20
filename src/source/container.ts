import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { open, stat, readFile, type FileHandle } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { ScanError } from '../errors.js';
import { indexTar, memberName, type TarMember } from './tar-index.js';

/**
 * The files of an image as saved: members of an outer tarball, or files of an OCI layout
 * directory. Names are relative ("manifest.json", "blobs/sha256/…").
 */
export interface ImageContainer {
  /** Where the files come from; decides the report's image.format (see resolve.ts imageFormat). */
  readonly kind: ContainerKind;
  readonly label: string;
  has(name: string): boolean;
  size(name: string): number;
  /** Whole contents of a small member (manifests, configs). */
  read(name: string, maxBytes?: number): Promise<Buffer>;
  open(name: string): Readable;
  /** sha256 (hex) of the first `bytes` of a member (all of a shorter one): archives and layouts only. */
  hashHead?(name: string, bytes: number): Promise<string>;
  /** Where a member's bytes lie in a file, for a thread that reads them itself: archives and layouts only. */
  locate?(name: string): { path: string; start: number; size: number };
  close(): Promise<void>;
}

/** tar/directory/stream: a saved image; daemon: `docker save` streamed from a daemon; registry: fetched blob by blob. */
export type ContainerKind = 'tar' | 'directory' | 'stream' | 'daemon' | 'registry';

const MAX_METADATA = 64 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;

export async function openContainer(path: string): Promise<ImageContainer> {
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    throw new ScanError(`cannot open ${path}`, { cause });
  }
  if (info.isDirectory()) return new DirectoryContainer(path);
  if (!info.isFile()) throw new ScanError(`${path} is not a file or directory`);
  const handle = await open(path, 'r');
  try {
    const members = await indexTar(handle, info.size, path);
    return new TarContainer(path, handle, members);
  } catch (err) {
    await handle.close();
    throw err;
  }
}

class TarContainer implements ImageContainer {
  readonly kind = 'tar';
  constructor(
    readonly label: string,
    private readonly handle: FileHandle,
    private readonly members: Map<string, TarMember>,
  ) {}

  /** Follows symlinks between members: docker save links repeated layers to the first copy. */
  private resolve(name: string): TarMember | undefined {
    let current = memberName(name);
    for (let hops = 0; hops < 16; hops++) {
      const member = this.members.get(current);
      if (!member) return undefined;
      if ((member.type === 'symlink' || member.type === 'hardlink') && member.linkName) {
        current = member.type === 'symlink'
          ? memberName(posix.normalize(posix.join(posix.dirname(current), member.linkName)))
          : memberName(member.linkName);
        continue;
      }
      return member.type === 'file' ? member : undefined;
    }
    return undefined;
  }

  private need(name: string): TarMember {
    const member = this.resolve(name);
    if (!member) throw new ScanError(`${this.label} has no file ${name}`);
    return member;
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  size(name: string): number {
    return this.need(name).size;
  }

  async read(name: string, maxBytes = MAX_METADATA): Promise<Buffer> {
    const member = this.need(name);
    if (member.size > maxBytes) throw new ScanError(`${this.label}: ${name} is too large to be image metadata (${member.size} bytes)`);
    const buf = Buffer.alloc(member.size);
    const { bytesRead } = await this.handle.read(buf, 0, member.size, member.offset);
    if (bytesRead !== member.size) throw new ScanError(`${this.label} is truncated inside ${name}`);
    return buf;
  }

  hashHead(name: string, bytes: number): Promise<string> {
    const member = this.need(name);
    return hashRange(this.handle, member.offset, Math.min(bytes, member.size), () => new ScanError(`${this.label} is truncated inside ${name}`));
  }

  locate(name: string): { path: string; start: number; size: number } {
    const member = this.need(name);
    return { path: this.label, start: member.offset, size: member.size };
  }

  open(name: string): Readable {
    const member = this.need(name);
    // createReadStream cannot express an empty range (end < start reads to EOF).
    if (member.size === 0) return Readable.from([]);
    return createReadStream(this.label, {
      start: member.offset,
      end: member.offset + member.size - 1,
      highWaterMark: READ_CHUNK,
    });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

class DirectoryContainer implements ImageContainer {
  readonly kind = 'directory';
  private readonly sizes = new Map<string, number>();
  constructor(readonly label: string) {}

  private path(name: string): string {
    const clean = posix.normalize(memberName(name));
    if (clean.startsWith('..')) throw new ScanError(`${this.label}: refusing to read ${name} outside the layout`);
    return join(this.label, clean);
  }

  has(name: string): boolean {
    try {
      return statSyncSize(this.path(name), this.sizes) !== null;
    } catch {
      return false;
    }
  }

  size(name: string): number {
    const size = statSyncSize(this.path(name), this.sizes);
    if (size === null) throw new ScanError(`${this.label} has no file ${name}`);
    return size;
  }

  async read(name: string, maxBytes = MAX_METADATA): Promise<Buffer> {
    if (this.size(name) > maxBytes) throw new ScanError(`${this.label}: ${name} is too large to be image metadata`);
    return readFile(this.path(name));
  }

  open(name: string): Readable {
    this.size(name);
    return createReadStream(this.path(name), { highWaterMark: READ_CHUNK });
  }

  locate(name: string): { path: string; start: number; size: number } {
    return { path: this.path(name), start: 0, size: this.size(name) };
  }

  async hashHead(name: string, bytes: number): Promise<string> {
    const length = Math.min(bytes, this.size(name));
    const handle = await open(this.path(name), 'r');
    try {
      return await hashRange(handle, 0, length, () => new ScanError(`${this.label}: ${name} is shorter than its size`));
    } finally {
      await handle.close();
    }
  }

  async close(): Promise<void> {}
}

function statSyncSize(path: string, cache: Map<string, number>): number | null {
  const cached = cache.get(path);
  if (cached !== undefined) return cached;
  try {
    const st = statSync(path);
    if (!st.isFile()) return null;
    cache.set(path, st.size);
    return st.size;
  } catch {
    return null;
  }
}

const HASH_PIECE = 64 * 1024;

/**
 * sha256 (hex) of `length` bytes of a file from `offset`, read a piece at a time into one small
 * buffer: a fresh 1 MiB buffer per layer costs more in page faults than reading and hashing it,
 * and this hashing is most of a rescan served from the cache.
 */
async function hashRange(handle: FileHandle, offset: number, length: number, short: () => Error): Promise<string> {
  const hash = createHash('sha256');
  const piece = Buffer.allocUnsafe(Math.min(HASH_PIECE, length));
  for (let done = 0; done < length; ) {
    const { bytesRead } = await handle.read(piece, 0, Math.min(piece.length, length - done), offset + done);
    if (bytesRead === 0) throw short();
    hash.update(piece.subarray(0, bytesRead));
    done += bytesRead;
  }
  return hash.digest('hex');
}
