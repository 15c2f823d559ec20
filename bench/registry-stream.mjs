#!/usr/bin/env node
// Memory while streaming a large image from a registry (not a test: no assertions).
//
//   node bench/registry-stream.mjs [--mib 500] [--layers 4] [--keep]
//
// Generates an OCI layout of ~MIB MiB of gzip layers (pseudo-random text files, a few fake
// secrets), pushes it with skopeo to a private docker-registry on 127.0.0.1, then scans
// docker://127.0.0.1:PORT/bench/big:1 in a child process and reports its peak RSS
// (getrusage maxrss: main thread and detection workers together), the duration and the
// bytes scanned. For comparison it also scans the same layout from disk.
// Needs: npm run build, docker-registry, skopeo. Nothing leaves 127.0.0.1.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { startRegistry } from '../test/support/registry.mjs';
import { skopeoCopy } from '../test/support/skopeo.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { mib: { type: 'string', default: '500' }, layers: { type: 'string', default: '4' }, keep: { type: 'boolean', default: false } } });
const targetBytes = Number(values.mib) * 1024 * 1024;
const layerCount = Number(values.layers);

/** xorshift32: fast, deterministic filler. */
function filler(seed) {
  let x = seed >>> 0 || 1;
  const alphabet = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ =:\n');
  return (n) => {
    const buf = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf[i] = alphabet[(x >>> 0) % alphabet.length];
    }
    return buf;
  };
}

function hashTap(hash, counter) {
  return new Transform({
    transform(chunk, _enc, cb) {
      hash.update(chunk);
      counter.bytes += chunk.length;
      cb(null, chunk);
    },
  });
}

async function writeLayer(blobsDir, index, compressedBudget) {
  const next = filler(0x9e3779b9 ^ (index + 1));
  const pack = tar.pack();
  const tarHash = createHash('sha256');
  const blobHash = createHash('sha256');
  const tarCount = { bytes: 0 };
  const blobCount = { bytes: 0 };
  const temp = join(blobsDir, `layer-${index}.tmp`);
  const done = pipeline(pack, hashTap(tarHash, tarCount), createGzip({ level: 1 }), hashTap(blobHash, blobCount), createWriteStream(temp));
  const fileSize = 4 * 1024 * 1024;
  // Random text from a 67-symbol alphabet gzips to ~80 %: write until the budget is reached.
  for (let f = 0; blobCount.bytes + fileSize * 0.8 < compressedBudget && tarCount.bytes < compressedBudget * 1.6; f++) {
    let body = next(fileSize);
    if (f === 3) body = Buffer.concat([Buffer.from(`region=eu\naws_access_key_id = AKIA${'Q'.repeat(4)}${next(12).toString('latin1').replace(/[^A-Z2-7]/g, 'Z')}\n`), body]);
    await new Promise((ok, fail) => pack.entry({ name: `data/layer${index}/file-${String(f).padStart(4, '0')}.txt`, size: body.length }, body, (err) => (err ? fail(err) : ok())));
  }
  pack.finalize();
  await done;
  const digest = `sha256:${blobHash.digest('hex')}`;
  await rename(temp, join(blobsDir, digest.slice(7)));
  return { digest, diffId: `sha256:${tarHash.digest('hex')}`, size: blobCount.bytes };
}

async function writeJsonBlob(blobsDir, value) {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(join(blobsDir, digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

async function buildLayout(dir) {
  const blobsDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const layers = [];
  for (let i = 0; i < layerCount; i++) layers.push(await writeLayer(blobsDir, i, targetBytes / layerCount));
  const config = await writeJsonBlob(blobsDir, {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/bin:/bin'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created_by: `bench layer ${i}` })),
  });
  const manifest = await writeJsonBlob(blobsDir, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }] }));
  return layers.reduce((n, l) => n + l.size, 0);
}

/** Scans in a fresh Node process; returns its own report of peak RSS and what it scanned. */
async function scanInChild(target) {
  // A file, not --eval: worker threads inherit execArgv, and --input-type would break them.
  const scriptPath = join(work, 'scan-child.mjs');
  const script = `
    const { scanImage } = await import(${JSON.stringify(join(ROOT, 'dist', 'scan.js'))});
    const t0 = performance.now();
    const report = await scanImage(process.argv[2]);
    const usage = process.resourceUsage();
    console.log(JSON.stringify({ maxRssMiB: +(usage.maxRSS / 1024).toFixed(1), seconds: +((performance.now() - t0) / 1000).toFixed(1),
      findings: report.findings.length, layers: report.stats.layers, scannedMiB: +(report.stats.bytes / 1048576).toFixed(1),
      format: report.image.format }));`;
  await writeFile(scriptPath, script);
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [scriptPath, target], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok(JSON.parse(out.trim().split('\n').pop())) : fail(new Error(`scan of ${target} exited ${code}`))));
  });
}

const work = await mkdtemp(join(tmpdir(), 'stratascan-bench-'));
const registry = await startRegistry();
try {
  const layout = join(work, 'layout');
  let t = performance.now();
  const imageBytes = await buildLayout(layout);
  console.log(`generated ${(imageBytes / 1048576).toFixed(1)} MiB of gzip layers (${layerCount} layers) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  const ref = `${registry.host}/bench/big:1`;
  await skopeoCopy(`oci:${layout}`, `docker://${ref}`, { extraArgs: ['--dest-tls-verify=false'] });
  console.log(`pushed to ${registry.host} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const fromRegistry = await scanInChild(`docker://${ref}`);
  console.log(`registry scan: ${JSON.stringify(fromRegistry)}`);
  const fromDisk = await scanInChild(layout);
  console.log(`layout scan (same image from disk, for comparison): ${JSON.stringify(fromDisk)}`);
  const sizes = { imageMiB: +(imageBytes / 1048576).toFixed(1), registryPeakRssMiB: fromRegistry.maxRssMiB, diskPeakRssMiB: fromDisk.maxRssMiB };
  console.log(`summary: ${JSON.stringify(sizes)}`);
  if (values.keep) console.log(`kept ${work}`);
} finally {
  await registry.stop();
  if (!values.keep) await rm(work, { recursive: true, force: true });
}
