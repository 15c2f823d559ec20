/**
 * Bounds the bytes of big archives that layer workers hold whole at once. An archive in a layer is
 * read into memory before its members open (a zip's directory is at its end), and on two cores two
 * workers walk two layers at once: the 4 GB real-content image held two copies of a JDK's 53 MB
 * `src.zip` at the same moment, ~50 MiB of its peak RSS. Past the budget, a worker waits (its tar
 * stream paused, its event loop free for peers' detection batches) until another releases; what is
 * scanned and found does not change, only when.
 */

/** Archives smaller than this are not counted: the walk's own chunks are of that order. */
export const GATED_ARCHIVE_BYTES = 4 * 1024 * 1024;
/** Bytes of counted archives held at once by all layer workers; a lone archive always goes ahead. */
export const ARCHIVE_GATE_BUDGET = 64 * 1024 * 1024;
/**
 * A wait longer than this goes ahead anyway: the gate saves memory, and a holder that never
 * releases (a worker that died while holding it) must not hang the scan.
 */
const MAX_WAIT_MS = 30_000;

/** Lets an archive of `bytes` be held; resolves to its release (call it once, when the archive is dropped). */
export type ArchiveGate = (bytes: number) => Promise<() => void> | (() => void);

const nothing = (): void => {};

/**
 * A gate shared through `buffer` (one Int32: the counted bytes held) by every thread that holds
 * it. `onRelease` runs before waiters are woken: a worker frees the dead archive there first, or
 * the next one would be allocated beside it.
 */
export function sharedArchiveGate(
  buffer: SharedArrayBuffer,
  { onRelease = nothing, budget = ARCHIVE_GATE_BUDGET, maxWaitMs = MAX_WAIT_MS }: { onRelease?: () => void; budget?: number; maxWaitMs?: number } = {},
): ArchiveGate {
  const held = new Int32Array(buffer);
  const releaseOf = (n: number): (() => void) => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      Atomics.sub(held, 0, n);
      onRelease();
      Atomics.notify(held, 0);
    };
  };
  const tryTake = (n: number): boolean => {
    for (;;) {
      const now = Atomics.load(held, 0);
      if (now !== 0 && now + n > budget) return false;
      if (Atomics.compareExchange(held, 0, now, now + n) === now) return true;
    }
  };
  return (bytes) => {
    if (bytes < GATED_ARCHIVE_BYTES) return nothing;
    const n = Math.min(bytes, budget);
    if (tryTake(n)) return releaseOf(n);
    return waitFor(held, n, tryTake, maxWaitMs).then((taken) => (taken ? releaseOf(n) : nothing));
  };
}

/** Waits until `tryTake` succeeds (true) or `maxWaitMs` have passed (false: go ahead uncounted). */
async function waitFor(held: Int32Array, n: number, tryTake: (n: number) => boolean, maxWaitMs: number): Promise<boolean> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const now = Atomics.load(held, 0);
    if (tryTake(n)) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    // Wakes on a release (notify) or a change of the count since it was read.
    const waiting = (Atomics as unknown as AtomicsWaitAsync).waitAsync(held, 0, now, left);
    if (waiting.async) await waiting.value;
  }
}

/** `Atomics.waitAsync` (ES2024; in Node since 16), which the ES2023 lib this build targets does not declare. */
interface AtomicsWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number, timeout: number): { async: false; value: string } | { async: true; value: Promise<string> };
}
