import type { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { ScannedChanges } from '../cache/layer-cache.js';
import { workerThreads } from '../lazy.js';
import { tunedForScanning } from '../runtime.js';
import { planPatterns, type PatternPlan } from '../detect/engine.js';
import { detectionOnly } from '../detect/pool.js';
import type { RuleSpec } from '../detect/rules.js';
import { ruleSource, type RuleSource } from '../detect/spec.js';
import type { ArchiveLimits } from './nested.js';
import { PathTable } from './path-table.js';
import type { LayerScan, WalkProgress } from './walk.js';
import type { BlobRange, LayerJob, LayerWorkerMessage, LayerWorkerRequest } from './layer-worker.js';

export type { BlobRange };

/** A layer's scan, its changes as the walk listed them or as a layer worker sent them back. */
export type ScannedLayer = Omit<LayerScan, 'changes'> & { changes: ScannedChanges };

function workerScript(): URL {
  // Under the test runner this module is TypeScript source; workers need the compiled file.
  if (import.meta.url.endsWith('.ts')) return new URL('../../dist/layer/layer-worker.js', import.meta.url);
  return new URL('./layer-worker.js', import.meta.url);
}

/**
 * Threads that each walk whole layers read from files (archives, layout directories), detection
 * included: a scan then spreads over as many cores as it has layers in flight, and the walk's
 * work (decompressed chunks, tar headers, hashing, cutting windows, copying them to a detection
 * worker) is not held to one thread for the whole image. All `size` workers start with the first
 * layer and are reused layer after layer; each pair shares a port, over which a worker that walks
 * no layer at the time takes detection batches from one that does, so a single big layer (or the
 * last one) keeps every worker busy too.
 */
export class LayerWorkers {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private plan: PatternPlan[][] | null = null;
  /** Read when the workers start, not before: a scan served from the layer cache never reads the rules whole. */
  private readonly source: RuleSource;
  private failure: Error | null = null;
  private readonly running = new Map<Worker, (err: Error) => void>();
  private readonly walking: SharedArrayBuffer;
  private readonly archives = new SharedArrayBuffer(4);
  private started = false;

  constructor(
    rules: readonly RuleSpec[] | RuleSource,
    plan: PatternPlan[][] | undefined,
    private readonly limits: ArchiveLimits,
    private readonly size = 2,
  ) {
    this.source = ruleSource(rules, plan);
    this.walking = new SharedArrayBuffer(4 * size);
  }

  /** Starts every worker and gives each pair a port of their own. */
  private startAll(): void {
    this.started = true;
    const { MessageChannel } = workerThreads();
    const workers: Worker[] = [];
    for (let index = 0; index < this.size; index++) {
      const worker = this.spawn(index);
      for (const [other, peer] of workers.entries()) {
        const { port1, port2 } = new MessageChannel();
        worker.postMessage({ type: 'peer', port: port1, index: other } satisfies LayerWorkerRequest, [port1]);
        peer.postMessage({ type: 'peer', port: port2, index } satisfies LayerWorkerRequest, [port2]);
      }
      workers.push(worker);
    }
    // Taken from the end: the first worker walks the first layer.
    this.idle.push(...workers.reverse());
  }

  private take(): Worker {
    if (!this.started) this.startAll();
    const ready = this.idle.pop();
    // The scan runs at most `size` layers at once, so one is always free.
    if (!ready) throw new Error('no layer worker free');
    return ready;
  }

  private spawn(index: number): Worker {
    const { rules } = this.source;
    this.plan ??= this.source.plan ?? planPatterns(rules);
    const workerData: LayerJob = { rules: detectionOnly(rules), plan: this.plan, limits: this.limits, index, walking: this.walking, archives: this.archives, collect: tunedForScanning() };
    // A young generation of 8 MiB rather than V8's default (up to 48 MiB): what survives a young
    // collection here is a few MiB of buffers and bookkeeping, and each worker's young space
    // counts in the process's peak RSS once touched.
    const worker = new (workerThreads().Worker)(fileURLToPath(workerScript()), { workerData, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    this.all.add(worker);
    worker.on('error', (err) => this.running.get(worker)?.(new Error('a layer worker crashed', { cause: err })));
    worker.on('exit', (code) => {
      this.all.delete(worker);
      // A worker gone while idle would hang the next layer given to it; its peers lose a helper.
      this.failure ??= new Error(`a layer worker exited unexpectedly (code ${code})`);
      this.running.get(worker)?.(new Error(`a layer worker exited unexpectedly (code ${code})`));
    });
    return worker;
  }

  /** Walks one layer blob on a worker; rejects with the walk's error (its causes kept as messages). */
  scan(blob: BlobRange, onProgress?: (p: WalkProgress) => void): Promise<ScannedLayer> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.take();
    return new Promise<ScannedLayer>((resolve, reject) => {
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
            resolve({ ...msg.scan, changes: { ...msg.scan.changes, entries: new PathTable(msg.scan.changes.entries) } });
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
      worker.postMessage({ type: 'walk', blob } satisfies LayerWorkerRequest);
    });
  }

  /** Ends every worker; layers still walking reject with `reason`. */
  async close(reason?: Error): Promise<void> {
    this.failure ??= reason ?? new Error('layer workers closed');
    for (const fail of [...this.running.values()]) fail(this.failure);
    await Promise.all([...this.all].map((w) => w.terminate()));
  }
}

/**
 * The order in which to hand layers to the layer workers: those already known (null: a cache hit,
 * no work) first, then the biggest blobs first, ties in image order. A worker walks one whole
 * layer, so in image order a big last layer ran alone while the other workers sat idle (a 1 GB
 * image of 4 layers: one of two workers idle 38% of its scan). Started longest first, the small
 * ones fill in around it. Results are kept by index, so the order changes no output.
 */
export function layerStartOrder(sizes: readonly (number | null)[]): number[] {
  const key = (i: number): number => sizes[i] ?? Number.POSITIVE_INFINITY;
  return sizes.map((_, i) => i).sort((a, b) => key(b) - key(a) || a - b);
}

function chainedError(messages: string[]): Error {
  let err: Error | undefined;
  for (const message of [...messages].reverse()) err = new Error(message, err ? { cause: err } : undefined);
  return err ?? new Error('layer walk failed');
}
