// Small .gz files are inflated with one zlib handle kept per thread (src/detect/kept-gunzip.ts),
// driven below Node's zlib stream API. Whatever the input, what comes out (or that it throws) must
// be what zlib.gunzipSync with the same bound gives: checked over a seeded corpus of well-formed,
// multi-member, padded, truncated, corrupted and oversized gzip data, fed through one instance so
// that each input follows every kind of earlier outcome, on the kept handle and on the fallback.
import { describe, expect, it } from 'vitest';
import { Gunzip, gunzipSync, gzipSync } from 'node:zlib';
import { keptHandleOf, SmallGunzip } from '../src/detect/kept-gunzip.js';
import { seededRandom as random } from '../src/detect/template.js';

const MAX = 64 * 1024;

function textOf(rand: () => number, length: number): Buffer {
  const words = ['manual', 'page', 'changelog', 'debian', 'release', 'urgency=medium', '\n', ' -- ', 'fix'];
  const parts: string[] = [];
  let n = 0;
  while (n < length) {
    const w = words[Math.floor(rand() * words.length)]!;
    parts.push(w, ' ');
    n += w.length + 1;
  }
  return Buffer.from(parts.join('').slice(0, length));
}

function bytesOf(rand: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** Inputs of every kind a layer may hold under a .gz name, each starting like gzip. */
function corpus(seed: number): Buffer[] {
  const rand = random(seed);
  const sizes = [0, 1, 100, 4096, MAX - 1, MAX, MAX + 1, 3 * MAX];
  const out: Buffer[] = [];
  for (const size of sizes) out.push(gzipSync(textOf(rand, size)));
  out.push(gzipSync(bytesOf(rand, 5000)));
  out.push(Buffer.concat([gzipSync(textOf(rand, 2000)), gzipSync(textOf(rand, 300))]));
  out.push(Buffer.concat([gzipSync(textOf(rand, 2000)), gzipSync(Buffer.alloc(0))]));
  out.push(Buffer.concat([gzipSync(textOf(rand, 2000)), Buffer.alloc(37)]));
  out.push(Buffer.concat([gzipSync(textOf(rand, 2000)), Buffer.from('trailing garbage')]));
  out.push(Buffer.concat([gzipSync(textOf(rand, MAX - 10)), gzipSync(textOf(rand, 20))]));
  out.push(Buffer.from([0x1f, 0x8b]));
  out.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]));
  for (let i = 0; i < 60; i++) {
    const good = gzipSync(textOf(rand, Math.floor(rand() * 20000)));
    switch (i % 4) {
      case 0:
        out.push(good.subarray(0, 2 + Math.floor(rand() * (good.length - 2))));
        break;
      case 1: {
        const bad = Buffer.from(good);
        for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) {
          const at = 2 + Math.floor(rand() * (bad.length - 2));
          bad[at] = bad[at]! ^ (1 + Math.floor(rand() * 255));
        }
        out.push(bad);
        break;
      }
      case 2: {
        const lying = Buffer.from(good);
        lying.writeUInt32LE(Math.floor(rand() * 0xffffffff), lying.length - 4);
        out.push(lying);
        break;
      }
      default:
        out.push(good);
    }
  }
  return out;
}

/** What gunzipSync makes of `data`: its output, or that it threw. */
function reference(data: Buffer): Buffer | 'throws' {
  try {
    return gunzipSync(data, { maxOutputLength: MAX });
  } catch {
    return 'throws';
  }
}

function outcome(inflater: SmallGunzip, data: Buffer): Buffer | 'throws' {
  try {
    // A copy: the kept handle's result is overwritten by the next call.
    return Buffer.from(inflater.inflate(data));
  } catch {
    return 'throws';
  }
}

describe('SmallGunzip', () => {
  it('drives a kept native handle on this runtime (Node 20 and 24 alike)', () => {
    expect(new SmallGunzip(MAX).usesKeptHandle).toBe(true);
    expect(new SmallGunzip(MAX, { kept: false }).usesKeptHandle).toBe(false);
  });

  for (const kept of [true, false]) {
    it(`gives what gunzipSync gives, input after input (${kept ? 'kept handle' : 'fallback'})`, () => {
      const inflater = new SmallGunzip(MAX, { kept });
      const inputs = [...corpus(7), ...corpus(7).reverse(), ...corpus(8)];
      let throws = 0;
      for (const [i, data] of inputs.entries()) {
        const want = reference(data);
        const got = outcome(inflater, data);
        if (want === 'throws') throws++;
        if (want === 'throws' || got === 'throws') expect(got, `input ${i}`).toBe(want);
        else expect(got.equals(want), `input ${i}`).toBe(true);
      }
      // The corpus exercises both outcomes at length.
      expect(throws).toBeGreaterThan(30);
      expect(inputs.length - throws).toBeGreaterThan(60);
      inflater.close();
    });
  }

  it('inflates into one buffer reused from call to call, not a buffer per file', () => {
    const inflater = new SmallGunzip(MAX);
    const a = inflater.inflate(gzipSync(Buffer.from('first file\n')));
    const b = inflater.inflate(gzipSync(Buffer.from('second file, longer\n')));
    expect(b.toString()).toBe('second file, longer\n');
    expect(a.buffer).toBe(b.buffer);
  });

  it('takes data that does not start like gzip the plain way', () => {
    const inflater = new SmallGunzip(MAX);
    expect(outcome(inflater, Buffer.from('not gzip at all'))).toBe('throws');
    expect(outcome(inflater, Buffer.alloc(0))).toBe(reference(Buffer.alloc(0)));
    expect(inflater.inflate(gzipSync(Buffer.from('after that\n'))).toString()).toBe('after that\n');
  });

  it('falls back to gunzipSync where zlib objects lack the internals it drives', () => {
    expect(keptHandleOf({} as unknown as Gunzip)).toBeNull();
    expect(keptHandleOf({ _handle: { writeSync() {} }, _writeState: new Uint32Array(2) } as unknown as Gunzip)).toBeNull();
    const real = new Gunzip();
    expect(keptHandleOf(real)).not.toBeNull();
    real.close();
  });
});
