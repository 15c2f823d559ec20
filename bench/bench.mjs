#!/usr/bin/env node
// Throughput and memory of a scan against its floor (not a test: no assertions).
//
//   npm run bench                      real files, ~1 GB (gzip, zstd, uncompressed), then the
//                                      synthetic 500 MiB image
//   npm run bench -- --large           also ~4 GB of real files and a 2 GiB synthetic image
//   npm run bench -- --mib 800 --repeat 3 --jobs 2
//   npm run bench -- --no-synthetic --baseline OTHER/dist   A/B: another build's full scans
//                                      (and cached rescans) alternate with this one's in the same rounds
//   npm run bench -- --no-single       without the single-layer copy of the real-content image
//   npm run bench -- --kinds gzip,gzip-1layer   only these real-content images
//
// Real files (bench/build-real.mjs, kept in bench/results/real-*/): each compression's floor
// (`decode`: every layer decoded at once and dropped, Node zlib for gzip, the fastest zstd decoder
// here for zstd, plain reads for uncompressed), full scan (empty cache) and cached rescan run in
// turn, round by round; the ratio is the median of each round's full/floor. CPU and RSS are the
// child's own: a `zstd` process (the floor's, or a scan's where Node has no zstd) is not counted.
// `gzip-1layer` is the gzip image with its layers joined into one (bench/build-single.mjs): the
// case one walking thread per layer cannot spread. Each image's `walk` run (decompression, digests
// and tar walk, no detection) gives the stage costs from which the bench projects the wall time
// on more cores (see projectScaling).
//
// Builds deterministic images (bench/build-image.mjs; kept in bench/results/images-*/ and reused),
// then runs every variant in its own child process, so its peak RSS (getrusage maxrss: the main
// thread and the detection workers together) is its own:
//   floor      decompress + tar walk + digest checks of every layer, no detection:
//              scanLayer(blob, null) under the same layer concurrency as a scan
//   full       scanImage with an empty layer cache (includes writing the cache)
//   cached     the same image again: every layer from the cache (blobs hashed, not decompressed)
//   changed    the image with its last layer rebuilt: one layer scanned, the rest cached
//   layer-alone  that rebuilt layer scanned on its own (a pool, scanLayer; no cache, no other
//              layer): what `changed` should cost beyond `cached` (MB/s here: the layer's bytes)
//   docker-*   the same image as an uncompressed docker save
// Every variant runs under the CLI's process settings (tuneForScanning, src/runtime.ts).
// Results: bench/results/bench-<time>.json (and latest.json), and a table on stdout.
import { spawn } from 'node:child_process';
import { createReadStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBenchImages } from './build-image.mjs';
import { buildRealImages } from './build-real.mjs';
import { buildSingleLayerImage } from './build-single.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    target: { type: 'string' },
    'cache-dir': { type: 'string' },
    jobs: { type: 'string' },
    layer: { type: 'string' },
    large: { type: 'boolean', default: false },
    mib: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    compression: { type: 'string' },
    dist: { type: 'string' },
    baseline: { type: 'string' },
    'no-synthetic': { type: 'boolean', default: false },
    'no-real': { type: 'boolean', default: false },
    'no-single': { type: 'boolean', default: false },
    kinds: { type: 'string' },
  },
});

if (values.child) {
  await child(values.child, values.target, values['cache-dir'], values.jobs === undefined ? undefined : Number(values.jobs), values.layer === undefined ? undefined : Number(values.layer));
} else {
  if (!values['no-real']) await realMain();
  if (!values['no-synthetic']) await main();
}

/** The image archive at `target`, opened and resolved as a scan would. */
async function openImage(dist, target) {
  const { openContainer } = await import(dist('source/container.js'));
  const { resolveImage } = await import(dist('source/resolve.js'));
  const container = await openContainer(target);
  return { container, image: await resolveImage(container, { containerFormat: container.kind }) };
}

/** One variant, in this (child) process; prints one JSON line. */
async function child(mode, target, cacheDir, jobs, layerIndex) {
  const distDir = values.dist ? resolve(values.dist) : join(ROOT, 'dist');
  const dist = (p) => pathToFileURL(join(distDir, p)).href;
  // Every variant, the floor included, runs under the CLI's process settings.
  const { tuneForScanning } = await import(dist('runtime.js'));
  tuneForScanning();
  const started = performance.now();
  let stats;
  if (mode === 'decode') {
    stats = await decodeFloor(dist, target, values.compression);
  } else if (mode === 'floor') {
    const { default: pLimit } = await import('p-limit');
    const { scanLayer } = await import(dist('layer/walk.js'));
    const { defaultJobs } = await import(dist('scan.js'));
    const { container, image } = await openImage(dist, target);
    // The same layer concurrency as scanImage.
    const limit = pLimit(Math.max(2, Math.min(jobs ?? defaultJobs(), 4)));
    const scans = await Promise.all(image.layers.map((l) => limit(() => scanLayer(container.open(l.blob), null))));
    for (const [i, s] of scans.entries()) if (s.diffId !== image.layers[i].diffId) throw new Error(`layer ${i}: diff_id mismatch`);
    await container.close();
    stats = { layers: scans.length, files: scans.reduce((n, s) => n + s.files, 0), bytes: scans.reduce((n, s) => n + s.bytes, 0), layerBytes: scans.map((s) => s.bytes) };
  } else if (mode === 'alone') {
    // One layer scanned with detection and nothing else (no cache, no other layer): what the
    // `changed` variant should cost on top of a cached rescan.
    const { scanLayer } = await import(dist('layer/walk.js'));
    const { defaultJobs } = await import(dist('scan.js'));
    const { loadRuleSet } = await import(dist('detect/rules.js'));
    const { DetectionPool } = await import(dist('detect/pool.js'));
    const { container, image } = await openImage(dist, target);
    const layer = image.layers[layerIndex];
    const ruleSet = loadRuleSet();
    const pool = new DetectionPool(ruleSet.rules, jobs ?? defaultJobs(), ruleSet.plan);
    const scan = await scanLayer(container.open(layer.blob), pool);
    await pool.close();
    await container.close();
    if (scan.diffId !== layer.diffId) throw new Error(`layer ${layerIndex}: diff_id mismatch`);
    stats = { layers: 1, files: scan.files, bytes: scan.bytes, matches: scan.matches.length };
  } else {
    const { scanImage } = await import(dist('scan.js'));
    const report = await scanImage(target, { cacheDir, jobs });
    stats = { ...report.stats, findings: report.findings.length };
  }
  const wallMs = performance.now() - started;
  const usage = process.resourceUsage();
  const cpuMs = (usage.userCPUTime + usage.systemCPUTime) / 1000;
  process.stdout.write(`${JSON.stringify({ mode, wallMs, cpuMs, maxRssKiB: usage.maxRSS, stats })}\n`);
}

function runChild(mode, target, cacheDir, jobs, layer, extra = []) {
  return new Promise((resolvePromise, reject) => {
    const args = [fileURLToPath(import.meta.url), '--child', mode, '--target', target, ...extra];
    if (cacheDir) args.push('--cache-dir', cacheDir);
    if (layer !== undefined) args.push('--layer', String(layer));
    if (jobs !== undefined) args.push('--jobs', String(jobs));
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`${mode} ${target}: exit ${code}`));
      else resolvePromise(JSON.parse(out.trim().split('\n').at(-1)));
    });
  });
}

async function warm(path) {
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) void chunk;
}

async function main() {
  const sizes = values.mib ? [Number(values.mib)] : values.large ? [500, 2048] : [500];
  const repeat = Math.max(1, Number(values.repeat));
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
  mkdirSync(RESULTS, { recursive: true });
  const all = [];
  for (const mib of sizes) {
    const outDir = join(RESULTS, `images-${mib}`);
    const t0 = performance.now();
    const images = await buildBenchImages({ outDir, targetMiB: mib, root: ROOT, log: (s) => process.stderr.write(`bench: ${mib} MiB: ${s}\n`) });
    process.stderr.write(`bench: ${mib} MiB image ready (${((performance.now() - t0) / 1000).toFixed(1)} s): ${(images.uncompressedBytes / 2 ** 20).toFixed(0)} MiB of tar in ${images.layers} layers, ${(images.gzipBytes / 2 ** 20).toFixed(0)} MiB gzip\n`);
    for (const p of Object.values(images.archives)) await warm(p);

    const cacheDir = join(outDir, 'cache');
    const dockerCache = join(outDir, 'cache-docker');
    /** @type {[string, string, string, string | undefined, () => void][]} */
    const plan = [
      ['floor', 'floor', images.archives.gzip, undefined, () => {}],
      ['full', 'scan', images.archives.gzip, cacheDir, () => rmSync(cacheDir, { recursive: true, force: true })],
      ['cached', 'scan', images.archives.gzip, cacheDir, () => {}],
      ['changed', 'scan', images.archives['gzip-changed'], cacheDir, () => {}],
      ['layer-alone', 'alone', images.archives['gzip-changed'], undefined, () => {}],
      ['docker-floor', 'floor', images.archives.docker, undefined, () => {}],
      ['docker-full', 'scan', images.archives.docker, dockerCache, () => rmSync(dockerCache, { recursive: true, force: true })],
    ];
    const runs = {};
    for (let r = 0; r < repeat; r++) {
      for (const [name, mode, target, dir, before] of plan) {
        before();
        const result = await runChild(mode, target, dir, jobs, mode === 'alone' ? images.changedLayer.index : undefined);
        (runs[name] ??= []).push(result);
        process.stderr.write(`bench: ${mib} MiB ${name}: ${(result.wallMs / 1000).toFixed(2)} s (CPU ${(result.cpuMs / 1000).toFixed(2)} s), ${(result.maxRssKiB / 1024).toFixed(0)} MiB peak RSS\n`);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rows = plan.map(([name]) => {
      const rs = runs[name];
      const wallMs = median(rs.map((x) => x.wallMs));
      const floorName = name.startsWith('docker') ? 'docker-floor' : 'floor';
      const floorMs = median(runs[floorName].map((x) => x.wallMs));
      return {
        variant: name,
        wallMs: Math.round(wallMs),
        mbPerS: +((name === 'layer-alone' ? images.changedLayer.tarBytes : images.uncompressedBytes) / 1e6 / (wallMs / 1000)).toFixed(1),
        ratioToFloor: +(wallMs / floorMs).toFixed(2),
        ratioToFull: name === 'cached' || name === 'changed' || name === 'layer-alone' ? +(wallMs / median(runs.full.map((x) => x.wallMs))).toFixed(3) : null,
        cpuS: +(median(rs.map((x) => x.cpuMs)) / 1000).toFixed(2),
        peakRssMiB: Math.round(Math.max(...rs.map((x) => x.maxRssKiB)) / 1024),
        cachedLayers: rs[0].stats.cachedLayers ?? null,
        findings: rs[0].stats.findings ?? null,
        runs: rs.map((x) => Math.round(x.wallMs)),
        // Each run against its own round's floor: the VM's speed drifts between rounds, and a
        // ratio within one round is free of that drift.
        roundRatios: rs.map((x, r) => +(x.wallMs / runs[floorName][r].wallMs).toFixed(2)),
      };
    });
    all.push({ mib, image: images, rows });
    printTable(mib, images, rows);
  }
  const result = { when: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? null, repeat, jobs: jobs ?? null, results: all };
  const file = join(RESULTS, `bench-${result.when.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify(result, null, 2));
  process.stdout.write(`\nwrote ${file}\n`);
}

function printTable(mib, images, rows) {
  const head = ['variant', 'wall s', 'CPU s', 'MB/s', '× floor', '× full', 'peak RSS MiB', 'cached layers'];
  const body = rows.map((r) => [r.variant, (r.wallMs / 1000).toFixed(2), r.cpuS.toFixed(2), r.mbPerS.toFixed(0), r.ratioToFloor.toFixed(2), r.ratioToFull === null ? '' : r.ratioToFull.toFixed(3), String(r.peakRssMiB), r.cachedLayers === null ? '' : `${r.cachedLayers}/${images.layers}`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  process.stdout.write(`\n${mib} MiB target: ${(images.uncompressedBytes / 1e6).toFixed(0)} MB uncompressed (${images.layers} layers), ${(images.gzipBytes / 1e6).toFixed(0)} MB gzip; MB/s = uncompressed MB / wall s\n`);
  process.stdout.write(`${line(head)}\n|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|\n`);
  for (const b of body) process.stdout.write(`${line(b)}\n`);
  const full = rows.find((r) => r.variant === 'full');
  if (full && full.roundRatios.length > 1) process.stdout.write(`full / floor round by round: ${full.roundRatios.map((x) => x.toFixed(2)).join(' ')}\n`);
}

/**
 * The decompression floor of an image: every layer decoded at once, the output dropped. gzip:
 * Node's zlib; zstd: the fastest decoder here (Node's zlib zstd, else `zstd -dc`); none: the
 * blobs read. No hashing, no tar walk: what no scan can beat.
 */
async function decodeFloor(dist, target, compression) {
  const { container, image } = await openImage(dist, target);
  const zlib = await import('node:zlib');
  const drain = (stream) => new Promise((res, rej) => {
    let bytes = 0;
    stream.on('data', (c) => (bytes += c.length));
    stream.on('end', () => res(bytes));
    stream.on('error', rej);
  });
  let decoder = compression;
  const sizes = await Promise.all(image.layers.map(async (l) => {
    const blob = container.open(l.blob);
    if (compression === 'none') return drain(blob);
    if (compression === 'gzip') return drain(blob.pipe(zlib.createGunzip({ chunkSize: 1024 * 1024 })));
    if (typeof zlib.createZstdDecompress === 'function') {
      decoder = 'zstd (node zlib)';
      return drain(blob.pipe(zlib.createZstdDecompress({ chunkSize: 1024 * 1024 })));
    }
    decoder = 'zstd (zstd -dc)';
    const p = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'inherit'] });
    blob.pipe(p.stdin);
    const [bytes, code] = await Promise.all([drain(p.stdout), new Promise((res) => p.on('close', res))]);
    if (code !== 0) throw new Error(`zstd -dc: exit ${code}`);
    return bytes;
  }));
  await container.close();
  return { layers: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0), decoder };
}

/**
 * Images of real files (bench/build-real.mjs), gzip, zstd and uncompressed: each compression's
 * floor and full scan alternate, round by round, then a cached rescan of each. With
 * `--baseline DIR` (another build's dist/), that build's full scan runs in the same rounds.
 */
async function realMain() {
  const sizes = values.mib ? [Number(values.mib)] : values.large ? [1024, 4096] : [1024];
  const repeat = Math.max(1, Number(values.repeat));
  const jobs = values.jobs === undefined ? undefined : Number(values.jobs);
  mkdirSync(RESULTS, { recursive: true });
  const all = [];
  for (const mib of sizes) {
    const outDir = join(RESULTS, `real-${mib}`);
    const t0 = performance.now();
    const images = await buildRealImages({ outDir, targetMiB: mib, root: ROOT, log: (s) => process.stderr.write(`bench: real ${mib} MiB: ${s}\n`) });
    process.stderr.write(`bench: real ${mib} MiB image ready (${((performance.now() - t0) / 1000).toFixed(1)} s): ${(images.uncompressedBytes / 1e6).toFixed(0)} MB of tar in ${images.layers} layers\n`);
    const kinds = [['gzip', 'gzip'], ['zstd', 'zstd'], ['docker', 'none']];
    const archives = { ...images.archives };
    if (!values['no-single'] && (values.kinds === undefined || values.kinds.split(',').includes('gzip-1layer'))) {
      const single = await buildSingleLayerImage({ dockerTar: images.archives.docker, outDir: join(RESULTS, `real-${mib}-single`), log: (s) => process.stderr.write(`bench: real ${mib} MiB, one layer: ${s}\n`) });
      archives['gzip-1layer'] = single.archives.gzip;
      kinds.push(['gzip-1layer', 'gzip']);
    }
    if (values.kinds) {
      const wanted = new Set(values.kinds.split(','));
      kinds.splice(0, kinds.length, ...kinds.filter(([kind]) => wanted.has(kind)));
    }
    const runs = {};
    const record = (name, result) => {
      (runs[name] ??= []).push(result);
      process.stderr.write(`bench: real ${mib} MiB ${name}: ${(result.wallMs / 1000).toFixed(2)} s (CPU ${(result.cpuMs / 1000).toFixed(2)} s), ${(result.maxRssKiB / 1024).toFixed(0)} MiB peak RSS\n`);
    };
    for (let r = 0; r < repeat; r++) {
      for (const [kind, compression] of kinds) {
        const target = archives[kind];
        await warm(target);
        const cacheDir = join(outDir, `cache-${kind}`);
        record(`${kind}-floor`, await runChild('decode', target, undefined, jobs, undefined, ['--compression', compression]));
        record(`${kind}-walk`, await runChild('floor', target, undefined, jobs));
        rmSync(cacheDir, { recursive: true, force: true });
        record(`${kind}-full`, await runChild('scan', target, cacheDir, jobs));
        if (values.baseline) {
          const baseCache = join(outDir, `cache-base-${kind}`);
          rmSync(baseCache, { recursive: true, force: true });
          record(`${kind}-baseline`, await runChild('scan', target, baseCache, jobs, undefined, ['--dist', values.baseline]));
          record(`${kind}-baseline-cached`, await runChild('scan', target, baseCache, jobs, undefined, ['--dist', values.baseline]));
        }
        record(`${kind}-cached`, await runChild('scan', target, cacheDir, jobs));
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rows = kinds.flatMap(([kind]) => {
      const variant = (name) => runs[`${kind}-${name}`];
      const floor = variant('floor');
      const ratioRounds = (rs) => rs.map((x, i) => x.wallMs / floor[i].wallMs);
      const row = (name, rs) => ({
        image: kind,
        variant: name,
        decoder: floor[0].stats.decoder,
        floorS: median(floor.map((x) => x.wallMs)) / 1000,
        wallS: median(rs.map((x) => x.wallMs)) / 1000,
        cpuS: median(rs.map((x) => x.cpuMs)) / 1000,
        ratio: median(ratioRounds(rs)),
        peakRssMiB: Math.round(Math.max(...rs.map((x) => x.maxRssKiB)) / 1024),
        // Each build's cached rescan over its own full scan.
        cachedShare: median(variant(name === 'baseline' ? 'baseline-cached' : 'cached').map((x) => x.wallMs)) / median(rs.map((x) => x.wallMs)),
        findings: rs[0].stats.findings,
        files: rs[0].stats.files,
        roundRatios: ratioRounds(rs).map((x) => +x.toFixed(2)),
        coresUsed: median(rs.map((x) => x.cpuMs / x.wallMs)),
        projection: projectScaling({ decode: floor, walk: variant('walk'), full: rs, mb: images.uncompressedBytes / 1e6 }),
      });
      return [row('full', variant('full')), ...(values.baseline ? [row('baseline', variant('baseline'))] : [])];
    });
    all.push({ mib, image: images, rows, runs });
    printRealTable(mib, images, rows);
  }
  const result = { when: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? null, repeat, jobs: jobs ?? null, real: all };
  const file = join(RESULTS, `bench-real-${result.when.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  writeFileSync(join(RESULTS, 'latest-real.json'), JSON.stringify(result, null, 2));
  process.stdout.write(`\nwrote ${file}\n`);
}

function printRealTable(mib, images, rows) {
  const head = ['image', 'variant', 'floor (decoder)', 'floor s', 'full s', 'CPU s', '× floor', 'peak RSS MiB', 'cached %'];
  const body = rows.map((r) => [r.image, r.variant, r.decoder, r.floorS.toFixed(2), r.wallS.toFixed(2), r.cpuS.toFixed(2), r.ratio.toFixed(2), String(r.peakRssMiB), (100 * r.cachedShare).toFixed(1)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  process.stdout.write(`\nreal files, ${mib} MiB target: ${(images.uncompressedBytes / 1e6).toFixed(0)} MB uncompressed in ${images.layers} layers (${rows[0]?.files ?? '?'} files), ${(images.gzipBytes / 1e6).toFixed(0)} MB gzip, ${(images.zstdBytes / 1e6).toFixed(0)} MB zstd; × floor: median of the rounds' full/floor\n`);
  process.stdout.write(`${line(head)}\n|${widths.map((w, i) => (i < 3 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|\n`);
  for (const b of body) process.stdout.write(`${line(b)}\n`);
  for (const r of rows) if (r.roundRatios.length > 1) process.stdout.write(`${r.image} ${r.variant} / floor round by round: ${r.roundRatios.join(' ')}\n`);
  process.stdout.write('\ncores used (CPU s / wall s) and projected throughput (MB/s) from the stage costs:\n');
  for (const r of rows) {
    const p = r.projection;
    const at = (n) => `${n} cores ${p.mbPerS[n].toFixed(0)} (${p.wall[n]})`;
    process.stdout.write(`${r.image} ${r.variant}: ${r.coresUsed.toFixed(2)} cores; CPU s decode ${p.decodeS.toFixed(2)}, walk ${p.walkS.toFixed(2)}, detect ${p.detectS.toFixed(2)}, largest layer ${(100 * p.largestShare).toFixed(0)}%; ${[2, 8, 32].map(at).join(', ')}\n`);
  }
}

/**
 * Expected wall time of a full scan on `n` cores, from the CPU each stage took here: decoding
 * (the floor run: reading and decompressing, on libuv's threads, one per layer at a time), the
 * walk (the walk run minus decoding: digests, tar headers, cutting windows, on the layer's own
 * thread, which nothing can share), and detection (the full scan minus the walk run: shared by
 * every layer worker not walking). The wall is the largest of: all the CPU over the cores; the
 * walk and detection over the layer workers; decoding over the layers it can run at once; and
 * the largest layer's walk or decoding, whichever is longer, since one thread does each of
 * them for that layer from start to end. Layer sizes from the walk run's file bytes.
 */
function projectScaling({ decode, walk, full, mb }) {
  // A scan runs at most 8 layer workers (src/scan.ts) and inflates on libuv's pool (4 threads).
  const maxLayerWorkers = 8;
  const inflateThreads = 4;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const decodeS = median(decode.map((x) => x.cpuMs)) / 1000;
  const walkS = Math.max(0, median(walk.map((x) => x.cpuMs)) / 1000 - decodeS);
  const detectS = Math.max(0, median(full.map((x) => x.cpuMs)) / 1000 - decodeS - walkS);
  const layerBytes = walk[0].stats.layerBytes ?? [1];
  const total = layerBytes.reduce((a, b) => a + b, 0) || 1;
  const largestShare = Math.max(...layerBytes) / total;
  const wall = {};
  const mbPerS = {};
  for (const n of [2, 8, 32]) {
    const workers = Math.min(Math.max(2, n), maxLayerWorkers);
    const bounds = {
      cores: (decodeS + walkS + detectS) / n,
      workers: (walkS + detectS) / workers,
      decoding: decodeS / Math.min(n, inflateThreads, layerBytes.length),
      'largest layer': largestShare * Math.max(decodeS, walkS),
    };
    const [limit, seconds] = Object.entries(bounds).sort((a, b) => b[1] - a[1])[0];
    wall[n] = `${seconds.toFixed(2)} s, bound by ${limit}`;
    mbPerS[n] = mb / seconds;
  }
  return { decodeS, walkS, detectS, largestShare, wall, mbPerS };
}
