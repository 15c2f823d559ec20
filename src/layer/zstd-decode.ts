import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { Duplex, Transform, type Readable, type Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { fzstd } from '../lazy.js';
import { MAX_ZSTD_WINDOW, ZstdFrameGuard } from './zstd-frames.js';

/**
 * Which zstd decoder a layer goes through, fastest first: Node's own (zlib, Node >= 22.15), the
 * reference `zstd` command (streamed through a child process), or fzstd (pure JavaScript, many times
 * slower than either). The frame guard runs in front of every one of them.
 */
export type ZstdDecoderKind = 'node' | 'process' | 'fzstd';

type ZlibWithZstd = typeof zlib & {
  createZstdDecompress?: (options?: { chunkSize?: number; params?: Record<number, number> }) => Transform;
  constants: typeof zlib.constants & { ZSTD_d_windowLogMax?: number };
};

let forced: ZstdDecoderKind | null = null;
let detected: ZstdDecoderKind | null = null;

/** Makes every later zstd layer use `kind` (null: the fastest available again); for tests. */
export function forceZstdDecoder(kind: ZstdDecoderKind | null): void {
  forced = kind;
}

/** The decoder zstd layers use here. */
export function zstdDecoderKind(): ZstdDecoderKind {
  if (forced) return forced;
  if (detected) return detected;
  if (typeof (zlib as ZlibWithZstd).createZstdDecompress === 'function') detected = 'node';
  else detected = spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0 ? 'process' : 'fzstd';
  return detected;
}

/** The stages a zstd blob goes through: the frame guard, then the decoder. */
export function zstdStages(kind: ZstdDecoderKind = zstdDecoderKind()): Duplex[] {
  const guard = guardStage();
  switch (kind) {
    case 'node':
      return [guard, nodeZstd()];
    case 'process':
      return [guard, new ZstdProcess()];
    case 'fzstd':
      return [guard, fzstdTransform()];
    default: {
      const never: never = kind;
      throw new Error(`unknown zstd decoder ${String(never)}`);
    }
  }
}

/** Reads frame headers as the bytes pass and refuses a hostile window before any decoder sees it. */
function guardStage(): Transform {
  const guard = new ZstdFrameGuard();
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      try {
        guard.push(chunk);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback(null, chunk);
    },
  });
}

const WINDOW_LOG_MAX = Math.log2(MAX_ZSTD_WINDOW);

/** Node's own zstd decoder (zlib, Node >= 22.15), held to the guard's window bound; the guard is the caller's. */
export function nodeZstd(): Transform {
  const z = zlib as ZlibWithZstd;
  const windowLogMax = z.constants.ZSTD_d_windowLogMax;
  // Output in 1 MiB pieces, as for gzip: fewer trips through the hashing and tar stages.
  const stream = z.createZstdDecompress!({ chunkSize: 1024 * 1024, ...(windowLogMax === undefined ? {} : { params: { [windowLogMax]: WINDOW_LOG_MAX } }) });
  // zlib reports a cut or damaged frame as "unexpected end of file": name the format, as the other
  // decoders do, so the one error line says what was wrong with the layer.
  const destroy = stream.destroy.bind(stream);
  stream.destroy = (err?: Error) => destroy(err && !/zstd/i.test(err.message) ? new Error(`corrupt zstd data (${err.message})`, { cause: err }) : err);
  return stream;
}

/**
 * The `zstd` command as a stream: compressed bytes to its stdin, decompressed bytes from its
 * stdout. A non-zero exit (corrupt or truncated data) fails the stream; destroying the stream
 * kills the process, so a failed layer leaves nothing running.
 */
class ZstdProcess extends Duplex {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = '';
  private exited: number | null | undefined = undefined;
  private outEnded = false;

  constructor() {
    super({ readableHighWaterMark: 1024 * 1024 });
    // --memory: the reference decoder's own bound, the same as the guard's.
    this.child = spawn('zstd', ['-d', '-c', '-q', `--memory=${MAX_ZSTD_WINDOW / (1024 * 1024)}MB`], { stdio: ['pipe', 'pipe', 'pipe'] });
    const { child } = this;
    child.on('error', (err) => this.destroy(new Error('cannot run the zstd command', { cause: err })));
    // EPIPE when the process died first: its exit code says why.
    child.stdin.on('error', () => {});
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      if (this.stderr.length < 4096) this.stderr += text;
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stdout.on('end', () => {
      this.outEnded = true;
      this.settle();
    });
    child.on('exit', (code) => {
      this.exited = code;
      this.settle();
    });
  }

  private settle(): void {
    if (this.exited === undefined || !this.outEnded || this.destroyed) return;
    if (this.exited === 0) this.push(null);
    else this.destroy(new Error(`corrupt zstd data (${this.stderr.trim().split('\n').at(-1) || `zstd exited with ${this.exited}`})`));
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.child.stdin.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.exited === undefined) this.child.kill();
    callback(err);
  }
}

/** fzstd is pure JavaScript; it pushes output through a callback. */
function fzstdTransform(): Transform {
  let finished = false;
  const stream = new (fzstd().Decompress)((chunk: Uint8Array, final?: boolean) => {
    if (chunk.length > 0) transform.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (final) finished = true;
  });
  const transform = new Transform({
    transform(chunk: Buffer, _enc, callback) {
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
