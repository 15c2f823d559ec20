import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { DetectionPool } from '../detect/pool.js';
import type { PatternPlan } from '../detect/engine.js';
import type { RuleSpec } from '../detect/rules.js';
import type { ArchiveLimits } from './nested.js';
import { scanLayer, type LayerScan } from './walk.js';

/** A layer blob that is a byte range of a file (an archive member, a layout's blob file). */
export interface BlobRange {
  path: string;
  start: number;
  size: number;
}

export interface LayerJob {
  rules: RuleSpec[];
  plan: PatternPlan[][];
  limits: ArchiveLimits;
}

export type LayerWorkerMessage =
  | { type: 'progress'; files: number; bytes: number }
  | { type: 'done'; scan: LayerScan }
  | { type: 'error'; messages: string[] };

/**
 * One thread that walks whole layers (a blob range at a time): it reads, decompresses, hashes and
 * walks the layer and runs detection inline, so nothing is copied to another thread but the result.
 */
const { rules, plan, limits } = workerData as LayerJob;
// Inline detection (jobs 0): this thread is the layer's whole pipeline.
const pool = new DetectionPool(rules, 0, plan);

parentPort!.on('message', (blob: BlobRange) => {
  void walk(blob);
});

async function walk(blob: BlobRange): Promise<void> {
  try {
    // createReadStream cannot express an empty range (end < start reads to EOF).
    const stream = blob.size === 0 ? Readable.from([]) : createReadStream(blob.path, { start: blob.start, end: blob.start + blob.size - 1, highWaterMark: 1024 * 1024 });
    let last = 0;
    const scan = await scanLayer(stream, pool, (p) => {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      parentPort!.postMessage({ type: 'progress', files: p.files, bytes: p.bytes } satisfies LayerWorkerMessage);
    }, limits);
    parentPort!.postMessage({ type: 'done', scan } satisfies LayerWorkerMessage);
  } catch (err) {
    parentPort!.postMessage({ type: 'error', messages: causeChain(err) } satisfies LayerWorkerMessage);
  }
}

/** An error and its causes, outermost first: what crosses to the scan's thread. */
function causeChain(err: unknown): string[] {
  const out: string[] = [];
  for (let e: unknown = err; e !== undefined && out.length < 8; e = e instanceof Error ? e.cause : undefined) {
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a thrown non-Error has no message: String() is all there is, and prints none of its fields
    out.push(e instanceof Error ? e.message : String(e));
  }
  return out;
}
