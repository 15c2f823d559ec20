import type { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { workerThreads } from '../lazy.js';
import { planPatterns, type PatternPlan } from '../detect/engine.js';
import { detectionOnly } from '../detect/pool.js';
import type { RuleSpec } from '../detect/rules.js';
import type { ArchiveLimits } from './nested.js';
import type { LayerScan, WalkProgress } from './walk.js';
import type { BlobRange, LayerJob, LayerWorkerMessage } from './layer-worker.js';

export type { BlobRange };

function workerScript(): URL {
  // Under the test runner this module is TypeScript source; workers need the compiled file.
  if (import.meta.url.endsWith('.ts')) return new URL('../../dist/layer/layer-worker.js', import.meta.url);
  return new URL('./layer-worker.js', import.meta.url);
}

/**
 * Threads that each walk whole layers read from files (archives, layout directories), detection
 * included: a scan then spreads over as many cores as it has layers in flight, and the walk's
 * thread (decompressed chunks, tar headers, hashing, cutting windows, copying them to a detection
 * worker) is no longer one thread for the whole image. Workers start on first use and are reused
 * layer after layer.
 */
export class LayerWorkers {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private plan: PatternPlan[][] | null;
  private failure: Error | null = null;
  private readonly running = new Map<Worker, (err: Error) => void>();

  constructor(
    private readonly rules: readonly RuleSpec[],
    plan: PatternPlan[][] | undefined,
    private readonly limits: ArchiveLimits,
  ) {
    this.plan = plan ?? null;
  }

  private take(): Worker {
    const ready = this.idle.pop();
    if (ready) return ready;
    this.plan ??= planPatterns(this.rules);
    const workerData: LayerJob = { rules: detectionOnly(this.rules), plan: this.plan, limits: this.limits };
    // A young generation of 16 MiB rather than V8's default: a lower peak RSS for the same CPU (a
    // smaller one saves more memory, but then collections cost CPU).
    const worker = new (workerThreads().Worker)(fileURLToPath(workerScript()), { workerData, resourceLimits: { maxYoungGenerationSizeMb: 16 } });
    this.all.add(worker);
    worker.on('error', (err) => this.running.get(worker)?.(new Error('a layer worker crashed', { cause: err })));
    worker.on('exit', (code) => {
      this.all.delete(worker);
      this.running.get(worker)?.(new Error(`a layer worker exited unexpectedly (code ${code})`));
    });
    return worker;
  }

  /** Walks one layer blob on a worker; rejects with the walk's error (its causes kept as messages). */
  scan(blob: BlobRange, onProgress?: (p: WalkProgress) => void): Promise<LayerScan> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.take();
    return new Promise<LayerScan>((resolve, reject) => {
      const finish = (): void => {
        worker.off('message', onMessage);
        this.running.delete(worker);
      };
      const onMessage = (msg: LayerWorkerMessage): void => {
        switch (msg.type) {
          case 'progress':
            onProgress?.({ files: msg.files, bytes: msg.bytes });
            return;
          case 'done':
            finish();
            this.idle.push(worker);
            resolve(msg.scan);
            return;
          case 'error':
            finish();
            this.idle.push(worker);
            reject(chainedError(msg.messages));
            return;
          default: {
            const never: never = msg;
            throw new Error(`unknown layer worker message ${JSON.stringify(never)}`);
          }
        }
      };
      worker.on('message', onMessage);
      this.running.set(worker, (err) => {
        finish();
        reject(err);
      });
      worker.postMessage(blob);
    });
  }

  /** Ends every worker; layers still walking reject with `reason`. */
  async close(reason?: Error): Promise<void> {
    this.failure ??= reason ?? new Error('layer workers closed');
    for (const fail of [...this.running.values()]) fail(this.failure);
    await Promise.all([...this.all].map((w) => w.terminate()));
  }
}

function chainedError(messages: string[]): Error {
  let err: Error | undefined;
  for (const message of [...messages].reverse()) err = new Error(message, err ? { cause: err } : undefined);
  return err ?? new Error('layer walk failed');
}
