#!/usr/bin/env node
// Audit throughput and layer dedupe on a registry in a realistic shape (not a test: no assertions).
//
//   npm run build && node bench/audit.mjs [--apps 105] [--tags 2] [--bases 5] [--base-kib 4096] [--app-kib 192] [--workers 1,2,4]
//
// Fills a private docker-registry on 127.0.0.1 with APPS × TAGS images built on BASES base images
// (each base: an OS layer, a secret layer, a BASE-KIB layer of text; each app: an APP-KIB layer,
// some with a secret; the second tag adds a small layer), starts a private redis-server, then:
//   in-process   stratascan audit registry:… --no-cache (one process, --concurrency 2)
//   queue-N      the same audit with --queue and N `stratascan worker` processes (--jobs 0: one
//                core each), each run on an empty Redis database
//   queue-rerun  the audit again on the last run's Redis: every layer result reused
// and prints images/s, unique layers/s, MiB/s (uncompressed bytes of the unique layers) and the
// dedupe ratio (layers of all images / unique layers). Results: bench/results/audit-<time>.json.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { makeFleet, pushFleet } from '../test/support/fleet.mjs';
import { startRedis } from '../test/support/redis.mjs';
import { startRegistry } from '../test/support/registry.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'dist', 'bin.js');
const { values } = parseArgs({
  options: {
    apps: { type: 'string', default: '105' },
    tags: { type: 'string', default: '2' },
    bases: { type: 'string', default: '5' },
    'base-kib': { type: 'string', default: '4096' },
    'app-kib': { type: 'string', default: '192' },
    workers: { type: 'string', default: '1,2,4' },
  },
});

/** @param {string[]} args @param {Record<string, string>} [env] */
function run(args, env = {}) {
  return new Promise((resolveRun, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 && code !== 1) reject(new Error(`stratascan ${args[0]} exited ${code}: ${err.slice(-500)}`));
      else resolveRun({ report: JSON.parse(out), wallMs: performance.now() - started });
    });
  });
}

/**
 * N worker processes, returned once all of them listen on the queue: their start-up (a second or
 * more on a busy machine) is not the audit's time.
 * @param {string} url @param {number} port @param {number} db @param {number} n
 */
async function startWorkers(url, port, db, n) {
  const workers = Array.from({ length: n }, () => spawn(process.execPath, [BIN, 'worker', '--queue', url, '--jobs', '0', '--quiet'], { stdio: 'ignore' }));
  const queue = new Queue('stratascan-layers', { connection: { host: '127.0.0.1', port, db } });
  while ((await queue.getWorkersCount()) < n) await new Promise((r) => setTimeout(r, 100));
  await queue.close();
  return workers;
}

/** CPU seconds (user + system) a live process has used so far, from /proc (Linux). @param {number} pid */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name is cut off. Ticks: 100/s.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** @param {import('node:child_process').ChildProcess[]} workers */
async function stopWorkers(workers) {
  await Promise.all(workers.map((w) => new Promise((r) => {
    w.once('exit', r);
    w.kill('SIGTERM');
  })));
}

const registry = await startRegistry();
const redis = await startRedis();
try {
  const shape = { bases: Number(values.bases), apps: Number(values.apps), tagsPerApp: Number(values.tags), baseLayerBytes: Number(values['base-kib']) * 1024, appLayerBytes: Number(values['app-kib']) * 1024 };
  const fleet = makeFleet(shape);
  const pushStarted = performance.now();
  const { diffIds, byRef } = await pushFleet(registry.url, fleet);
  const layerRefs = [...byRef.values()].reduce((n, l) => n + l.length, 0);
  console.log(`registry: ${fleet.images.length} images, ${layerRefs} image layers, ${diffIds.size} unique (pushed in ${((performance.now() - pushStarted) / 1000).toFixed(1)} s); ${availableParallelism()} cores`);

  const source = `registry:${registry.host}`;
  /** @type {{ variant: string, workers: number, wallMs: number, images: number, unique: number, scanned: number, fromCache: number, bytes: number }[]} */
  const rows = [];
  const record = (variant, workers, { report, wallMs }) => {
    rows.push({ variant, workers, wallMs, images: report.images.length, unique: report.layers.unique, scanned: report.layers.scanned, fromCache: report.layers.fromCache, bytes: report.stats.bytes });
    const s = wallMs / 1000;
    console.log(`${variant.padEnd(12)} ${String(workers).padStart(2)} workers  ${s.toFixed(1).padStart(6)} s  ${(report.images.length / s).toFixed(1).padStart(6)} images/s  ${(report.layers.scanned / s).toFixed(1).padStart(6)} layers/s  ${(report.stats.bytes / 1048576 / s).toFixed(1).padStart(6)} MiB/s  scanned ${report.layers.scanned}/${report.layers.unique}`);
  };

  record('in-process', 0, await run(['audit', source, '--no-cache', '--format', 'json', '--quiet']));
  const counts = values.workers.split(',').map(Number);
  let db = 0;
  for (const n of counts) {
    db++;
    const url = `${redis.url}/${db}`;
    const workers = await startWorkers(url, redis.port, db, n);
    const before = workers.map((w) => cpuSeconds(/** @type {number} */ (w.pid)));
    record(`queue-${n}`, n, await run(['audit', source, '--queue', url, '--format', 'json', '--quiet']));
    const cpu = workers.reduce((t, w, i) => t + cpuSeconds(/** @type {number} */ (w.pid)) - before[i], 0);
    rows.at(-1).workerCpuSeconds = cpu;
    console.log(`             workers' CPU ${cpu.toFixed(1)} s: ${((cpu * 1000) / diffIds.size).toFixed(0)} ms per unique layer`);
    if (n === counts.at(-1)) record('queue-rerun', n, await run(['audit', source, '--queue', url, '--format', 'json', '--quiet']));
    await stopWorkers(workers);
  }
  const memory = new Redis({ port: redis.port, host: '127.0.0.1' });
  const info = await memory.info('memory');
  memory.disconnect();
  const usedBytes = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
  const summary = {
    shape,
    images: fleet.images.length,
    imageLayers: layerRefs,
    uniqueLayers: diffIds.size,
    dedupeRatio: layerRefs / diffIds.size,
    redisUsedBytesAllDbs: usedBytes,
    cores: availableParallelism(),
    rows,
  };
  console.log(`dedupe ratio ${(layerRefs / diffIds.size).toFixed(2)} (${layerRefs} image layers / ${diffIds.size} unique); Redis used_memory ${(usedBytes / 1048576).toFixed(1)} MiB over ${db} databases`);
  const results = join(ROOT, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  const file = join(results, `audit-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`written ${file}`);
} finally {
  await redis.stop();
  await registry.stop();
}
