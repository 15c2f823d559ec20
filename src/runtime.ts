import { setFlagsFromString } from 'node:v8';

let tuned = false;

/**
 * Tunes V8 for a process that does little but scan: the CLI calls it first thing, and the
 * benchmark runs every variant (the floor included) under it. A library does not change its
 * host's engine behind its back, so scanImage never calls it; an application that runs scans in
 * a process of their own can.
 *
 * Two settings:
 * - a function must run 8 times as much bytecode (1 MiB) before the optimising compiler takes it.
 *   A scan's hot loops reach that at once; what it spares is compiling the lukewarm code around
 *   them (stream plumbing, per-file bookkeeping), and compiling it again after each
 *   deoptimisation, on a machine whose cores are already busy.
 * - threads started from now on get `gc()`, with which a layer worker collects once its dead
 *   decompressed chunks and file reads add up to COLLECT_EXTERNAL_BYTES (see layer-worker.ts):
 *   left to V8, they reach 64-80 MiB per worker before a full collection, and the C allocator
 *   keeps each worker's high-water mark as RSS.
 *
 * Only settings V8 reads when it decides belong here (the compiler's budget; `gc` is installed in
 * contexts created later), so changing them at run time is safe. Garbage-collector sizes are
 * fixed at start-up (changing one now aborts the process).
 */
export function tuneForScanning(): void {
  tuned = true;
  setFlagsFromString('--expose-gc');
  // V8 12 and later (Node 22, 24) tier up by invocation counts and have no such flag: setting it
  // there prints "unrecognized flag" on stderr. Their tiering is left as it is (not measured).
  if (Number(process.versions.v8.split('.')[0]) >= 12) return;
  setFlagsFromString('--interrupt-budget=1048576');
}

/** Whether tuneForScanning ran in this process: layer workers then collect their dead buffers themselves. */
export function tunedForScanning(): boolean {
  return tuned;
}
