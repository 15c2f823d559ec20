import { Readable, type Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { zstdStages } from './zstd-decode.js';

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
