import type { Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, type Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { nodeZstd, zstdDecoderKind, zstdStages } from './zstd-decode.js';
import { ZstdFrameGuard } from './zstd-frames.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Layers say how they are compressed in their first bytes; media types are often wrong or absent. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** The stages that turn a blob of this compression into its tar (none for an uncompressed one). */
export function decompressor(kind: Compression): Duplex[] {
  switch (kind) {
    case 'gzip':
      // Output in 1 MiB pieces: every piece is a trip from the zlib thread back to the main
      // thread and through the hashing and tar stages, so fewer, larger pieces cost less there.
      return [createGunzip({ chunkSize: 1024 * 1024 })];
    case 'zstd':
      return zstdStages();
    case 'none':
      return [];
    default: {
      const never: never = kind;
      throw new Error(`unknown compression ${String(never)}`);
    }
  }
}

/** Reads the first `n` bytes of a stream without losing them. */
export async function peek(stream: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < n) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    chunks.push(next.value);
    length += next.value.length;
  }
  const head = Buffer.concat(chunks);
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { head, stream: Readable.from(replay(), { objectMode: false }) };
}

/** A layer blob that is a byte range of a file (an archive member, a layout's blob file). */
export interface BlobRange {
  path: string;
  start: number;
  size: number;
  /**
   * Called before each read of the range: the layer worker's memory collector looks at external
   * memory there, since neither a per-file nor a timer check runs while a big file streams through.
   */
  beforeRead?: () => void;
}

/** A decoder that is done with each input chunk once that chunk's write completes, and the check its input must pass first. */
interface RecyclingDecoder {
  decoder: Duplex;
  check: ((chunk: Buffer) => void) | null;
}

/**
 * The decoder for a blob of this compression that can be fed from reused buffers: Node's zlib
 * reads a chunk only until its write callback, where the `zstd` command's pipe and fzstd may keep
 * it longer. Null: the blob is streamed the ordinary way (uncompressed blobs too, whose chunks the
 * walk keeps as file data).
 */
function recyclingDecoder(kind: Compression): RecyclingDecoder | null {
  switch (kind) {
    case 'gzip':
      return { decoder: decompressor('gzip')[0]!, check: null };
    case 'zstd': {
      if (zstdDecoderKind() !== 'node') return null;
      const guard = new ZstdFrameGuard();
      return { decoder: nodeZstd(), check: (chunk) => guard.push(chunk) };
    }
    case 'none':
      return null;
    default: {
      const never: never = kind;
      throw new Error(`unknown compression ${String(never)}`);
    }
  }
}

const READ_BYTES = 1024 * 1024;
/** Reads in flight or waiting in the decoder: enough to keep it fed while the next is read. */
const READ_BUFFERS = 3;

/** The tar of a compressed blob range, and how its reading ends. */
export interface RangeDecoding {
  /** The decoder's output: the blob's tar. */
  tar: Duplex;
  /** Settles once every byte of the range is read and hashed (rejects as `tar` fails). */
  read: Promise<void>;
}

/**
 * Opens a blob range of a file for decoding with a few read buffers used in turn, where a file
 * stream allocates a fresh 1 MiB buffer per read: over the compressed layers of an image that
 * fresh memory cost page faults and, as external memory, collections on the walk's thread. Every
 * byte read goes to `hash` first. Null when the blob is not compressed with a decoder that allows
 * it (see recyclingDecoder): the caller streams it.
 */
export async function decodeRange(range: BlobRange, hash: Hash, counter: { bytes: number }): Promise<RangeDecoding | null> {
  if (range.size < 4) return null;
  const handle = await open(range.path, 'r');
  let started = false;
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, range.start);
    const use = bytesRead === 4 ? recyclingDecoder(sniffCompression(head)) : null;
    if (!use) return null;
    started = true;
    const read = pumpRange(handle, range, use, hash, counter)
      .catch((err: unknown) => {
        use.decoder.destroy(err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => handle.close());
    return { tar: use.decoder, read };
  } finally {
    if (!started) await handle.close();
  }
}

/** Reads the range into the decoder, each buffer reused once the decoder is done with it. */
async function pumpRange(handle: FileHandle, range: BlobRange, use: RecyclingDecoder, hash: Hash, counter: { bytes: number }): Promise<void> {
  const { decoder, check } = use;
  const free = Array.from({ length: READ_BUFFERS }, () => Buffer.allocUnsafe(Math.min(READ_BYTES, range.size)));
  let wake: (() => void) | null = null;
  const wakeUp = (): void => {
    const waiting = wake;
    wake = null;
    waiting?.();
  };
  const release = (buffer: Buffer<ArrayBuffer>): void => {
    free.push(buffer);
    wakeUp();
  };
  const onClose = wakeUp;
  decoder.once('close', onClose);
  try {
    for (let done = 0; done < range.size; ) {
      while (free.length === 0 && !decoder.destroyed) await new Promise<void>((resolve) => (wake = resolve));
      if (decoder.destroyed) return;
      const buffer = free.pop()!;
      range.beforeRead?.();
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, range.size - done), range.start + done);
      if (bytesRead === 0) throw new Error(`${range.path} ends ${range.size - done} bytes before the blob does`);
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      counter.bytes += bytesRead;
      done += bytesRead;
      check?.(chunk);
      decoder.write(chunk, () => release(buffer));
    }
    decoder.end();
  } finally {
    decoder.off('close', onClose);
  }
}
