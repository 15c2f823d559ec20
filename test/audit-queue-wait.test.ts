// `stratascan audit --queue` with no worker running: it says so on stderr while it waits, and
// --queue-timeout ends the wait with one error line and exit 2 (the jobs stay queued). Against a
// real docker-registry and redis-server.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cli, expectOneLineError } from './support/cli-run.js';
import { describeReal } from './support/describe-real.js';
import { makeFleet, pushFleet } from './support/fleet.mjs';
import { REDIS_BINS, startRedis, type RedisServer } from './support/redis.mjs';
import { REGISTRY_BINS, startRegistry, type Registry } from './support/registry.mjs';

const QUEUE_ENV = { STRATASCAN_QUEUE_POLL_MS: '100', STRATASCAN_QUEUE_NOTE_MS: '500' };

describeReal('audit --queue waiting for workers (docker-registry, redis-server)', [...REGISTRY_BINS, ...REDIS_BINS], () => {
  let registry: Registry;
  let redis: RedisServer;
  let layers: number;

  beforeAll(async () => {
    [registry, redis] = await Promise.all([startRegistry(), startRedis()]);
    const pushed = await pushFleet(registry.url, makeFleet({ bases: 1, apps: 1, tagsPerApp: 1 }));
    layers = pushed.diffIds.size;
  }, 120_000);

  afterAll(async () => {
    await Promise.all([registry?.stop(), redis?.stop()]);
  });

  it('no worker: notes on how the wait goes, then --queue-timeout gives up with exit 2 and leaves the jobs queued', async () => {
    const db = 3;
    const started = Date.now();
    const r = await cli(['audit', `registry:${registry.host}`, '--queue', `${redis.url}/${db}`, '--queue-timeout', '3', '--no-cache', '--jobs', '0'], { env: QUEUE_ENV });
    const elapsed = Date.now() - started;
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^stratascan: note: no worker listens on 127\.0\.0\.1:\d+\/3 yet/);
    const waits = lines.filter((l) => l.startsWith('stratascan: note: waiting for workers'));
    // Every 0.5 s for 3 s: a few at least, each with the counts.
    expect(waits.length, r.stderr).toBeGreaterThanOrEqual(3);
    for (const w of waits) expect(w).toMatch(new RegExp(`^stratascan: note: waiting for workers on 127\\.0\\.0\\.1:\\d+/3: 0 of ${layers} layers done, 0 workers listening$`));
    // One error line, last, no stack.
    const last = lines.at(-1)!;
    expect(last).toMatch(/^stratascan: error: gave up waiting on the queue at 127\.0\.0\.1:\d+\/3: no layer finished in 3 s \(0 of \d+ layers done, 0 workers listening\); the jobs stay queued/);
    expect(lines.filter((l) => l.startsWith('stratascan: error:'))).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(elapsed).toBeGreaterThan(3000);
    expect(elapsed).toBeLessThan(60_000);

    const watcher = new Redis({ port: redis.port, host: '127.0.0.1', db });
    try {
      expect(await watcher.llen('bull:stratascan-layers:wait')).toBe(layers);
    } finally {
      watcher.disconnect();
    }
  }, 120_000);

  it('--quiet: no notes, only the error', async () => {
    const r = await cli(['audit', `registry:${registry.host}`, '--queue', `${redis.url}/4`, '--queue-timeout', '1', '--no-cache', '--jobs', '0', '--quiet'], { env: QUEUE_ENV });
    expectOneLineError(r, /gave up waiting on the queue at 127\.0\.0\.1:\d+\/4: no layer finished in 1 s/);
  }, 60_000);

  it('--queue-timeout is checked before anything runs', async () => {
    const noQueue = await cli(['audit', `registry:${registry.host}`, '--queue-timeout', '5']);
    expect(noQueue.code).toBe(2);
    expect(noQueue.stderr).toBe('stratascan: --queue-timeout needs --queue\n');
    const zero = await cli(['audit', `registry:${registry.host}`, '--queue', `${redis.url}/5`, '--queue-timeout', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toBe('stratascan: --queue-timeout takes a number of seconds above 0\n');
  }, 60_000);
});
