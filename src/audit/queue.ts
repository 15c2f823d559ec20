import { Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { layerEntry, layerKey, parseEntry, type BlobRecord, type CachedLayer, type LayerCacheKeyParts, type LayerResult } from '../cache/layer-cache.js';
import { DetectionPool } from '../detect/pool.js';
import { loadRuleSet } from '../detect/rules.js';
import { describeError, ScanError } from '../errors.js';
import { archiveLimits, type ArchiveLimits } from '../layer/nested.js';
import { defaultJobs, layerCacheKeyParts, scanBlob } from '../scan.js';
import { layerJobId, mergeBlobs, RegistryBlobs, type LayerNeed, type LayerScanner, type ResultStore } from './layers.js';

/** The BullMQ queue every audit and worker shares (its keys: `bull:stratascan-layers:*`). */
export const QUEUE_NAME = 'stratascan-layers';
/** Where layer results live in Redis, beside the queue. */
const RESULT_PREFIX = 'stratascan:layer:';

export { tuningFromEnv, type QueueTuning } from './tuning.js';
import type { QueueTuning } from './tuning.js';

export interface QueueAddress {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** host:port/db, for messages: never the password. */
  label: string;
}

/** `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`. */
export function parseQueueUrl(url: string): QueueAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ScanError('--queue takes redis://HOST[:PORT][/DB]');
  }
  if (u.protocol !== 'redis:' || u.hostname === '') throw new ScanError('--queue takes redis://HOST[:PORT][/DB]');
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new ScanError(`--queue: the database ${JSON.stringify(dbText.slice(0, 20))} is not a number`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return {
    host,
    port,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    label: `${u.host}/${db}`,
  };
}

function redisOptions(address: QueueAddress, extra: RedisOptions): RedisOptions {
  const { host, port, db, username, password } = address;
  return { host, port, db, username, password, connectTimeout: 5000, ...extra };
}

/**
 * A connection that has answered PING, or a ScanError naming the server: no retries, so an
 * unreachable Redis is one line within seconds rather than a hang.
 */
export async function connectRedis(address: QueueAddress): Promise<Redis> {
  const redis = new Redis(redisOptions(address, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: false }));
  // ioredis reports why on its 'error' event (ECONNREFUSED); connect() only says the connection closed.
  let why: Error | null = null;
  redis.on('error', (err: Error) => {
    why ??= err;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const cause = why ?? err;
    const code = (cause as NodeJS.ErrnoException).code;
    throw new ScanError(`cannot reach Redis at ${address.label}${code ? ` (${code})` : ''}`, { cause });
  }
  return redis;
}

/** BullMQ's own connections: bounded retries, so a Redis that goes away mid-audit ends it instead of hanging. */
function bullConnection(address: QueueAddress, blocking: boolean): ConnectionOptions {
  return redisOptions(address, {
    maxRetriesPerRequest: blocking ? null : 2,
    retryStrategy: (times: number) => (times > 10 ? null : Math.min(times * 200, 2000)),
  }) as ConnectionOptions;
}

/** Layer results in Redis: the layer-cache entry format (hashes and redacted values, never a raw secret). */
export class RedisStore implements ResultStore {
  constructor(
    private readonly redis: Redis,
    private readonly parts: LayerCacheKeyParts,
  ) {}

  private keys(diffId: string): { entry: string; blobs: string } {
    const key = layerKey(this.parts, diffId);
    return { entry: `${RESULT_PREFIX}${key}`, blobs: `${RESULT_PREFIX}${key}:blobs` };
  }

  async get(diffId: string): Promise<CachedLayer | null> {
    const raw = await this.redis.get(this.keys(diffId).entry);
    return raw === null ? null : parseEntry(raw, this.parts, diffId);
  }

  /** Whether results made from this blob are stored: a set lookup, cheaper than reading the entry. */
  async hasBlob(diffId: string, digest: string): Promise<boolean> {
    return (await this.redis.sismember(this.keys(diffId).blobs, digest)) === 1;
  }

  /** hasBlob for many layers in one round trip. */
  async haveBlobs(wanted: readonly { diffId: string; digest: string }[]): Promise<boolean[]> {
    if (wanted.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const w of wanted) pipeline.sismember(this.keys(w.diffId).blobs, w.digest);
    const answers = (await pipeline.exec()) ?? [];
    return wanted.map((_, i) => {
      const [err, value] = answers[i] ?? [null, 0];
      if (err) throw err;
      return value === 1;
    });
  }

  async put(diffId: string, blob: BlobRecord, result: LayerResult): Promise<CachedLayer> {
    const keys = this.keys(diffId);
    const previous = await this.get(diffId);
    const entry = layerEntry(this.parts, diffId, mergeBlobs(previous?.blobs ?? [], blob), result);
    // The entry first: whoever sees the digest in the set finds results made from it.
    await this.redis.multi().set(keys.entry, JSON.stringify(entry)).sadd(keys.blobs, blob.digest).exec();
    return entry;
  }

  async settled(): Promise<void> {}
}

/** What a layer job carries: where the blob is and what the results must be made with. Never a credential. */
export interface LayerJobData {
  key: string;
  diffId: string;
  digest: string;
  size: number;
  registry: string;
  repository: string;
  archives: ArchiveLimits;
}

interface Waiting {
  diffId: string;
  digest: string;
  jobId: string;
  data: LayerJobData;
  resolve: (entry: CachedLayer) => void;
  reject: (err: Error) => void;
}

const JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'fixed', delay: 1000 },
  // The result in Redis is the record of a layer done; a failed job stays a day for its reason.
  removeOnComplete: true,
  removeOnFail: { age: 24 * 3600 },
} as const;

/** How an audit waits on its queue: what it tells whoever waits, and when it gives up. */
export interface QueueWait {
  /** host:port/db of the queue, for messages. */
  label: string;
  /** How often the audit looks for finished layers. */
  pollMs: number;
  /** How often a line on how the wait goes is due (default 10 s). */
  noteEveryMs: number;
  /** Told that line: layers done of those queued, and how many workers listen. */
  onNote?: (line: string) => void;
  /** Gives up when no queued layer has finished for this long; null waits for ever. */
  idleTimeoutMs: number | null;
}

/**
 * The queue was given up on: no layer finished within --queue-timeout. It ends the audit (no
 * image can be finished without its layers), unlike an error that concerns one image.
 */
export class QueueTimeoutError extends ScanError {}

/**
 * Layers of registry images go on the queue, one job per layer blob (its id from the layer key
 * and the digest, so a layer queued or done is never queued twice, by this audit or another);
 * layers of images only this process can read (archives, the daemon) are scanned here. Results
 * are waited for by polling the store: a job's own completion is not kept.
 */
export class QueueScanner implements LayerScanner {
  private readonly waiting = new Map<string, Waiting>();
  private timer: NodeJS.Timeout | null = null;
  private polls = 0;
  private polling = false;
  private failure: Error | null = null;
  /** Registry layers handed to the queue, and how many of them have their results. */
  private queued = 0;
  private done = 0;
  /** When a layer last finished (or the wait began), and when the last note was due. */
  private lastProgress = 0;
  private lastNote = 0;

  constructor(
    private readonly queue: Queue,
    private readonly store: RedisStore,
    private readonly local: LayerScanner,
    private readonly parts: LayerCacheKeyParts,
    private readonly archives: ArchiveLimits,
    private readonly wait: QueueWait,
  ) {}

  async scan(need: LayerNeed): Promise<CachedLayer> {
    const { source, layer } = need;
    if (source.kind !== 'registry') return this.local.scan(need);
    if (this.failure) throw this.failure;
    const key = layerKey(this.parts, layer.diffId);
    const jobId = layerJobId(key, source.digest);
    const data: LayerJobData = { key, diffId: layer.diffId, digest: source.digest, size: source.size, registry: source.registry, repository: source.repository, archives: this.archives };
    if (this.waiting.size === 0) this.lastProgress = this.lastNote = Date.now();
    this.queued++;
    const done = new Promise<CachedLayer>((resolve, reject) => {
      this.waiting.set(jobId, {
        diffId: layer.diffId, digest: source.digest, jobId, data, reject,
        resolve: (entry) => {
          this.done++;
          this.lastProgress = Date.now();
          resolve(entry);
        },
      });
    });
    await this.enqueue(jobId, data);
    this.timer ??= setInterval(() => void this.poll(), this.wait.pollMs);
    return done;
  }

  private async enqueue(jobId: string, data: LayerJobData): Promise<void> {
    // A failure left by an earlier audit is tried again, not reported again.
    if ((await this.queue.getJobState(jobId)) === 'failed') await this.queue.remove(jobId);
    await this.queue.add('layer', data, { ...JOB_OPTIONS, jobId });
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      this.polls++;
      const waiting = [...this.waiting.values()];
      const done = await this.store.haveBlobs(waiting);
      for (const [i, w] of waiting.entries()) {
        if (done[i]) {
          const entry = await this.store.get(w.diffId);
          if (entry) {
            this.waiting.delete(w.jobId);
            w.resolve(entry);
            continue;
          }
        }
        // Job states are asked for less often (every ~25 polls): a result is what normally ends the wait.
        if (this.polls % 25 !== 0) continue;
        const state = await this.queue.getJobState(w.jobId);
        if (state === 'failed') {
          const job = await this.queue.getJob(w.jobId);
          this.waiting.delete(w.jobId);
          w.reject(new ScanError(`layer ${w.diffId} (${w.digest}): ${job?.failedReason ?? 'the job failed'}`));
        } else if (state === 'unknown' && !(await this.store.hasBlob(w.diffId, w.digest))) {
          // Removed without a result (the queue was cleaned): put it back.
          await this.enqueue(w.jobId, w.data);
        }
      }
      await this.watchProgress();
    } catch (err) {
      this.fail(new ScanError('waiting for layer results in Redis', { cause: err }));
    } finally {
      this.polling = false;
    }
  }

  /**
   * While layers wait: a line every `noteEveryMs` on how many are done and how many workers
   * listen (with none, the audit would otherwise wait in silence for ever), and the end of the
   * wait once no layer has finished for `idleTimeoutMs`.
   */
  private async watchProgress(): Promise<void> {
    if (this.waiting.size === 0 || this.failure) return;
    const now = Date.now();
    const { idleTimeoutMs, noteEveryMs, label } = this.wait;
    const idle = idleTimeoutMs !== null && now - this.lastProgress >= idleTimeoutMs;
    if (!idle && now - this.lastNote < noteEveryMs) return;
    const workers = await this.queue.getWorkersCount();
    const state = `${this.done} of ${this.queued} layers done, ${workers} worker${workers === 1 ? '' : 's'} listening`;
    if (idle) {
      this.fail(new QueueTimeoutError(
        `gave up waiting on the queue at ${label}: no layer finished in ${Math.round(idleTimeoutMs / 1000)} s (${state}); the jobs stay queued for workers (stratascan worker --queue …)`,
      ));
      return;
    }
    this.lastNote = now;
    this.wait.onNote?.(`waiting for workers on ${label}: ${state}`);
  }

  /** The timeout that ended the wait, if one did: it ends the whole audit. */
  get gaveUp(): QueueTimeoutError | null {
    return this.failure instanceof QueueTimeoutError ? this.failure : null;
  }

  /** Every wait ends with `err`; the jobs stay queued for workers and later audits. */
  fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** The queue an audit puts layer jobs on, and the store beside it. */
export async function openQueue(address: QueueAddress): Promise<{ redis: Redis; queue: Queue; close: () => Promise<void> }> {
  const redis = await connectRedis(address);
  const queue = new Queue(QUEUE_NAME, { connection: bullConnection(address, false) });
  queue.on('error', () => {});
  return {
    redis,
    queue,
    close: async () => {
      await queue.close().catch(() => {});
      redis.disconnect();
    },
  };
}

export interface WorkerOptions {
  queue: string;
  /** Layer jobs at once (default 2). */
  concurrency?: number;
  /** Detection threads (default: one per core but one). */
  jobs?: number;
  detectorsDir?: string;
  insecureRegistries?: string[];
  tuning?: QueueTuning;
  signal?: AbortSignal;
  /** One line per event worth a log (a job failed, a layer done); never a secret. */
  log?: (line: string) => void;
}

/**
 * Processes layer jobs until `signal` aborts: each blob is fetched from its registry with this
 * machine's own credentials, scanned, checked against its digest and diff_id, and its results
 * stored in Redis. A job made with another catalogue or tool version fails at once, saying so.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const address = parseQueueUrl(options.queue);
  const redis = await connectRedis(address);
  const ruleSet = loadRuleSet(options.detectorsDir);
  const pool = new DetectionPool(ruleSet.rules, options.jobs ?? defaultJobs(), ruleSet.plan);
  const blobs = new RegistryBlobs({ insecureRegistries: options.insecureRegistries });
  const log = options.log ?? (() => {});
  const lockDuration = options.tuning?.lockDurationMs ?? 30_000;
  const processJob = async (job: Job<LayerJobData>) => {
    const d = job.data;
    const parts = layerCacheKeyParts(ruleSet.hash, { archives: d.archives });
    if (layerKey(parts, d.diffId) !== d.key) {
      throw new UnrecoverableError('this worker has another detector catalogue, tool version or archive settings than the audit that queued the layer');
    }
    const store = new RedisStore(redis, parts);
    pool.start();
    const container = blobs.containerFor({ kind: 'registry', registry: d.registry, repository: d.repository, digest: d.digest, size: d.size });
    const outcome = await scanBlob(container, { index: 0, diffId: d.diffId, blob: `blobs/sha256/${d.digest.replace(/^sha256:/, '')}`, digest: d.digest }, pool, archiveLimits({ archives: d.archives }));
    await store.put(d.diffId, { digest: outcome.blobDigest, size: outcome.storedBytes, head: null }, outcome);
    return { files: outcome.files, matches: outcome.matches.length };
  };
  const worker = new Worker<LayerJobData>(QUEUE_NAME, processJob, {
    connection: bullConnection(address, true),
    concurrency: Math.max(1, options.concurrency ?? 2),
    lockDuration,
    stalledInterval: options.tuning?.stalledIntervalMs ?? Math.max(1000, Math.floor(lockDuration / 2)),
    // A layer whose worker died is retried; one that keeps killing workers fails after a few.
    maxStalledCount: 3,
  });
  worker.on('failed', (job, err) => log(`layer ${job?.data.diffId ?? '?'} failed: ${describeError(err)}`));
  worker.on('completed', (job) => log(`layer ${job.data.diffId} done`));
  worker.on('error', (err) => log(`queue error: ${describeError(err)}`));
  try {
    await new Promise<void>((resolve) => {
      if (options.signal?.aborted) resolve();
      options.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    // Jobs in hand finish first; a second signal (bin.ts) exits at once, and the lock then expires.
    await worker.close();
    await pool.close();
    await blobs.close();
    redis.disconnect();
  }
}
