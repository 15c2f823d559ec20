import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { DetectionPool } from '../detect/pool.js';
import { sharedArchiveGate } from './archive-gate.js';
import type { PatternPlan } from '../detect/engine.js';
import type { RuleSpec } from '../detect/rules.js';
import type { ArchiveLimits } from './nested.js';
import { transferables, type PathTableData } from './path-table.js';
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
  /** One Int32 shared by the layer workers: the bytes of big archives held whole (src/layer/archive-gate.ts). */
  archives: SharedArrayBuffer;
  /** The process was tuned for scanning (src/runtime.ts): collect dead buffers with `gc()` if there is one. */
  collect: boolean;
}

/** From the scan's thread: a layer to walk, or the port to another layer worker (its `index`). */
export type LayerWorkerRequest =
  | { type: 'walk'; blob: BlobRange }
  | { type: 'peer'; port: MessagePort; index: number };

/** A layer's scan as it crosses to the scan's thread: its paths as a PathTable's buffers, transferred. */
export type PostedScan = Omit<LayerScan, 'changes'> & { changes: { entries: PathTableData; whiteouts: Set<string>; opaqueDirs: Set<string> } };

export type LayerWorkerMessage =
  | { type: 'progress'; files: number; bytes: number }
  | { type: 'done'; scan: PostedScan }
  | { type: 'error'; messages: string[] };

/**
 * One thread that walks whole layers (a blob range at a time): it reads, decompresses, hashes and
 * walks the layer and runs detection inline, so nothing is copied to another thread but the result.
 */
const { rules, plan, limits, index, walking: walkingBuffer, archives, collect } = workerData as LayerJob;
const walking = new Int32Array(walkingBuffer);
const collector = externalCollector(collect);
const collectIdle = idleCollector(collect);
// A released archive is collected before a waiting worker allocates its own (see archive-gate.ts).
const archiveGate = sharedArchiveGate(archives, { onRelease: collectIdle ?? undefined });
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
    const scan = await scanLayer(collector ? { ...blob, beforeRead: collector } : blob, pool, (p) => {
      const now = performance.now();
      if (now - last < 100) return;
      last = now;
      parentPort!.postMessage({ type: 'progress', files: p.files, bytes: p.bytes } satisfies LayerWorkerMessage);
    }, limits, archiveGate);
    const { entries, whiteouts, opaqueDirs } = scan.changes;
    const paths = entries.data();
    parentPort!.postMessage({ type: 'done', scan: { ...scan, changes: { entries: paths, whiteouts, opaqueDirs } } } satisfies LayerWorkerMessage, transferables(paths));
  } catch (err) {
    parentPort!.postMessage({ type: 'error', messages: causeChain(err) } satisfies LayerWorkerMessage);
  } finally {
    Atomics.store(walking, index, 0);
    collectIdle?.();
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

// A full collection once the external memory (decompressed chunks, file reads, joined windows:
// nearly all dead by then) has grown by this much. Left to V8, a walking worker's dead buffers
// pile up to 64-80 MiB before its old generation or the external limit starts a collection, and
// the C allocator keeps that high-water mark as RSS, per worker. A collection of a worker's
// heap (20-30 MiB) is a few ms; at 24 MiB, a 1 GB gzip image takes ~20 of them per worker, and
// the scan's CPU time did not grow (A/B in the README's Performance section). 12 MiB: each
// walking worker's arena stayed ~14 MiB lower at the 1 GB peak, same CPU (one pair of runs).
// Checked before each read and before each archive member (walk.ts, ScanSink.collect).
const COLLECT_EXTERNAL_BYTES = 12 * 1024 * 1024;
/**
 * A full collection once a layer's result is posted: what the walk left (its path table's
 * buffers, the last chunks and windows, the layer's bookkeeping) is garbage, and a worker that
 * waits for its next layer, or has none left, kept it through the rest of the scan, another
 * worker's peak included (at 4 GB, ~30 MiB of one idle worker's heap during the other's last
 * layer). One collection per layer: a few ms.
 */
function idleCollector(asked: boolean): (() => void) | null {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!asked || typeof gc !== 'function') return null;
  return () => gc();
}

/**
 * Collects when the external memory has grown by COLLECT_EXTERNAL_BYTES since the last
 * collection. Null without `gc()` (only a process tuned for scanning exposes it) or when not asked
 * to: a library's host keeps V8's own schedule.
 */
function externalCollector(asked: boolean): (() => void) | null {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!asked || typeof gc !== 'function') return null;
  let floor = getHeapStatistics().external_memory;
  return () => {
    const external = getHeapStatistics().external_memory;
    // V8's own collections lower it too: grow from the lowest seen.
    if (external < floor) floor = external;
    if (external - floor < COLLECT_EXTERNAL_BYTES) return;
    gc();
    floor = getHeapStatistics().external_memory;
  };
}
