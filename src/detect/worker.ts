import { parentPort, workerData } from 'node:worker_threads';
import { DetectionEngine, type PatternPlan } from './engine.js';
import type { RuleSpec } from './rules.js';
import { answerBatch, type BatchRequest } from './batch.js';

export type { BatchRequest, BatchResponse } from './batch.js';

const { rules, plan } = workerData as { rules: RuleSpec[]; plan: PatternPlan[][] };
const engine = new DetectionEngine(rules, { plan });
const port = parentPort!;

port.on('message', (req: BatchRequest) => {
  const res = answerBatch(engine, req);
  port.postMessage(res, res.buffer ? [res.buffer] : []);
});
