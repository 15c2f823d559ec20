// The layer walk's tar parser (src/layer/tar-walk.ts) against tar-stream's extractor, which it
// replaces: the same entries (headers as decoded, PAX and long names applied), the same data, and
// an error where tar-stream fails, for well-formed and hostile tars cut into chunks at random.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar-stream';
import { TarWalk, type TarEntry } from '../src/layer/tar-walk.js';
import { END, header, pad, tarBytes, type RawEntry } from './support/hostile-corpus.js';

interface Seen {
  name: string;
  type: string | null | undefined;
  size: number | undefined;
  linkname: string | null | undefined;
  pax: unknown;
  data: string;
}

/** Cuts `bytes` into chunks of pseudo-random sizes (1 byte to 3 KiB), the same for a seed. */
function chunked(bytes: Buffer, seed: number): Buffer[] {
  const out: Buffer[] = [];
  let state = seed;
  for (let at = 0; at < bytes.length; ) {
    state = (state * 1103515245 + 12345) >>> 0;
    const n = 1 + (state % 3072);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

function seen(h: { name: string; type?: string | null; size?: number; linkname?: string | null; pax?: unknown }, data: Buffer): Seen {
  return { name: h.name, type: h.type, size: h.size, linkname: h.linkname, pax: h.pax ?? null, data: createHash('sha256').update(data).digest('hex') };
}

async function withTarStream(chunks: Buffer[]): Promise<{ entries: Seen[]; error: string | null }> {
  const entries: Seen[] = [];
  const extract = tarExtract();
  const feeding = pipeline(Readable.from(chunks), extract).catch(() => {});
  try {
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      // A directory's stream never ends when its header declares data (tar-stream reads that data
      // as headers): drained as the walk drains it.
      if (entry.header.type === 'directory') entry.resume();
      else for await (const part of entry) parts.push(part as Buffer);
      entries.push(seen(entry.header, Buffer.concat(parts)));
    }
    await feeding;
    return { entries, error: null };
  } catch (err) {
    return { entries, error: (err as Error).message };
  }
}

async function withTarWalk(chunks: Buffer[], pauseEvery: number): Promise<{ entries: Seen[]; error: string | null }> {
  const entries: Seen[] = [];
  let pieces = 0;
  const walk = new TarWalk(async (entry: TarEntry) => {
    const parts: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      entry.on('data', (part) => {
        parts.push(Buffer.from(part));
        // The walk's back-pressure: pause, resume a little later.
        if (pauseEvery > 0 && ++pieces % pauseEvery === 0) {
          entry.pause();
          setTimeout(() => entry.resume(), 0);
        }
      });
      entry.on('end', resolve);
      entry.on('error', reject);
      entry.on('close', () => reject(new Error('closed before its end')));
    });
    entries.push(seen(entry.header, Buffer.concat(parts)));
  });
  try {
    await pipeline(Readable.from(chunks), walk);
    return { entries, error: null };
  } catch (err) {
    return { entries, error: (err as Error).message };
  }
}

const text = (n: number, c = 'x') => c.repeat(n);
const longName = `dir/${'n'.repeat(150)}/file.txt`;

const tars: Record<string, Buffer> = {
  plain: tarBytes([{ name: 'a.txt', data: 'hello\n' }, { name: 'd/', type: '5' }, { name: 'd/b.bin', data: Buffer.alloc(5000, 7) }, { name: 'l', type: '2', linkname: 'a.txt' }, { name: 'h', type: '1', linkname: 'a.txt' }, { name: 'empty', data: '' }]),
  'exact blocks': tarBytes([{ name: 'x', data: text(512) }, { name: 'y', data: text(1024, 'y') }, { name: 'z', data: text(1, 'z') }]),
  'PAX path, size, linkpath and a global header': Buffer.concat([
    header({ name: 'pax_global_header', type: 'g', size: pad(Buffer.from('21 comment=global!!\n')).length }), pad(Buffer.from('21 comment=global!!\n')),
    tarBytes([{ name: 'short', pax: { path: longName, mtime: '1.5' }, data: 'long name\n' }, { name: 'ln', type: '2', pax: { linkpath: `${longName}-target` } }, { name: 'sized', pax: { size: '3' }, data: 'abc' }], { end: false }),
    END,
  ]),
  'GNU long name and long link': Buffer.concat([
    header({ name: '././@LongLink', type: 'L', size: longName.length + 1, format: 'gnu' }), pad(Buffer.from(`${longName}\0`)),
    header({ name: '././@LongLink', type: 'K', size: 9, format: 'gnu' }), pad(Buffer.from('a-target\0')),
    header({ name: 'cut', type: '2', format: 'gnu' }),
    tarBytes([{ name: 'after', data: 'after\n' }]),
  ]),
  'zero blocks between entries': Buffer.concat([tarBytes([{ name: 'one', data: '1' }], { end: false }), Buffer.alloc(2048), tarBytes([{ name: 'two', data: '2' }])]),
  'a directory that declares data (read as headers, as tar-stream does)': Buffer.concat([header({ name: 'dir/', type: '5', size: 512 }), tarBytes([{ name: 'inside', data: 'in\n' }])]),
  'cut inside an entry': tarBytes([{ name: 'big', data: text(4000) }], { end: false }).subarray(0, 1500),
  'cut inside a header': Buffer.concat([tarBytes([{ name: 'ok', data: 'ok' }], { end: false }), Buffer.from(header({ name: 'next', size: 0 }).subarray(0, 100))]),
  'cut inside padding': tarBytes([{ name: 'p', data: 'pp' }], { end: false }).subarray(0, 600),
  'a bad checksum': Buffer.concat([tarBytes([{ name: 'good', data: 'g' }], { end: false }), header({ name: 'bad', patch: (b) => b.write('zz', 0) }).fill(1, 148, 150)]),
  'a size that lies low': tarBytes([{ name: 'short.txt', size: 3, data: text(1500) }, { name: 'after', data: 'a' }]),
  'a negative PAX size': tarBytes([{ name: 'neg', pax: { size: '-1' }, data: 'abc' }]),
  'no end marker': tarBytes([{ name: 'only', data: 'only\n' }], { end: false }),
  empty: Buffer.alloc(0),
};

describe('TarWalk reads what tar-stream reads', () => {
  for (const [name, bytes] of Object.entries(tars)) {
    it(name, async () => {
      for (const seed of [1, 7, 99]) {
        const chunks = chunked(bytes, seed);
        const expected = await withTarStream(chunks);
        for (const pauseEvery of [0, 1, 3]) {
          const got = await withTarWalk(chunks, pauseEvery);
          expect(got.entries, `seed ${seed}, pause every ${pauseEvery}`).toEqual(expected.entries);
          expect(got.error === null, `seed ${seed}: ${got.error} / ${expected.error}`).toBe(expected.error === null);
        }
      }
      // Whole, as one chunk.
      expect((await withTarWalk([bytes], 0)).entries).toEqual((await withTarStream([bytes])).entries);
    });
  }

  it('refuses a size field that decodes to no number (tar-stream left such an entry open for ever)', async () => {
    const field = Buffer.alloc(12);
    field[0] = 0x81; // base-256 marks are 0x80 and 0xff only
    const walk = new TarWalk((entry) => {
      entry.resume();
      return Promise.resolve();
    });
    await expect(pipeline(Readable.from([tarBytes([{ name: 'odd', sizeField: field }, { name: 'after', data: 'a' }])]), walk)).rejects.toThrow(/Invalid header/);
  });

  it('fails the stream when the walk of an entry fails, and reads no further', async () => {
    let calls = 0;
    const walk = new TarWalk((entry) => {
      calls++;
      entry.resume();
      return Promise.reject(new Error(`refused ${entry.header.name}`));
    });
    await expect(pipeline(Readable.from([tarBytes([{ name: 'first', data: 'x' }, { name: 'second', data: 'y' }] satisfies RawEntry[])]), walk)).rejects.toThrow(/refused first/);
    expect(calls).toBe(1);
  });
});
