import { parentPort, workerData } from 'node:worker_threads';
import { DetectionEngine, type PatternPlan, type RawMatch } from './engine.js';
import type { RuleSpec } from './rules.js';
import { GzipOutcome, scanGzipMember } from './gzip-member.js';

/** A batch of text chunks packed into one transferred buffer. */
export interface BatchRequest {
  id: number;
  buffer: ArrayBuffer;
  /** [start, end) of each chunk within `buffer`. */
  spans: number[];
  /** Per chunk, the bytes whose newlines to count (see BatchResponse.newlines); absent: none. */
  countTo?: number[];
  /** Per chunk, 1 when it is a small gzip file to inflate and scan (see scanGzipMember); absent: none. */
  gunzip?: number[];
}

export interface BatchResponse {
  id: number;
  results: RawMatch[][];
  /** Per chunk asked for: newlines in its first countTo bytes and the offset of the last (-1: none). */
  newlines?: number[];
  /** Per chunk when the request had `gunzip`: what became of it (GzipOutcome). */
  outcomes?: number[];
  error?: string;
  /** The request's buffer, handed back for the next batch. */
  buffer?: ArrayBuffer;
}

const { rules, plan } = workerData as { rules: RuleSpec[]; plan: PatternPlan[][] };
const engine = new DetectionEngine(rules, { plan });

parentPort!.on('message', (req: BatchRequest) => {
  const results: RawMatch[][] = [];
  const countTo = req.countTo;
  const newlines: number[] | undefined = countTo ? [] : undefined;
  try {
    const bytes = new Uint8Array(req.buffer);
    const gunzip = req.gunzip;
    const outcomes: number[] | undefined = gunzip ? [] : undefined;
    for (let i = 0; i < req.spans.length; i += 2) {
      const chunk = bytes.subarray(req.spans[i], req.spans[i + 1]);
      if (gunzip && gunzip[i >> 1] === 1) {
        const { outcome, matches } = scanGzipMember(engine, chunk);
        results.push(matches);
        outcomes!.push(outcome);
        newlines?.push(-1, -1);
        continue;
      }
      outcomes?.push(GzipOutcome.Scanned);
      results.push(engine.scan(chunk));
      // Right after the scan, while the prefilter's copy of the chunk is still in place.
      if (newlines) newlines.push(...(countTo![i >> 1]! > 0 ? engine.newlines(chunk, countTo![i >> 1]!) : [-1, -1]));
    }
    parentPort!.postMessage({ id: req.id, results, newlines, outcomes, buffer: req.buffer } satisfies BatchResponse, [req.buffer]);
  } catch (err) {
    parentPort!.postMessage({ id: req.id, results: [], error: err instanceof Error ? err.message : String(err) } satisfies BatchResponse);
  }
});
