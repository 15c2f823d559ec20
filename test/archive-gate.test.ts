import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tarOf } from '../fixtures/builder.mjs';
import { zipOf } from '../fixtures/zip.mjs';
import { ARCHIVE_GATE_BUDGET, GATED_ARCHIVE_BYTES, sharedArchiveGate } from '../src/layer/archive-gate.js';
import { scanLayer } from '../src/layer/walk.js';
import { DetectionPool } from '../src/detect/pool.js';
import { loadRuleSet } from '../src/detect/rules.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';

const MiB = 1024 * 1024;
const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('archive gate', () => {
  it('lets archives under the budget go at once, a lone archive over it too, and makes the next wait for a release', async () => {
    const shared = new SharedArrayBuffer(4);
    const released: string[] = [];
    const a = sharedArchiveGate(shared, { onRelease: () => released.push('a') });
    const b = sharedArchiveGate(shared, { onRelease: () => released.push('b') });
    // Below the counted size: never waits, never counted.
    const small = a(GATED_ARCHIVE_BYTES - 1);
    expect(typeof small).toBe('function');
    expect(new Int32Array(shared)[0]).toBe(0);
    // Alone, an archive bigger than the whole budget goes ahead (counted as the budget).
    const big = a(2 * ARCHIVE_GATE_BUDGET);
    expect(typeof big).toBe('function');
    expect(new Int32Array(shared)[0]).toBe(ARCHIVE_GATE_BUDGET);
    const waiting = b(8 * MiB);
    expect(waiting).toBeInstanceOf(Promise);
    let admitted = false;
    const releaseB = (waiting as Promise<() => void>).then((release) => {
      admitted = true;
      return release;
    });
    await tick();
    expect(admitted).toBe(false);
    (big as () => void)();
    // Released twice: counted once.
    (big as () => void)();
    const release = await releaseB;
    expect(released).toEqual(['a']);
    expect(new Int32Array(shared)[0]).toBe(8 * MiB);
    // Two that fit together both go.
    const other = a(16 * MiB);
    expect(typeof other).toBe('function');
    expect(new Int32Array(shared)[0]).toBe(24 * MiB);
    release();
    (other as () => void)();
    expect(new Int32Array(shared)[0]).toBe(0);
  });

  it('goes ahead uncounted when the holder never releases within the wait', async () => {
    const shared = new SharedArrayBuffer(4);
    const a = sharedArchiveGate(shared, { maxWaitMs: 50 });
    const b = sharedArchiveGate(shared, { maxWaitMs: 50 });
    expect(typeof a(ARCHIVE_GATE_BUDGET)).toBe('function');
    const release = await b(ARCHIVE_GATE_BUDGET);
    release();
    expect(new Int32Array(shared)[0]).toBe(ARCHIVE_GATE_BUDGET);
  });
});

describe('a layer walk behind the gate', () => {
  const rand = seededRandom(Date.now() % 100000);
  const secret = renderTemplate('ghp_{{alnum:36}}', rand).text;
  const ruleSet = loadRuleSet();

  async function layer(): Promise<Buffer> {
    // A jar over the counted size: incompressible filler stored beside the member with the token.
    const jar = zipOf([
      { name: 'lib/blob.bin', content: randomBytes(GATED_ARCHIVE_BYTES + MiB), method: 'store' },
      { name: 'conf/app.properties', content: `github.token=${secret}\n` },
    ]);
    return gzipSync(await tarOf([
      { name: 'opt/app.jar', content: jar },
      { name: 'etc/after.conf', content: Buffer.from(`token=${secret}\n`) },
    ]));
  }

  it('waits while another holds the budget, then finds what an ungated walk finds, and gives its share back', async () => {
    const blob = await layer();
    const free = await scanLayer(Readable.from([blob]), new DetectionPool(ruleSet.rules, 0, ruleSet.plan));
    const shared = new SharedArrayBuffer(4);
    const holder = sharedArchiveGate(shared)(ARCHIVE_GATE_BUDGET) as () => void;
    let released = 0;
    const gate = sharedArchiveGate(shared, { onRelease: () => released++ });
    let done = false;
    const gated = scanLayer(Readable.from([blob]), new DetectionPool(ruleSet.rules, 0, ruleSet.plan), undefined, undefined, gate).then((scan) => {
      done = true;
      return scan;
    });
    await tick();
    expect(done).toBe(false);
    holder();
    const scan = await gated;
    expect(released).toBe(1);
    expect(new Int32Array(shared)[0]).toBe(0);
    const view = (s: typeof scan) => s.matches.map((m) => `${m.ruleId} ${m.path} ${m.line}:${m.column}`).sort();
    expect(view(scan)).toEqual(view(free));
    expect(view(scan)).toEqual(expect.arrayContaining([expect.stringContaining('/opt/app.jar!/conf/app.properties'), expect.stringContaining('/etc/after.conf')]));
    expect(scan.skipped).toEqual(free.skipped);
  });

  it('gives its share back when the layer breaks off inside the archive', async () => {
    const blob = await layer();
    const shared = new SharedArrayBuffer(4);
    const gate = sharedArchiveGate(shared);
    // The tar cut inside the jar's data: its entry never ends.
    const cut = gzipSync(gunzipSync(blob).subarray(0, 512 + GATED_ARCHIVE_BYTES));
    await expect(scanLayer(Readable.from([cut]), new DetectionPool(ruleSet.rules, 0, ruleSet.plan), undefined, undefined, gate)).rejects.toThrow();
    expect(new Int32Array(shared)[0]).toBe(0);
  });
});
