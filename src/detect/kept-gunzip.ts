import { Gunzip, constants } from 'node:zlib';
import { gunzipWhole } from '../layer/nested.js';

/**
 * The native zlib handle behind a Node zlib object, as `zlib.gunzipSync` drives it (lib/zlib.js,
 * the same on Node 20 and 24): `writeSync` inflates into the given output range and leaves what
 * is left of input and output in the object's `_writeState`; errors come through `onerror`, called
 * during `writeSync`.
 */
interface NativeZlib {
  writeSync(flush: number, input: Uint8Array, inOffset: number, inLength: number, out: Uint8Array, outOffset: number, outLength: number): void;
  reset(): void;
  close(): void;
  onerror: (...args: unknown[]) => void;
}

export interface KeptHandle {
  /** Held so the stream object that owns the handle lives as long as it is used. */
  owner: Gunzip;
  native: NativeZlib;
  /** [output bytes left, input bytes left] after each writeSync. */
  state: Uint32Array;
  failed: boolean;
}

/** The internals of `owner` (a fresh Gunzip) this relies on, or null where the runtime lacks them. */
export function keptHandleOf(owner: Gunzip): KeptHandle | null {
  const internals = owner as unknown as { _handle?: Partial<NativeZlib> | null; _writeState?: unknown };
  const native = internals._handle;
  const state = internals._writeState;
  if (!native || typeof native.writeSync !== 'function' || typeof native.reset !== 'function' || typeof native.close !== 'function' || !(state instanceof Uint32Array) || state.length < 2) return null;
  const kept: KeptHandle = { owner, native: native as NativeZlib, state, failed: false };
  // In place of the stream's handler, which would destroy the stream (and the handle with it).
  kept.native.onerror = () => {
    kept.failed = true;
  };
  return kept;
}

/**
 * Inflates small gzip files one after another with one zlib handle, reset between files, into one
 * output buffer reused from file to file. `zlib.gunzipSync` builds a stream object and a zlib
 * state (~40 KiB with its window) per call and frees both, and allocates the output: for the
 * thousands of man pages and changelogs of a Debian image that cost more than the inflation.
 * What comes out, and which input throws, is what `gunzipSync` with the same bound gives: the
 * same native call with the same flush, one call since the output buffer holds one byte more
 * than the bound. Where the runtime's zlib objects lack the internals, or `kept` is false, each
 * call is `gunzipSync` as before.
 */
export class SmallGunzip {
  private handle: KeptHandle | null = null;
  private out: Buffer | null = null;
  /** False once the runtime showed it has not the internals, or when asked not to use them. */
  private kept: boolean;

  constructor(
    /** Output over this many bytes throws. */
    private readonly maxOutput: number,
    options: { kept?: boolean } = {},
  ) {
    this.kept = options.kept ?? true;
  }

  /** Whether calls go through a kept handle (false: `gunzipSync` each time). */
  get usesKeptHandle(): boolean {
    return this.kept && this.acquire() !== null;
  }

  /**
   * The whole of `data` inflated. With a kept handle the result is a view of a buffer that the
   * next call overwrites: use it before calling again. Throws on corrupt or truncated data and on
   * output over the bound.
   */
  inflate(data: Uint8Array): Buffer {
    // Node's gunzip handle keeps what a stream's first two bytes told it (gzip or not) across a
    // reset: only gzip data, as every caller hands it, goes through the kept handle.
    const handle = this.kept && data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b ? this.acquire() : null;
    if (handle === null) return gunzipWhole(data, this.maxOutput);
    const out = (this.out ??= Buffer.allocUnsafe(this.maxOutput + 1));
    handle.native.reset();
    handle.native.writeSync(constants.Z_FINISH, data, 0, data.length, out, 0, out.length);
    if (handle.failed) {
      this.drop();
      throw new Error('gzip data could not be inflated');
    }
    const left = handle.state[0]!;
    // A full buffer: more than the bound came out (or would have).
    if (left === 0) throw new Error(`gzip data inflates to more than ${this.maxOutput} bytes`);
    return out.subarray(0, out.length - left);
  }

  /** Frees the handle (a later call makes another). */
  close(): void {
    this.drop();
    this.out = null;
  }

  private acquire(): KeptHandle | null {
    if (this.handle === null && this.kept) {
      const owner = new Gunzip();
      this.handle = keptHandleOf(owner);
      if (this.handle === null) {
        owner.destroy();
        this.kept = false;
      }
    }
    return this.handle;
  }

  private drop(): void {
    const handle = this.handle;
    this.handle = null;
    if (handle === null) return;
    // After an error the native side may have closed itself: the stream's own close is a no-op then.
    handle.owner.on('error', () => {});
    handle.owner.close();
  }
}
