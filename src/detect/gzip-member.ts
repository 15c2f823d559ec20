import { archiveKind, isBinary, RATIO_FLOOR_BYTES } from '../layer/nested.js';
import type { DetectionEngine, RawMatch } from './engine.js';
import { SmallGunzip } from './kept-gunzip.js';

/** What became of a small gzip file handed to detection whole. */
export const GzipOutcome = {
  /** Inflated and scanned as text: its matches are the file's. */
  Scanned: 0,
  /** Inflated to binary content: skipped, as the walk would skip it. */
  Binary: 1,
  /** Not taken here (a tar inside, output over the bound, corrupt or truncated data): the walk scans it itself. */
  Declined: 2,
} as const;
export type GzipOutcome = (typeof GzipOutcome)[keyof typeof GzipOutcome];

/**
 * Inflates one small .gz file (man pages, changelog.Debian.gz) in one bounded call and scans what
 * it holds, where the detection runs: inflating thousands of them on the walk's thread would make
 * it the bottleneck.
 * Only output up to RATIO_FLOOR_BYTES is taken (no archive bound applies below it, and it is one
 * detection window): everything else is declined and goes the streamed way, so the results are
 * the ones the streamed scan gives. The files are inflated with one zlib handle per thread
 * (`inflater`), into a buffer that serves the next file too: the engine keeps no byte of it.
 */
export function scanGzipMember(engine: DetectionEngine, compressed: Uint8Array, inflater: SmallGunzip = threadInflater()): { outcome: GzipOutcome; matches: RawMatch[] } {
  let text: Buffer;
  try {
    text = inflater.inflate(compressed);
  } catch {
    return { outcome: GzipOutcome.Declined, matches: [] };
  }
  if (text.length === 0) return { outcome: GzipOutcome.Scanned, matches: [] };
  if (archiveKind(text) === 'tar') return { outcome: GzipOutcome.Declined, matches: [] };
  if (isBinary(text)) return { outcome: GzipOutcome.Binary, matches: [] };
  return { outcome: GzipOutcome.Scanned, matches: engine.scan(text) };
}

let shared: SmallGunzip | null = null;

/** This thread's inflater for small gzip files (each worker thread has its own module state). */
function threadInflater(): SmallGunzip {
  return (shared ??= new SmallGunzip(RATIO_FLOOR_BYTES));
}
