import { setFlagsFromString } from 'node:v8';

/**
 * Tunes V8 for a process that does little but scan: the CLI calls it first thing, and the
 * benchmark runs every variant (the floor included) under it. A library does not change its
 * host's engine behind its back, so scanImage never calls it; an application that runs scans in
 * a process of their own can.
 *
 * The one setting: a function must run 8 times as much bytecode (1 MiB) before the optimising
 * compiler takes it. A scan's hot loops reach that at once; what it spares is compiling the
 * lukewarm code around them (stream plumbing, per-file bookkeeping), and compiling it again after
 * each deoptimisation, on a machine whose cores are already busy.
 *
 * Only compiler settings belong here: V8 reads them when it decides, so changing them at run time
 * is safe. Garbage-collector settings are fixed at start-up (changing one now aborts the process).
 */
export function tuneForScanning(): void {
  // V8 12 and later (Node 22, 24) tier up by invocation counts and have no such flag: setting it
  // there prints "unrecognized flag" on stderr. Their tiering is left as it is (not measured).
  if (Number(process.versions.v8.split('.')[0]) >= 12) return;
  setFlagsFromString('--interrupt-budget=1048576');
}
