// stratascan audit against the real parts: a docker-registry on loopback holding three dozen tags
// that share base layers (secrets planted in base and app layers, made fresh each run), and a
// redis-server of its own with real `stratascan worker` processes. Every image's findings must be
// exactly a single-image scan's; each unique layer is scanned once; a worker SIGKILLed mid-layer
// changes nothing; Redis never holds a raw secret.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { auditImages } from '../src/audit/index.js';
import type { AuditReport } from '../src/audit/types.js';
import { secretHash } from '../src/attribute.js';
import { scanImage } from '../src/scan.js';
import { BIN, cli, expectOneLineError } from './support/cli-run.js';
import { describeReal } from './support/describe-real.js';
import { makeFleet, pushFleet, type Fleet } from './support/fleet.mjs';
import { REDIS_BINS, startRedis, type RedisServer } from './support/redis.mjs';
import { REGISTRY_BINS, startRegistry, type Registry } from './support/registry.mjs';

// Short enough for a killed worker's job to come back within the test, long enough that a worker
// busy on a loaded machine still renews its lock in time.
const QUEUE_ENV = { STRATASCAN_QUEUE_LOCK_MS: '5000', STRATASCAN_QUEUE_STALLED_MS: '1000', STRATASCAN_QUEUE_POLL_MS: '100' };

describeReal('audit of a registry (docker-registry, redis-server, stratascan worker)', [...REGISTRY_BINS, ...REDIS_BINS], () => {
  let registry: Registry;
  let redis: RedisServer;
  let dir: string;
  let fleet: Fleet;
  let big: Fleet;
  let diffIds: Set<string>;
  let bigDiffIds: Set<string>;
  let bigLayer: string;
  const workers = new Set<ChildProcess>();
  const singles = new Map<string, Awaited<ReturnType<typeof scanImage>>>();
  let inProcess: AuditReport;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratascan-audit-'));
    [registry, redis] = await Promise.all([startRegistry(), startRedis()]);
    // 18 apps × 2 tags on 3 bases: 36 images; a second set shares one 24 MiB base layer.
    fleet = makeFleet({ apps: 18, tagsPerApp: 2 });
    big = makeFleet({ bases: 1, apps: 3, tagsPerApp: 1, bigLayerBytes: 24 * 1024 * 1024, prefix: 'bulk-' });
    ({ diffIds } = await pushFleet(registry.url, fleet));
    const pushed = await pushFleet(registry.url, big);
    bigDiffIds = pushed.diffIds;
    bigLayer = pushed.byRef.get('bulk-a/svc0:v1')![1]!;
  }, 180_000);

  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all([registry?.stop(), redis?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const allSecrets = () => [...fleet.secrets, ...big.secrets];
  function expectNoRawSecret(text: string, what: string) {
    for (const s of allSecrets()) expect(text.includes(s), `${what} holds a raw secret`).toBe(false);
  }

  /** The single-image scan of `reference`, without any cache: what the audit must equal. */
  async function single(reference: string) {
    let report = singles.get(reference);
    if (!report) singles.set(reference, (report = await scanImage(reference, { cache: false, jobs: 0 })));
    return report;
  }

  async function expectSameAsSingleScans(report: AuditReport) {
    for (const image of report.images) {
      expect(image.status, `${image.reference}: ${image.error}`).toBe('scanned');
      const alone = await single(image.reference);
      expect(image.findings, image.reference).toEqual(alone.findings);
      expect(image.layers, image.reference).toEqual(alone.image.layers);
      expect(image.digest).toBe(alone.image.digest);
      expect(image.platform).toBe(alone.image.platform);
    }
  }

  function startWorker(db: number, concurrency = 2): ChildProcess {
    const child = spawn(process.execPath, [BIN, 'worker', '--queue', `${redis.url}/${db}`, '--jobs', '0', '--concurrency', String(concurrency), '--quiet'], {
      env: { ...process.env, ...QUEUE_ENV },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    workers.add(child);
    child.on('exit', () => workers.delete(child));
    return child;
  }

  async function stopWorker(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  it('in process: each image exactly as a scan of it alone, every unique layer scanned once, all from the cache on a rerun', async () => {
    const cacheDir = join(dir, 'cache');
    inProcess = await auditImages([`registry:${registry.host}`], { repos: ['team-*/*'], cacheDir, jobs: 0, concurrency: 2 });
    expect(inProcess.kind).toBe('audit');
    expect(inProcess.images).toHaveLength(36);
    expect(inProcess.layers).toEqual({ unique: diffIds.size, scanned: diffIds.size, fromCache: 0 });
    // Far fewer layers than images × layers: the bases are shared.
    expect(inProcess.images.reduce((n, i) => n + i.layers.length, 0)).toBeGreaterThan(2 * diffIds.size);
    await expectSameAsSingleScans(inProcess);
    // Every planted secret (the AWS key id is reported with its secret key) is found somewhere.
    const found = new Set(inProcess.images.flatMap((i) => i.findings.flatMap((f) => [f.secretHash, f.pairedWith?.secretHash])));
    for (const s of fleet.secrets) expect(found.has(secretHash(s))).toBe(true);
    // A base secret deleted (or overwritten) by an app layer is still reported, as removed.
    expect(inProcess.images.some((i) => i.findings.some((f) => !f.inFinalImage && f.removedBy !== null))).toBe(true);

    const again = await auditImages([`registry:${registry.host}`], { repos: ['team-*/*'], cacheDir, jobs: 0 });
    expect(again.layers).toEqual({ unique: diffIds.size, scanned: 0, fromCache: diffIds.size });
    expect(again.images).toEqual(inProcess.images);
  }, 300_000);

  it('the CLI: filters, an unreadable image listed with its error (exit 2), shared secrets once in text, no raw secret', async () => {
    const missing = `docker://${registry.host}/team-a/gone:v1`;
    const json = await cli(['audit', `registry:${registry.host}`, missing, '--repo', 'team-a/*', '--tag', 'v1', '--format', 'json', '--no-cache', '--jobs', '0']);
    expect(json.code, json.stderr).toBe(2);
    expectNoRawSecret(json.stdout + json.stderr, 'the JSON audit');
    const report = JSON.parse(json.stdout) as AuditReport;
    expect(report.images).toHaveLength(10);
    const gone = report.images.find((i) => i.reference === missing)!;
    expect(gone).toMatchObject({ status: 'error', findings: [] });
    expect(gone.error).toMatch(/not found/);
    for (const image of report.images.filter((i) => i !== gone)) {
      expect(image.reference).toMatch(/\/team-a\/svc\d+:v1$/);
      expect(image.findings).toEqual(inProcess.images.find((i) => i.reference === image.reference)!.findings);
    }

    const text = await cli(['audit', `registry:${registry.host}`, '--repo', 'team-*/*', '--no-cache', '--jobs', '0']);
    expect(text.code, text.stderr).toBe(1);
    expectNoRawSecret(text.stdout + text.stderr, 'the text audit');
    expect(text.stdout).toMatch(/^stratascan audit: 36 images/);
    // The base layer's token: one entry naming every image built on that base.
    const shared = text.stdout.split('Secrets shared through a common layer:')[1]!;
    expect(shared).toMatch(/in 12 images: /);

    const sarif = await cli(['audit', `docker://${registry.host}/team-a/svc0:v1`, `docker://${registry.host}/team-b/svc1:v1`, '--format', 'sarif', '--no-cache', '--jobs', '0']);
    expect(sarif.code).toBe(1);
    expect((JSON.parse(sarif.stdout) as { runs: unknown[] }).runs).toHaveLength(2);

    const list = join(dir, 'images.txt');
    writeFileSync(list, `docker://${registry.host}/team-a/svc2:v1\n\ndocker://${registry.host}/team-a/svc2:v1 docker://${registry.host}/team-b/svc3:v2\n`);
    const fromFile = await cli(['audit', '--images-from', list, '--format', 'json', '--no-cache', '--jobs', '0']);
    expect((JSON.parse(fromFile.stdout) as AuditReport).images.map((i) => i.reference)).toEqual([`docker://${registry.host}/team-a/svc2:v1`, `docker://${registry.host}/team-b/svc3:v2`]);
  }, 300_000);

  it('through the queue with two workers: the in-process results, every layer once; a rerun reuses Redis; no raw secret in Redis', async () => {
    const db = 0;
    const pair = [startWorker(db), startWorker(db)];
    const run = () => cli(['audit', `registry:${registry.host}`, '--repo', 'team-*/*', '--queue', `${redis.url}/${db}`, '--format', 'json', '--jobs', '0'], { env: QUEUE_ENV });
    const first = await run();
    expect(first.code, first.stderr).toBe(1);
    const report = JSON.parse(first.stdout) as AuditReport;
    expect(report.layers).toEqual({ unique: diffIds.size, scanned: diffIds.size, fromCache: 0 });
    expect(report.images).toEqual(inProcess.images);

    const second = JSON.parse((await run()).stdout) as AuditReport;
    expect(second.layers).toEqual({ unique: diffIds.size, scanned: 0, fromCache: diffIds.size });
    expect(second.images).toEqual(inProcess.images);
    await Promise.all(pair.map(stopWorker));

    const dump = await dumpRedis(redis.port, db);
    expect(dump.keys.some((k) => k.startsWith('stratascan:layer:'))).toBe(true);
    expect(dump.keys.some((k) => k.startsWith('bull:stratascan-layers:'))).toBe(true);
    expectNoRawSecret(dump.text, 'Redis');
    expect(dump.text).not.toMatch(/password|authorization|bearer/i);
  }, 300_000);

  it('a worker SIGKILLed in the middle of a layer: its job goes to the other worker, the report is unchanged', async () => {
    const db = 1;
    const watcher = new Redis({ port: redis.port, host: '127.0.0.1', db });
    try {
      const victim = startWorker(db, 1);
      const audit = cli(['audit', `registry:${registry.host}`, '--repo', 'bulk-*/*', '--queue', `${redis.url}/${db}`, '--format', 'json', '--jobs', '0'], { env: QUEUE_ENV });
      // Wait until the victim takes the 24 MiB layer's job, then kill it without a chance to let go.
      // BullMQ's event stream says the moment a job turns active (a blocking read, no polling
      // gap): the scan of that layer takes far longer than the kill.
      let held: string | null = null;
      let cursor = '0';
      const deadline = Date.now() + 150_000;
      while (held === null && Date.now() < deadline) {
        const read = await watcher.xread('BLOCK', 1000, 'STREAMS', 'bull:stratascan-layers:events', cursor);
        for (const [id, fields] of read?.[0]?.[1] ?? []) {
          cursor = id;
          const event = new Map<string, string>();
          for (let i = 0; i + 1 < fields.length; i += 2) event.set(fields[i]!, fields[i + 1]!);
          if (event.get('event') !== 'active') continue;
          const data = await watcher.hget(`bull:stratascan-layers:${event.get('jobId')}`, 'data');
          if (data && (JSON.parse(data) as { diffId: string }).diffId === bigLayer) {
            held = event.get('jobId')!;
            victim.kill('SIGKILL');
            break;
          }
        }
      }
      expect(held, 'the big layer was never taken').not.toBeNull();
      await new Promise((resolve) => victim.once('exit', resolve));
      // Killed mid-layer: the job is still marked active, with nobody to finish it.
      expect(await watcher.lrange('bull:stratascan-layers:active', 0, -1)).toContain(held);
      // …and its results are not in Redis.
      for (const key of (await dumpRedis(redis.port, db)).keys.filter((k) => k.startsWith('stratascan:layer:') && !k.endsWith(':blobs'))) {
        expect((JSON.parse((await watcher.get(key))!) as { diffId: string }).diffId).not.toBe(bigLayer);
      }
      const rescuer = startWorker(db, 2);
      const r = await audit;
      expect(r.code, r.stderr).toBe(1);
      const report = JSON.parse(r.stdout) as AuditReport;
      expect(report.layers).toEqual({ unique: bigDiffIds.size, scanned: bigDiffIds.size, fromCache: 0 });
      await expectSameAsSingleScans(report);
      expect(report.images.every((i) => i.findings.length > 0)).toBe(true);
      // BullMQ's record that the stalled job was taken back.
      const events = await watcher.xrange('bull:stratascan-layers:events', '-', '+');
      expect(events.some(([, fields]) => fields.includes('stalled') && fields.includes(held!))).toBe(true);
      await stopWorker(rescuer);
      expectNoRawSecret((await dumpRedis(redis.port, db)).text, 'Redis');
    } finally {
      watcher.disconnect();
    }
  }, 300_000);

  it('Ctrl-C while waiting on the queue: exit 130, the jobs stay queued, and a later audit finds their results', async () => {
    const db = 2;
    const watcher = new Redis({ port: redis.port, host: '127.0.0.1', db });
    try {
      const args = ['audit', `registry:${registry.host}`, '--repo', 'team-a/*', '--tag', 'v1', '--queue', `${redis.url}/${db}`, '--format', 'json', '--jobs', '0'];
      const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...QUEUE_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      // No worker: the audit queues every layer and waits. Interrupt it once the jobs are there.
      let waiting = 0;
      for (let i = 0; i < 600 && waiting < 5; i++) {
        waiting = await watcher.llen('bull:stratascan-layers:wait');
        if (waiting < 5) await sleep(50);
      }
      expect(waiting).toBeGreaterThan(0);
      await sleep(300);
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr.trimEnd().split('\n').at(-1)).toBe('stratascan: interrupted');
      const queued = await watcher.llen('bull:stratascan-layers:wait');
      expect(queued).toBeGreaterThan(0);
      // Workers started later finish the queued jobs; the next audit scans nothing itself.
      const worker = startWorker(db);
      for (let i = 0; i < 600 && (await watcher.llen('bull:stratascan-layers:wait')) + (await watcher.llen('bull:stratascan-layers:active')) > 0; i++) await sleep(100);
      const r = await cli(args, { env: QUEUE_ENV });
      expect(r.code, r.stderr).toBe(1);
      const report = JSON.parse(r.stdout) as AuditReport;
      expect(report.layers.fromCache).toBeGreaterThanOrEqual(queued);
      expect(report.layers.scanned + report.layers.fromCache).toBe(report.layers.unique);
      for (const image of report.images) expect(image.findings).toEqual(inProcess.images.find((i) => i.reference === image.reference)!.findings);
      await stopWorker(worker);
    } finally {
      watcher.disconnect();
    }
  }, 120_000);

  it('Redis unreachable: exit 2 with one line, at once', async () => {
    const started = Date.now();
    const r = await cli(['audit', `docker://${registry.host}/team-a/svc0:v1`, '--queue', 'redis://127.0.0.1:1', '--no-cache']);
    expectOneLineError(r, /cannot reach Redis at 127\.0\.0\.1:1\/0 \(ECONNREFUSED\)/);
    expect(Date.now() - started).toBeLessThan(30_000);
    const w = await cli(['worker', '--queue', 'redis://127.0.0.1:1']);
    expectOneLineError(w, /cannot reach Redis/);
    expectOneLineError(await cli(['audit', 'x:1', '--queue', 'http://nope']), /--queue takes redis:\/\//);
  }, 60_000);
});

/** Every key of one database with its whole value, whatever its type, as text. */
async function dumpRedis(port: number, db: number): Promise<{ keys: string[]; text: string }> {
  const r = new Redis({ port, host: '127.0.0.1', db });
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await r.scan(cursor, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const parts: string[] = [];
    for (const key of keys) {
      const type = await r.type(key);
      let value: unknown;
      switch (type) {
        case 'string': value = await r.get(key); break;
        case 'hash': value = await r.hgetall(key); break;
        case 'list': value = await r.lrange(key, 0, -1); break;
        case 'set': value = await r.smembers(key); break;
        case 'zset': value = await r.zrange(key, 0, -1, 'WITHSCORES'); break;
        case 'stream': value = await r.xrange(key, '-', '+'); break;
        default: value = `(type ${type})`;
      }
      parts.push(`${key} ${JSON.stringify(value)}`);
    }
    return { keys, text: parts.join('\n') };
  } finally {
    r.disconnect();
  }
}
