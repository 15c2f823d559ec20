import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { tarOf } from '../fixtures/builder.mjs';
import { scanLayer } from '../src/layer/walk.js';
import { ZstdFrameGuard } from '../src/layer/zstd-frames.js';
import { forceZstdDecoder, zstdDecoderKind } from '../src/layer/zstd-decode.js';

const hasZstd = spawnSync('zstd', ['--version']).status === 0;
if (!hasZstd) {
  if (process.env.CI) throw new Error('zstd is missing: .ci/run must install it');
  console.warn('\n*** SKIPPING zstd frame tests: the zstd binary is missing (apt-get install zstd) ***\n');
}

function zstd(data: Buffer, args: string[] = []): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

async function layerText(bytes: number): Promise<Buffer> {
  const text = randomBytes(bytes / 2).toString('hex');
  return tarOf([{ name: 'app/log.txt', content: Buffer.from(text) }]);
}

describe.skipIf(!hasZstd)('zstd frame guard', () => {
  it('passes real zstd output: several frames, a skippable frame, checksums, small pushes', async () => {
    const tarBytes = await layerText(2 * 1024 * 1024);
    const half = tarBytes.length / 2;
    const skippable = Buffer.alloc(8 + 5);
    skippable.writeUInt32LE(0x184d2a53, 0);
    skippable.writeUInt32LE(5, 4);
    const blob = Buffer.concat([zstd(tarBytes.subarray(0, half), ['--check']), skippable, zstd(tarBytes.subarray(half), ['--no-check'])]);
    const guard = new ZstdFrameGuard();
    for (let i = 0; i < blob.length; i += 7) guard.push(blob.subarray(i, i + 7));
    const scan = await scanLayer(Readable.from([blob]), null);
    expect(scan.files).toBe(1);
  });

  it('refuses a frame that asks for a huge window before the decoder allocates it', async () => {
    const blob = zstd(await layerText(512 * 1024), ['--no-check']);
    // Byte 4 is the frame header descriptor; with no single-segment flag, byte 5 is the window.
    expect(blob[4]! & 0x20).toBe(0);
    const hostile = Buffer.from(blob);
    hostile[5] = 0xa7; // 2^30 + 7/8 of it: 1.875 GiB
    const before = process.memoryUsage().rss;
    await expect(scanLayer(Readable.from([hostile]), null)).rejects.toThrow(/zstd frame asks for a 1920 MiB window/);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('refuses data that is not zstd framing', () => {
    const guard = new ZstdFrameGuard();
    const blob = zstd(Buffer.from('hello\n'));
    guard.push(blob);
    expect(() => guard.push(Buffer.from([1, 2, 3, 4]))).toThrow(/no frame where one should start/);
  });
});

/** Where a zstd frame's first block header starts (RFC 8878 3.1.1.1: after the frame header). */
function firstBlockHeader(frame: Buffer): number {
  const descriptor = frame[4]!;
  const singleSegment = (descriptor & 0x20) !== 0;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 3]!;
  const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6]!;
  return 5 + (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes;
}

describe.skipIf(!hasZstd)('zstd decoders', () => {
  // Node's own where the runtime has it (Node >= 22.15), the zstd command, and the fzstd fallback:
  // each decodes the same layer to the same diff_id, and the frame guard stands in front of each.
  const kinds = (['node', 'process', 'fzstd'] as const).filter((k) => k !== 'node' || typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function');
  if (!kinds.includes('node')) console.warn(`\n*** zstd decoders: Node ${process.version} has no zlib zstd; its path is tested on Node 24 (.ci/run) ***\n`);
  afterEach(() => forceZstdDecoder(null));

  it('picks the fastest decoder available', () => {
    const native = typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
    expect(zstdDecoderKind()).toBe(native ? 'node' : 'process');
  });

  for (const kind of kinds) {
    it(`${kind}: decodes a multi-frame layer to its diff_id`, async () => {
      forceZstdDecoder(kind);
      const tarBytes = await layerText(3 * 1024 * 1024);
      const half = tarBytes.length / 2;
      const blob = Buffer.concat([zstd(tarBytes.subarray(0, half)), zstd(tarBytes.subarray(half), ['--no-check'])]);
      const scan = await scanLayer(Readable.from([blob.subarray(0, 5000), blob.subarray(5000)]), null);
      expect(scan.diffId).toBe(`sha256:${createHash('sha256').update(tarBytes).digest('hex')}`);
      expect(scan.files).toBe(1);
    });

    it(`${kind}: refuses a hostile window and fails on corrupt or truncated data`, async () => {
      forceZstdDecoder(kind);
      const blob = zstd(await layerText(512 * 1024), ['--no-check']);
      const hostile = Buffer.from(blob);
      hostile[5] = 0xa7;
      await expect(scanLayer(Readable.from([hostile]), null)).rejects.toThrow(/zstd frame asks for a 1920 MiB window/);
      // A block of the reserved type: no decoder may take it.
      const reserved = zstd(await layerText(512 * 1024), ['--check']);
      reserved[firstBlockHeader(reserved)] |= 0b110;
      await expect(scanLayer(Readable.from([reserved]), null)).rejects.toThrow();
      // Damage inside literals shows only in the frame's checksum, which Node's decoder and the
      // zstd command verify and fzstd does not (an image's blob digest still catches it).
      if (kind !== 'fzstd') {
        const corrupt = zstd(await layerText(512 * 1024), ['--check']);
        for (let i = 200; i < 400; i++) corrupt[i] = corrupt[i]! ^ 0x5a;
        await expect(scanLayer(Readable.from([corrupt]), null)).rejects.toThrow();
      }
      await expect(scanLayer(Readable.from([blob.subarray(0, blob.length - 100)]), null)).rejects.toThrow();
    });
  }
});
