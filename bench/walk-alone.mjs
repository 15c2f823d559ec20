#!/usr/bin/env node
// The walk alone: every layer of an image walked on this one thread, one after the other, with a
// detection "pool" that answers each submit at once (no matches). What it costs over the bare walk
// (`--pool none`: decompression, digests, tar headers, no sniffing) is the walk's per-file side:
// path normalisation, the path table, sniffing, cutting windows, the hand-over and its bookkeeping.
// `--pool gunzip` also inflates each small `.gz` file the walk hands over (as detection would,
// with a no-op engine): the difference to `instant` is what those inflations cost.
//
//   node bench/walk-alone.mjs IMAGE [--pool instant|gunzip|none] [--dist DIR] [--repeat N]
//
// Prints one JSON line per run: CPU ms of this process (user+sys), files, bytes, submits.
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { pool: { type: 'string', default: 'instant' }, dist: { type: 'string' }, repeat: { type: 'string', default: '1' } },
});
const distDir = values.dist ? resolve(values.dist) : join(ROOT, 'dist');
const dist = (p) => pathToFileURL(join(distDir, p)).href;
const target = positionals[0];
if (!target) throw new Error('usage: walk-alone.mjs IMAGE [--pool instant|gunzip|none]');

const { tuneForScanning } = await import(dist('runtime.js'));
tuneForScanning();
const { scanLayer } = await import(dist('layer/walk.js'));
const { scanGzipMember } = await import(dist('detect/gzip-member.js'));
const { openContainer } = await import(dist('source/container.js'));
const { resolveImage } = await import(dist('source/resolve.js'));

/** Answers every submit at once; counts what it was handed. */
class InstantPool {
  submits = 0;
  gzips = 0;
  bytes = 0;
  constructor(gunzip) {
    this.gunzip = gunzip;
    this.engine = { scan: () => [] };
  }
  submit(data, to, _countTo = 0, gunzip = false) {
    const parts = data instanceof Uint8Array ? [data] : data;
    this.submits++;
    for (const p of parts) this.bytes += p.byteLength;
    if (gunzip) {
      this.gzips++;
      if (this.gunzip) {
        const bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts);
        const { outcome } = scanGzipMember(this.engine, bytes);
        to.found([], -1, -1, outcome);
        return null;
      }
    }
    to.found([], 0, -1, 0);
    return null;
  }
  flush() {}
}

for (let round = 0; round < Number(values.repeat); round++) {
  const container = await openContainer(target);
  const image = await resolveImage(container, { containerFormat: container.kind });
  const pool = values.pool === 'none' ? null : new InstantPool(values.pool === 'gunzip');
  const before = process.cpuUsage();
  const started = performance.now();
  let files = 0;
  let bytes = 0;
  for (const layer of image.layers) {
    const scan = await scanLayer(container.open(layer.blob), pool);
    if (scan.diffId !== layer.diffId) throw new Error('diff_id mismatch');
    files += scan.files;
    bytes += scan.bytes;
  }
  const cpu = process.cpuUsage(before);
  await container.close();
  process.stdout.write(`${JSON.stringify({ pool: values.pool, dist: distDir, cpuMs: Math.round((cpu.user + cpu.system) / 1000), wallMs: Math.round(performance.now() - started), files, bytes, submits: pool?.submits, gzips: pool?.gzips })}\n`);
}
