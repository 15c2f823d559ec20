import { setFlagsFromString } from 'node:v8';

let tuned = false;

/**
 * Tunes V8 for a process that does little but scan: the CLI calls it first thing, and the
 * benchmark runs every variant (the floor included) under it. A library does not change its
 * host's engine behind its back, so scanImage never calls it; an application that runs scans in
 * a process of their own can.
 *
 * Three settings:
 * - a function must run 8 times as much bytecode (1 MiB) before the optimising compiler takes it.
 *   A scan's hot loops reach that at once; what it spares is compiling the lukewarm code around
 *   them (stream plumbing, per-file bookkeeping), and compiling it again after each
 *   deoptimisation, on a machine whose cores are already busy.
 * - threads started from now on get `gc()`, with which a layer worker collects once its dead
 *   decompressed chunks and file reads add up to COLLECT_EXTERNAL_BYTES (see layer-worker.ts):
 *   left to V8, they reach 64-80 MiB per worker before a full collection, and the C allocator
 *   keeps each worker's high-water mark as RSS.
 * - regular expressions compile to plain code: every thread compiles its own native code for each
 *   pattern its text runs (per isolate), and the optimising regexp compiler emits a node's code
 *   again for each path into it, up to ten copies. The long tail's patterns with their heading
 *   and host reach (optional pieces in a row) took ~29 KB each that way (22 KB without); all
 *   detector patterns compiled: 26.9 -> 20.3 MiB of code on Node 20, 33.1 -> 22.0 on Node 24.
 *   What a pattern matches does not change, only how fast (README, "Memory": ~3% more engine
 *   time than the optimised code before the long tail's patterns were shortened).
 *
 * Only settings V8 reads when it decides belong here (the compilers' settings; `gc` is installed in
 * contexts created later), so changing them at run time is safe. Garbage-collector sizes are
 * fixed at start-up (changing one now aborts the process).
 */
export function tuneForScanning(): void {
  tuned = true;
  setFlagsFromString('--expose-gc');
  // Read when a pattern is compiled (on its first exec in each thread), so it holds for all.
  setFlagsFromString('--no-regexp-optimization');
  // V8 12 and later (Node 22, 24) tier up by invocation counts and have no such flag: setting it
  // there prints "unrecognized flag" on stderr. Their tiering is left as it is (not measured).
  if (Number(process.versions.v8.split('.')[0]) >= 12) return;
  setFlagsFromString('--interrupt-budget=1048576');
}

/** Whether tuneForScanning ran in this process: layer workers then collect their dead buffers themselves. */
export function tunedForScanning(): boolean {
  return tuned;
}
