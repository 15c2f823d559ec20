import type { Readable } from 'node:stream';
import type { DetectionPool } from './detect/pool.js';
import type { ImageContainer } from './source/container.js';
import { StreamedImage } from './source/stream.js';
import type { ScanOptions } from './types.js';

/**
 * How scanImage rejects when its `signal` aborts. Named "AbortError" with code ABORT_ERR like
 * Node's own cancellations, so `err.name === 'AbortError'` works too; `cause` is the signal's reason.
 */
export class ScanAbortedError extends Error {
  override name = 'AbortError';
  readonly code = 'ABORT_ERR';
}

/**
 * Ties one scan to `options.signal`. On abort the detection pool is aborted (its workers end),
 * every blob stream opened through `tracking` and the image on `stdin` are destroyed, and `race`
 * rejects at once, also for waits nothing can interrupt (a registry request in flight).
 */
export class Cancellation {
  error: ScanAbortedError | null = null;
  private readonly streams = new Set<Readable>();
  private readonly aborted: Promise<never>;
  private readonly onAbort: () => void;

  constructor(
    private readonly target: string,
    private readonly options: ScanOptions,
    private readonly pool: DetectionPool,
  ) {
    let reject!: (err: Error) => void;
    this.aborted = new Promise<never>((_resolve, rej) => {
      reject = rej;
    });
    this.aborted.catch(() => {});
    this.onAbort = () => {
      const err = new ScanAbortedError(`scan of ${this.target} cancelled`, { cause: this.options.signal?.reason });
      this.error = err;
      void this.pool.abort(err).catch(() => {});
      for (const s of this.streams) s.destroy(err);
      for (const fn of this.abortHandlers) fn(err);
      const input = this.options.stdin ?? (this.target === '-' ? process.stdin : undefined);
      (input as Readable | undefined)?.destroy(err);
      reject(err);
    };
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly abortHandlers: ((err: Error) => void)[] = [];

  /** Runs `fn` on abort (at once if already aborted): for work that streams cannot reach, like layer workers. */
  whenAborted(fn: (err: Error) => void): void {
    if (this.error) fn(this.error);
    else this.abortHandlers.push(fn);
  }

  race<T>(work: Promise<T>): Promise<T> {
    return this.options.signal ? Promise.race([work, this.aborted]) : work;
  }

  /** The container, with each blob stream it opens destroyed on abort (at once if already aborted). */
  tracking(container: ImageContainer): ImageContainer {
    // A streamed image's layers were consumed while ingesting: its input is destroyed instead.
    if (!this.options.signal || container instanceof StreamedImage) return container;
    const track = (stream: Readable): Readable => {
      if (this.error) stream.destroy(this.error);
      else {
        this.streams.add(stream);
        stream.once('close', () => this.streams.delete(stream));
      }
      return stream;
    };
    return {
      kind: container.kind,
      label: container.label,
      has: (name) => container.has(name),
      size: (name) => container.size(name),
      read: (name, maxBytes) => container.read(name, maxBytes),
      open: (name) => track(container.open(name)),
      // A few positional reads of the blob's first MiB: over before a cancel could need to interrupt them.
      ...(container.hashHead ? { hashHead: (name: string, bytes: number) => container.hashHead!(name, bytes) } : {}),
      ...(container.locate ? { locate: (name: string) => container.locate!(name) } : {}),
      close: () => container.close(),
    };
  }

  dispose(): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
  }
}
