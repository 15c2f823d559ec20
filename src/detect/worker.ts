import { parentPort, workerData } from 'node:worker_threads';
import { DetectionEngine, type PatternPlan, type RawMatch } from './engine.js';
import type { RuleSpec } from './rules.js';

/** A batch of text chunks packed into one transferred buffer. */
export interface BatchRequest {
  id: number;
  buffer: ArrayBuffer;
  /** [start, end) of each chunk within `buffer`. */
  spans: number[];
}

export interface BatchResponse {
  id: number;
  results: RawMatch[][];
  error?: string;
  /** The request's buffer, handed back for the next batch. */
  buffer?: ArrayBuffer;
}

const { rules, plan } = workerData as { rules: RuleSpec[]; plan: PatternPlan[][] };
const engine = new DetectionEngine(rules, { plan });

parentPort!.on('message', (req: BatchRequest) => {
  const results: RawMatch[][] = [];
  try {
    const bytes = new Uint8Array(req.buffer);
    for (let i = 0; i < req.spans.length; i += 2) results.push(engine.scan(bytes.subarray(req.spans[i]!, req.spans[i + 1]!)));
    parentPort!.postMessage({ id: req.id, results, buffer: req.buffer } satisfies BatchResponse, [req.buffer]);
  } catch (err) {
    parentPort!.postMessage({ id: req.id, results: [], error: err instanceof Error ? err.message : String(err) } satisfies BatchResponse);
  }
});
