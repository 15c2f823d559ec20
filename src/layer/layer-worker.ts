import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
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
  /** This worker's slot in `walking`. */
  index: number;
  /** Int32 per layer worker: 1 while it walks a layer (its peers then send it no batches). */
  walking: SharedArrayBuffer;
}

/** From the scan's thread: a layer to walk, or the port to another layer worker (its `index`). */
export type LayerWorkerRequest =
  | { type: 'walk'; blob: BlobRange }
  | { type: 'peer'; port: MessagePort; index: number };

export type LayerWorkerMessage =
  | { type: 'progress'; files: number; bytes: number }
  | { type: 'done'; scan: LayerScan }
  | { type: 'error'; messages: string[] };

/**
 * One thread that walks whole layers (a blob range at a time): it reads, decompresses, hashes and
 * walks the layer and runs detection inline, so nothing is copied to another thread but the result.
 */
const { rules, plan, limits, index, walking: walkingBuffer } = workerData as LayerJob;
const walking = new Int32Array(walkingBuffer);
// Inline detection (jobs 0), shared with peers that walk nothing at the time (see addPeer).
const pool = new DetectionPool(rules, 0, plan);

parentPort!.on('message', (msg: LayerWorkerRequest) => {
  switch (msg.type) {
    case 'walk':
      void walk(msg.blob);
      return;
    case 'peer':
      pool.addPeer(msg.port, () => Atomics.load(walking, msg.index) !== 0);
      return;
    default: {
      const never: never = msg;
      throw new Error(`unknown layer worker request ${JSON.stringify(never)}`);
    }
  }
});

async function walk(blob: BlobRange): Promise<void> {
  Atomics.store(walking, index, 1);
  try {
    let last = 0;
    const scan = await scanLayer(blob, pool, (p) => {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      parentPort!.postMessage({ type: 'progress', files: p.files, bytes: p.bytes } satisfies LayerWorkerMessage);
    }, limits);
    parentPort!.postMessage({ type: 'done', scan } satisfies LayerWorkerMessage);
  } catch (err) {
    parentPort!.postMessage({ type: 'error', messages: causeChain(err) } satisfies LayerWorkerMessage);
  } finally {
    Atomics.store(walking, index, 0);
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
