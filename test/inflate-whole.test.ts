// One-call inflation of small .gz files sizes its output buffer from the file's own ISIZE claim
// (src/layer/nested.ts gunzipWhole). The claim is the file's word, not a fact: a false one must
// change neither the output nor the bound.
import { describe, expect, it } from 'vitest';
import { gunzipSync, gzipSync } from 'node:zlib';
import { gunzipWhole, gzipDeclaredSize, inflateChunk } from '../src/layer/nested.js';

const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i} of a manual page\n`).join(''));
const gz = gzipSync(text);

/** `gz` with its trailer's size field replaced by `size`. */
function claiming(size: number): Buffer {
  const copy = Buffer.from(gz);
  copy.writeUInt32LE(size >>> 0, copy.length - 4);
  return copy;
}

describe('gunzipWhole', () => {
  it('reads the size a gzip file declares', () => {
    expect(gzipDeclaredSize(gz)).toBe(text.length);
    expect(gzipDeclaredSize(gz.subarray(0, 10))).toBe(0);
  });

  it('inflates into one buffer of the declared size, no more', () => {
    const out = gunzipWhole(gz, 1024 * 1024);
    expect(out.equals(text)).toBe(true);
    // One chunk: the result is a view of a buffer one byte over the output, not 16 KiB pieces
    // joined into a copy of exactly the output's size.
    expect(out.buffer.byteLength).toBe(text.length + 1);
    expect(inflateChunk(text.length)).toBe(text.length + 1);
  });

  it('fails on a false claim as plain gunzip does', () => {
    // zlib checks ISIZE itself at the end of the member: a false claim is corrupt data, as before.
    for (const size of [0, 1, 100, text.length - 1, text.length + 1, 0xffffffff]) {
      expect(() => gunzipWhole(claiming(size), 1024 * 1024)).toThrow();
      expect(() => gunzipSync(claiming(size))).toThrow();
    }
    expect(gunzipWhole(claiming(text.length), 1024 * 1024).equals(text)).toBe(true);
  });

  it('keeps the output bound whatever the claim', () => {
    const big = gzipSync(Buffer.alloc(3 * 1024 * 1024, 'a'));
    expect(() => gunzipWhole(big, 1024 * 1024)).toThrow(expect.objectContaining({ code: 'ERR_BUFFER_TOO_LARGE' }) as Error);
    const lying = Buffer.from(big);
    lying.writeUInt32LE(10, lying.length - 4);
    expect(() => gunzipWhole(lying, 1024 * 1024)).toThrow(expect.objectContaining({ code: 'ERR_BUFFER_TOO_LARGE' }) as Error);
    expect(inflateChunk(0xffffffff)).toBeLessThanOrEqual(4 * 1024 * 1024);
  });

  it('inflates concatenated members (whose last trailer counts only the last one)', () => {
    const two = Buffer.concat([gzipSync(text), gzipSync(Buffer.from('tail\n'))]);
    expect(gunzipWhole(two, 1024 * 1024).equals(Buffer.concat([text, Buffer.from('tail\n')]))).toBe(true);
  });
});
