import { Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { fzstd } from '../lazy.js';
import { ZstdFrameGuard } from './zstd-frames.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Layers say how they are compressed in their first bytes; media types are often wrong or absent. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

export function decompressor(kind: Compression): Transform | null {
  switch (kind) {
    case 'gzip':
      // Output in 1 MiB pieces: every piece is a trip from the zlib thread back to the main
      // thread and through the hashing and tar stages, so fewer, larger pieces cost less there.
      return createGunzip({ chunkSize: 1024 * 1024 });
    case 'zstd':
      return zstdTransform();
    case 'none':
      return null;
    default: {
      const never: never = kind;
      throw new Error(`unknown compression ${String(never)}`);
    }
  }
}

/** fzstd is pure JavaScript (Node 20 has no zstd); it pushes output through a callback. */
function zstdTransform(): Transform {
  let transform!: Transform;
  let finished = false;
  const stream = new (fzstd().Decompress)((chunk: Uint8Array, final?: boolean) => {
    if (chunk.length > 0) transform.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (final) finished = true;
  });
  const guard = new ZstdFrameGuard();
  transform = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      try {
        guard.push(chunk);
      } catch (err) {
        callback(err as Error);
        return;
      }
      try {
        stream.push(chunk);
        callback();
      } catch (err) {
        callback(new Error('corrupt zstd data', { cause: err }));
      }
    },
    flush(callback) {
      try {
        stream.push(new Uint8Array(0), true);
      } catch (err) {
        callback(new Error('corrupt zstd data', { cause: err }));
        return;
      }
      callback(finished ? null : new Error('unexpected end of zstd data'));
    },
  });
  return transform;
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
