#!/usr/bin/env node
// The walk alone: every layer of an image walked on this one thread, one after the other, with a
// detection "pool" that answers each submit at once (no matches). What `instant` costs over the
// bare walk (`none`: decompression, digests, tar headers, no sniffing) is the walk's per-file
// side: path normalisation, the path table, sniffing, cutting windows, the hand-over and its
// bookkeeping. `gunzip` also inflates each small `.gz` file handed over, as detection would (with
// an engine that finds nothing): its difference to `instant` is what those inflations cost.
// With `--baseline OTHER/dist`, that build's walk runs in the same process, alternating round by
// round, so both see the same machine (timings on a shared machine move by tens of %).
//
//   node --expose-gc bench/walk-alone.mjs IMAGE [--pools none,instant,gunzip] [--dist DIR]
//        [--baseline DIR] [--repeat N]
//
// Prints each run's CPU ms (this process, user+sys) and, per build and pool, the minimum.
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    pools: { type: 'string', default: 'none,instant,gunzip' },
    dist: { type: 'string' },
    baseline: { type: 'string' },
    repeat: { type: 'string', default: '3' },
  },
});
const target = positionals[0];
if (!target) throw new Error('usage: walk-alone.mjs IMAGE [--pools none,instant,gunzip] [--dist DIR] [--baseline DIR] [--repeat N]');

async function load(dir) {
  const dist = (p) => pathToFileURL(join(resolve(dir), p)).href;
  return {
    scanLayer: (await import(dist('layer/walk.js'))).scanLayer,
    scanGzipMember: (await import(dist('detect/gzip-member.js'))).scanGzipMember,
    openContainer: (await import(dist('source/container.js'))).openContainer,
    resolveImage: (await import(dist('source/resolve.js'))).resolveImage,
    tuneForScanning: (await import(dist('runtime.js'))).tuneForScanning,
  };
}

const builds = { this: await load(values.dist ?? join(ROOT, 'dist')) };
if (values.baseline) builds.baseline = await load(values.baseline);
builds.this.tuneForScanning();

/** Answers every submit at once; with `gunzip`, inflates the small .gz files first. */
function instantPool(build, gunzip) {
  const engine = { scan: () => [] };
  return {
    submit(data, to, _countTo = 0, isGzip = false) {
      if (gunzip && isGzip) {
        const parts = data instanceof Uint8Array ? [data] : data;
        const { outcome } = build.scanGzipMember(engine, parts.length === 1 ? parts[0] : Buffer.concat(parts));
        to.found([], -1, -1, outcome);
        return null;
      }
      to.found([], 0, -1, 0);
      return null;
    },
    flush() {},
  };
}

async function walkAll(build, pool) {
  const container = await build.openContainer(target);
  const image = await build.resolveImage(container, { containerFormat: container.kind });
  globalThis.gc?.();
  const before = process.cpuUsage();
  let files = 0;
  for (const layer of image.layers) {
    const scan = await build.scanLayer(container.open(layer.blob), pool);
    if (scan.diffId !== layer.diffId) throw new Error('diff_id mismatch');
    files += scan.files;
  }
  const cpu = process.cpuUsage(before);
  await container.close();
  return { cpuMs: Math.round((cpu.user + cpu.system) / 1000), files };
}

const runs = {};
const names = Object.keys(builds);
for (let round = 0; round < Number(values.repeat); round++) {
  for (const mode of values.pools.split(',')) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      const build = builds[name];
      const { cpuMs, files } = await walkAll(build, mode === 'none' ? null : instantPool(build, mode === 'gunzip'));
      (runs[`${name} ${mode}`] ??= []).push(cpuMs);
      process.stdout.write(`${JSON.stringify({ round, build: name, pool: mode, cpuMs, files })}\n`);
    }
  }
}
for (const [key, ms] of Object.entries(runs)) process.stdout.write(`${key.padEnd(18)} min ${Math.min(...ms)} ms  (${ms.join(', ')})\n`);
