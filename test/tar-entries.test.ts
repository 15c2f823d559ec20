// One strict tar-entry layer (src/layer/tar-entries.ts) for every reader: the same hostile header
// is refused alike by the layer walk, the image streamed on stdin, the image file's index and an
// archive inside a layer (which is skipped as corrupt rather than failing the scan).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DetectionPool } from '../src/detect/pool.js';
import { loadRuleSet } from '../src/detect/rules.js';
import { describeError } from '../src/errors.js';
import { checkEntryHeader, paxSize } from '../src/layer/tar-entries.js';
import { scanLayer } from '../src/layer/walk.js';
import { indexTar } from '../src/source/tar-index.js';
import { StreamedImage } from '../src/source/stream.js';
import { tarBytes, type RawEntry } from './support/hostile-corpus.js';

const dir = mkdtempSync(join(tmpdir(), 'stratascan-tar-entries-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ruleSet = loadRuleSet();
const pool = () => new DetectionPool(ruleSet.rules, 0, ruleSet.plan);
const after: RawEntry = { name: 'after.txt', data: 'after\n' };

/** Tar-stream reads each of these as some number; Go's archive/tar rejects them all. */
const HOSTILE_PAX_SIZES = ['1e3', ' 12', '12 ', '-1', '0x10', '+5', '', '12345678901234567'];

interface Case {
  name: string;
  bytes: Buffer;
  /** What the layer walk and the stdin reader say (the error or its cause). */
  error: RegExp;
  /** What the image file's own header reader says. */
  indexError: RegExp;
}

const cases: Case[] = [
  ...HOSTILE_PAX_SIZES.map((size) => ({
    name: `hostile PAX size ${JSON.stringify(size)}`,
    bytes: tarBytes([{ name: 'f.txt', pax: { size }, data: 'abc' }, after]),
    // tar-stream itself refuses a negative size; the rest only the shared check catches.
    error: /f\.txt has an invalid PAX size|Invalid header/,
    indexError: /invalid member size/,
  })),
  {
    name: 'an entry cut short (the archive ends inside its data)',
    bytes: tarBytes([{ name: 'big.txt', data: 'x'.repeat(4000) }], { end: false }).subarray(0, 512 + 1000),
    error: /Unexpected end of data/,
    indexError: /truncated/,
  },
  {
    name: 'a size field that lies low (the rest of the data is read as the next header)',
    bytes: tarBytes([{ name: 'short.txt', size: 3, data: 'x'.repeat(1500) }, after]),
    error: /Invalid tar header/,
    indexError: /corrupt tar header/,
  },
  {
    name: 'a symlink whose size field claims data (it would hide an entry from Go\'s reader)',
    bytes: tarBytes([{ name: 'innocent', type: '2', linkname: 'x', data: tarBytes([{ name: 'hidden.txt', data: 'h\n' }], { end: false }) }, after]),
    error: /symlink (member )?\/?innocent declares 1024 bytes of data/,
    indexError: /symlink member at byte 0 declares 1024 bytes of data/,
  },
];

describe('checkEntryHeader', () => {
  it('takes decimal PAX sizes and sound headers', () => {
    expect(paxSize('0')).toBe(0);
    expect(paxSize('1234567890123456')).toBe(1234567890123456);
    expect(() => checkEntryHeader({ name: 'a', size: 12, type: 'file', pax: { size: '12' } } as never)).not.toThrow();
    expect(() => checkEntryHeader({ name: 'l', size: 0, type: 'symlink', linkname: 'x' } as never)).not.toThrow();
  });

  it.each(HOSTILE_PAX_SIZES)('refuses the PAX size %j', (size) => {
    expect(paxSize(size)).toBeNaN();
    expect(() => checkEntryHeader({ name: 'a', size: 1, type: 'file', pax: { size } } as never)).toThrow(/a has an invalid PAX size/);
  });

  it('refuses a negative or unsafe size and data on a header-only entry', () => {
    expect(() => checkEntryHeader({ name: 'n', size: -2, type: 'file' } as never)).toThrow(/n has an invalid size/);
    expect(() => checkEntryHeader({ name: 'n', size: 2 ** 60, type: 'file' } as never)).toThrow(/invalid size/);
    for (const type of ['link', 'symlink', 'character-device', 'block-device', 'fifo']) {
      expect(() => checkEntryHeader({ name: 'd', size: 512, type } as never)).toThrow(`${type} d declares 512 bytes of data`);
    }
  });
});

describe.each(cases)('$name', ({ bytes, error, indexError }) => {
  it('the layer walk fails', async () => {
    await expect(scanLayer(Readable.from([bytes]), null)).rejects.toThrow(error);
  });

  it('the image on standard input fails with one error that names the cause', async () => {
    const p = pool();
    try {
      const err = await StreamedImage.ingest(Readable.from([bytes]), 'standard input', p).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(describeError(err)).toMatch(/standard input/);
      expect(describeError(err)).toMatch(error);
    } finally {
      await p.close();
    }
  });

  it('the image file\'s index fails', async () => {
    const path = join(dir, `image-${Math.random().toString(36).slice(2)}.tar`);
    writeFileSync(path, bytes);
    const file = await open(path);
    try {
      await expect(indexTar(file, bytes.length, 'image.tar')).rejects.toThrow(indexError);
    } finally {
      await file.close();
    }
  });

  it('an archive inside a layer is skipped as corrupt, and the layer scanned', async () => {
    const layer = tarBytes([{ name: 'srv/bundle.tar', data: bytes }, { name: 'srv/ok.txt', data: 'ok\n' }]);
    const p = pool();
    try {
      const scan = await scanLayer(Readable.from([layer]), p);
      expect(scan.skipped['archive-corrupt']).toBe(1);
      expect(scan.files).toBe(2);
    } finally {
      await p.close();
    }
  });
});
