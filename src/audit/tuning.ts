/** Timings of the queue; the defaults suit production, tests shorten them (also through the environment). */
export interface QueueTuning {
  /** How long a worker's hold on a job lasts without renewal: a worker killed mid-layer gives its job up after this. */
  lockDurationMs?: number;
  /** How often workers look for jobs whose holder died. */
  stalledIntervalMs?: number;
  /** How often the audit looks for finished layers. */
  pollMs?: number;
  /** How often the audit says, while it waits on the queue, how far the workers are. */
  noteEveryMs?: number;
}

export function tuningFromEnv(env: NodeJS.ProcessEnv): QueueTuning {
  const num = (name: string) => {
    const v = Number(env[name]);
    return Number.isInteger(v) && v > 0 ? v : undefined;
  };
  return { lockDurationMs: num('STRATASCAN_QUEUE_LOCK_MS'), stalledIntervalMs: num('STRATASCAN_QUEUE_STALLED_MS'), pollMs: num('STRATASCAN_QUEUE_POLL_MS'), noteEveryMs: num('STRATASCAN_QUEUE_NOTE_MS') };
}
