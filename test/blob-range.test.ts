// A compressed layer read from a byte range of a file goes through a few read buffers used in
// turn (src/layer/decompress.ts decodeRange). A buffer reused before the decoder is done with it
// would change the tar silently: every case here compares digests with the streamed path, over
// layers several times larger than the buffers, and checks that a damaged blob still fails.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { buildImage, tarOf } from '../fixtures/builder.mjs';
import { loadRuleSet } from '../src/detect/rules.js';
import { scanBlob } from '../src/layer-outcome.js';
import { decodeRange } from '../src/layer/decompress.js';
import { layerStartOrder, LayerWorkers } from '../src/layer/layer-workers.js';
import { DEFAULT_ARCHIVE_LIMITS } from '../src/layer/nested.js';
import { scanLayer } from '../src/layer/walk.js';
import { forceZstdDecoder } from '../src/layer/zstd-decode.js';
import { scanImage } from '../src/scan.js';
import { openContainer } from '../src/source/container.js';
import { resolveImage } from '../src/source/resolve.js';
import { leakySpec, makeSecrets } from './support/leaky-spec.js';

const dir = mkdtempSync(join(tmpdir(), 'stratascan-blob-range-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => forceZstdDecoder(null));

const hasZstd = spawnSync('zstd', ['--version']).status === 0;
if (!hasZstd) {
  if (process.env.CI) throw new Error('zstd is missing: .ci/run must install it');
  console.warn('\n*** SKIPPING zstd range tests: the zstd binary is missing (apt-get install zstd) ***\n');
}
const nativeZstd = typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';

function zstd(data: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', '--check'], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** A layer of ~7 MiB that compresses badly (random bytes, hex text): many 1 MiB reads. */
async function bigLayer(): Promise<Buffer> {
  return tarOf([
    { name: 'opt/blob.bin', content: randomBytes(4 * 1024 * 1024) },
    { name: 'opt/notes.txt', content: Buffer.from(randomBytes(1536 * 1024).toString('hex')) },
    { name: 'etc/app.conf', content: Buffer.from('mode=production\n') },
  ]);
}

/** `blob` in a file between other bytes, as a layer sits in an image archive. */
function inFile(name: string, blob: Buffer): { path: string; start: number; size: number } {
  const before = randomBytes(1536);
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([before, blob, randomBytes(700)]));
  return { path, start: before.length, size: blob.length };
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const cases: { name: string; compress: (tar: Buffer) => Buffer; recycled: boolean; skip: boolean }[] = [
  { name: 'gzip', compress: (tar) => zlib.gzipSync(tar, { level: 1 }), recycled: true, skip: false },
  { name: 'zstd', compress: zstd, recycled: nativeZstd, skip: !hasZstd },
];

describe('layers read from a byte range of a file', () => {
  for (const c of cases) {
    it.skipIf(c.skip)(`${c.name}: the same digests, files and paths as the streamed blob`, async () => {
      const tar = await bigLayer();
      const blob = c.compress(tar);
      expect(blob.length).toBeGreaterThan(4 * 1024 * 1024);
      const range = inFile(`${c.name}.bin`, blob);
      const decoding = await decodeRange(range, createHash('sha256'), { bytes: 0 });
      // Node 20 has no zlib zstd: its zstd layers stream (the zstd command), as before.
      expect(decoding !== null).toBe(c.recycled);
      decoding?.tar.destroy();
      await decoding?.read;
      const [fromRange, streamed] = [await scanLayer(range, null), await scanLayer(Readable.from([blob]), null)];
      expect(fromRange.blobDigest).toBe(sha(blob));
      expect(fromRange.diffId).toBe(sha(tar));
      expect(fromRange.storedBytes).toBe(blob.length);
      expect({ ...fromRange, changes: [...fromRange.changes.entries] }).toEqual({ ...streamed, changes: [...streamed.changes.entries] });
    });

    it.skipIf(c.skip)(`${c.name}: a damaged or cut blob still fails`, async () => {
      const blob = c.compress(await bigLayer());
      const damaged = Buffer.from(blob);
      for (let i = 2_000_000; i < 2_000_064; i++) damaged[i] = damaged[i]! ^ 0x5a;
      await expect(scanLayer(inFile(`${c.name}-damaged.bin`, damaged), null)).rejects.toThrow();
      await expect(scanLayer(inFile(`${c.name}-cut.bin`, blob.subarray(0, blob.length - 5000)), null)).rejects.toThrow();
      // A file shorter than the range it is said to hold.
      const short = inFile(`${c.name}-short.bin`, blob);
      await expect(scanLayer({ ...short, size: blob.length + 4096 }, null)).rejects.toThrow();
    });
  }

  it('a blob whose bytes differ but inflate to the same tar has another digest', async () => {
    const tar = await bigLayer();
    const blob = zlib.gzipSync(tar, { level: 1 });
    const other = Buffer.from(blob);
    // The gzip header's MTIME: same tar, different blob. Only the blob digest can tell.
    other.writeUInt32LE((other.readUInt32LE(4) + 1) >>> 0, 4);
    const [a, b] = [await scanLayer(inFile('a.gz', blob), null), await scanLayer(inFile('b.gz', other), null)];
    expect(a.diffId).toBe(b.diffId);
    expect(a.blobDigest).toBe(sha(blob));
    expect(b.blobDigest).toBe(sha(other));
  });

  it('uncompressed and tiny blobs stream as before', async () => {
    const tar = await bigLayer();
    const range = inFile('plain.tar', tar);
    expect(await decodeRange(range, createHash('sha256'), { bytes: 0 })).toBeNull();
    const scan = await scanLayer(range, null);
    expect(scan.blobDigest).toBe(sha(tar));
    expect(scan.diffId).toBe(sha(tar));
    const empty = await scanLayer({ path: range.path, start: 0, size: 0 }, null);
    expect(empty.files).toBe(0);
  });
});

describe('digest checks on layers the layer workers read from a file', () => {
  const { spec } = leakySpec(makeSecrets(4242));

  it('a gzip blob that no longer matches its digest fails the scan (no cache)', async () => {
    const bytes = (await buildImage(spec, { layout: 'oci-archive', compression: 'gzip' })) as Buffer;
    const copy = Buffer.from(bytes);
    // The first member whose data is gzip is a layer blob: change its MTIME (same tar, other bytes).
    let tampered = 0;
    for (let at = 0; at + 1024 <= copy.length && tampered === 0; at += 512) {
      if (copy.toString('latin1', at, at + 13) === 'blobs/sha256/' && copy[at + 512] === 0x1f && copy[at + 513] === 0x8b) {
        copy.writeUInt32LE((copy.readUInt32LE(at + 516) + 1) >>> 0, at + 516);
        tampered++;
      }
    }
    expect(tampered).toBe(1);
    const path = join(dir, 'tampered-layer.tar');
    writeFileSync(path, copy);
    await expect(scanImage(path, { jobs: 2, cache: false })).rejects.toThrow(/blob content does not match its digest/);
  });

  it('a compressed layer whose tar is not the diff_id the config names fails', async () => {
    const path = join(dir, 'good.tar');
    writeFileSync(path, (await buildImage(spec, { layout: 'oci-archive', compression: 'gzip' })) as Buffer);
    const container = await openContainer(path);
    const workers = new LayerWorkers(loadRuleSet().rules, undefined, DEFAULT_ARCHIVE_LIMITS, 2);
    try {
      const image = await resolveImage(container, { containerFormat: container.kind });
      const layer = image.layers[1]!;
      const good = await scanBlob(container, layer, workers, DEFAULT_ARCHIVE_LIMITS);
      expect(good.blobDigest).toBe(layer.digest);
      const wrong = `sha256:${'0'.repeat(64)}`;
      await expect(scanBlob(container, { ...layer, diffId: wrong }, workers, DEFAULT_ARCHIVE_LIMITS)).rejects.toThrow(/does not match the config's diff_id/);
    } finally {
      await workers.close();
      await container.close();
    }
  });
});

describe('the order layers are handed to layer workers', () => {
  it('cache hits first, then the biggest blobs, ties in image order', () => {
    expect(layerStartOrder([60, 100, 99, 167])).toEqual([3, 1, 2, 0]);
    expect(layerStartOrder([5, null, 5, 9, null, 0])).toEqual([1, 4, 3, 0, 2, 5]);
    expect(layerStartOrder([])).toEqual([]);
  });

  it('a scan whose biggest layer is the last reports its layers in image order', async () => {
    const { spec } = leakySpec(makeSecrets(77));
    const path = join(dir, 'order.tar');
    writeFileSync(path, (await buildImage(spec, { layout: 'oci-archive', compression: 'gzip' })) as Buffer);
    const container = await openContainer(path);
    let sizes: number[];
    try {
      const image = await resolveImage(container, { containerFormat: container.kind });
      sizes = image.layers.map((l) => container.size(l.blob));
    } finally {
      await container.close();
    }
    // The fixture's layers are not in size order, so the scan starts them out of image order.
    expect(layerStartOrder(sizes)).not.toEqual(sizes.map((_, i) => i));
    const report = await scanImage(path, { jobs: 2, cache: false });
    expect(report.image.layers.map((l) => l.index)).toEqual(sizes.map((_, i) => i));
    const single = await scanImage(path, { jobs: 0, cache: false });
    const key = (r: typeof report) => r.findings.map((f) => `${f.ruleId} ${f.layer?.index} ${f.layer?.diffId} ${f.path} ${f.secretHash}`).sort();
    expect(key(report)).toEqual(key(single));
    expect(report.findings.length).toBeGreaterThan(0);
  });
});
