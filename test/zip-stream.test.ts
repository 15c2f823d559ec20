import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { compress, tarOf } from '../fixtures/builder.mjs';
import { zipOf } from '../fixtures/zip.mjs';
import { DEFAULT_ARCHIVE_LIMITS, expandArchive, newBudget, type ArchiveLimits } from '../src/layer/nested.js';
import { ZipStream, type ZipStreamOutcome } from '../src/layer/zip-stream.js';
import { GATED_ARCHIVE_BYTES } from '../src/layer/archive-gate.js';
import { scanLayer, type LayerScan } from '../src/layer/walk.js';
import { DetectionPool } from '../src/detect/pool.js';
import { loadRuleSet } from '../src/detect/rules.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import { describeReal, isCI, realToolsAvailable } from './support/describe-real.js';

const MiB = 1024 * 1024;
const seed = Date.now() % 100000;
const rand = seededRandom(seed);
const token = () => renderTemplate('ghp_{{alnum:36}}', rand).text;
const text = (lines: number) => Array.from({ length: lines }, (_, i) => `line ${i} ${token()}`).join('\n');

const describeMember = (m: { path: string; data: Buffer }) => `${m.path} ${m.data.length} ${createHash('sha256').update(m.data).digest('hex')}`;

/** The whole-buffer walk's members and skip counts (nested.ts, the zip held in memory). */
async function whole(zip: Buffer, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) {
  const skipped: Record<string, number> = {};
  const members: string[] = [];
  for await (const m of expandArchive(zip, 'zip', '/z.zip', 1, limits, newBudget(limits), (why) => (skipped[why] = (skipped[why] ?? 0) + 1))) {
    members.push(describeMember(m));
  }
  return { members, skipped };
}

/** The same zip streamed in uneven chunks, as a tar entry hands them over. */
async function streamed(zip: Buffer, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) {
  const members: string[] = [];
  const stream = new ZipStream('/z.zip', limits, {
    scan: async (m) => {
      // As detection would: the walk waits now and then.
      if (rand() < 0.2) await new Promise((resolve) => setImmediate(resolve));
      members.push(describeMember(m));
    },
  });
  for (let at = 0; at < zip.length; ) {
    const n = 1 + Math.floor(rand() * 300_000);
    const wait = stream.write(zip.subarray(at, at + n));
    if (wait) await wait;
    at += n;
  }
  const outcome: ZipStreamOutcome = await stream.end();
  return { outcome, members, skipped: { ...stream.skipped } as Record<string, number> };
}

/** Streamed and whole give the same members and counts (the stream agreed with the directory). */
async function agrees(zip: Buffer, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS) {
  const expected = await whole(zip, limits);
  const got = await streamed(zip, limits);
  expect(got.outcome).toBe('streamed');
  expect(got.members).toEqual(expected.members);
  expect(got.skipped).toEqual(expected.skipped);
  return expected;
}

/** The stream gives up: its caller scans the zip whole. */
async function fallsBack(zip: Buffer, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<void> {
  expect((await streamed(zip, limits)).outcome).toBe('fallback');
}

/** The directory of `zip` with the record of entry `index` changed by `edit`. */
function editDirectory(zip: Buffer, index: number, edit: (record: Buffer) => void): Buffer {
  const out = Buffer.from(zip);
  let at = out.readUInt32LE(out.length - 6);
  for (let n = 0; n < index; n++) at += 46 + out.readUInt16LE(at + 28) + out.readUInt16LE(at + 30) + out.readUInt16LE(at + 32);
  edit(out.subarray(at));
  return out;
}

describe(`a zip read from its local headers as it streams (seed ${seed})`, () => {
  const cases: [string, () => Buffer][] = [
    ['stored members', () => zipOf([{ name: 'a.txt', content: `key=${token()}\n`, method: 'store' }, { name: 'b/c.env', content: text(40), method: 'store' }])],
    ['deflated members', () => zipOf([{ name: 'a.txt', content: text(2000) }, { name: 'b.properties', content: `k=${token()}` }])],
    ['deflated members with data descriptors, signed and not', () => zipOf([
      { name: 'a.txt', content: text(100), descriptor: true },
      { name: 'b.txt', content: text(7), descriptor: true, unsignedDescriptor: true },
      { name: 'c.txt', content: `c=${token()}`, descriptor: true },
    ])],
    ['stored members with signed data descriptors (found by the distance they give)', () => zipOf([
      { name: 'dir/', content: '', method: 'store', descriptor: true },
      { name: 's.txt', content: text(30), method: 'store', descriptor: true },
      { name: 'z.txt', content: text(30), method: 'store', descriptor: true, zip64: true },
      // A descriptor signature inside the data whose sizes do not give its distance.
      { name: 'fake.txt', content: Buffer.concat([Buffer.from(`f=${token()}\nPK\x07\x08`), Buffer.alloc(12, 1), Buffer.from(text(3))]), method: 'store', descriptor: true },
    ])],
    ['zip64 size fields, with and without descriptors', () => zipOf([
      { name: 'a.txt', content: text(50), zip64: true },
      { name: 's.txt', content: text(5), method: 'store', zip64: true },
      { name: 'd.txt', content: text(60), zip64: true, descriptor: true },
      { name: 'u.txt', content: text(3), zip64: true, descriptor: true, unsignedDescriptor: true },
    ])],
    ['empty members and directories', () => zipOf([
      { name: 'dir/', content: '', method: 'store' },
      { name: 'dir/empty.txt', content: '', method: 'store' },
      { name: 'dir/empty-deflated.txt', content: '' },
      { name: 'dir/empty-descriptor.txt', content: '', descriptor: true },
      { name: 'dir/x.txt', content: `x=${token()}` },
    ])],
    ['members larger than the chunks they arrive in', () => zipOf([
      { name: 'pad.bin', content: randomBytes(MiB - 100), method: 'store' },
      { name: 'big.txt', content: text(60_000), method: 'store' },
      { name: 'big-deflated.txt', content: text(60_000) },
      { name: 'big-descriptor.txt', content: text(60_000), descriptor: true },
      { name: 'after.txt', content: `after=${token()}`, descriptor: true },
    ])],
    ['encrypted, binary by name and by content', () => zipOf([
      { name: 'secret.txt', content: text(3), encrypted: true },
      { name: 'A.class', content: text(3) },
      { name: 'B.class', content: text(3), descriptor: true },
      { name: 'C.class', content: text(300), descriptor: true, unsignedDescriptor: true },
      { name: 'D.class', content: randomBytes(3 * MiB), descriptor: true, zip64: true },
      { name: 'META-INF/', content: '', descriptor: true },
      { name: 'blob', content: randomBytes(20_000), method: 'store' },
      { name: 'ok.txt', content: text(3) },
    ])],
    ['nested archives: a jar, a gzip, one too deep for the limits', () => zipOf([
      { name: 'WEB-INF/lib/inner.jar', content: zipOf([{ name: 'inner.properties', content: `p=${token()}` }, { name: 'deeper.jar', content: zipOf([{ name: 'x.env', content: `X=${token()}` }]) }]) },
      { name: 'logs/app.log.gz', content: gzipSync(`log ${token()}\n`), method: 'store', descriptor: false },
      { name: 'lib/d.jar', content: zipOf([{ name: 'd.txt', content: `d=${token()}` }]), descriptor: true },
    ])],
    ['names that normalise to nothing or climb out', () => zipOf([
      { name: '../../etc/x.txt', content: `e=${token()}` },
      { name: '/./', content: '', method: 'store' },
      { name: 'a\\b.txt', content: `b=${token()}` },
    ])],
  ];

  it.each(cases)('%s: the same members and counts as the whole-buffer walk', async (_name, make) => {
    const { members } = await agrees(make());
    expect(members.length).toBeGreaterThan(0);
  });

  it('a small member budget and depth: the same as the whole-buffer walk, or falls back', async () => {
    const zip = zipOf([{ name: 'a.txt', content: text(20) }, { name: 'in.jar', content: zipOf([{ name: 'b.txt', content: text(2) }]) }, { name: 'big.txt', content: text(2000), method: 'store' }]);
    await agrees(zip, { ...DEFAULT_ARCHIVE_LIMITS, maxDepth: 1 });
    // A stored member over the member limit is skipped and the walk goes on, both ways.
    expect((await agrees(zip, { ...DEFAULT_ARCHIVE_LIMITS, maxEntryBytes: 64 * 1024 })).skipped).toEqual({ 'archive-entry-too-large': 1 });
    // Out of members: the whole-buffer walk stops there; the stream leaves it to that walk.
    await fallsBack(zip, { ...DEFAULT_ARCHIVE_LIMITS, maxEntries: 2 });
  });

  it('what the stream cannot settle falls back: undelimited members, a directory that differs, bytes it does not list', async () => {
    const honest = () => zipOf([{ name: 'a.txt', content: text(20) }, { name: 'b.txt', content: text(20), descriptor: true }, { name: 'c.txt', content: text(3), method: 'store' }]);
    await agrees(honest());
    // Encrypted data followed by a descriptor: nothing says where it ends.
    await fallsBack(zipOf([{ name: 'e.txt', content: text(5), encrypted: true, descriptor: true }]));
    // Renamed in the directory, a different size, a different CRC, a different local offset.
    await fallsBack(editDirectory(honest(), 1, (r) => r.write('X', 46)));
    await fallsBack(editDirectory(honest(), 0, (r) => r.writeUInt32LE(r.readUInt32LE(24) + 1, 24)));
    await fallsBack(editDirectory(honest(), 2, (r) => r.writeUInt32LE((r.readUInt32LE(16) ^ 1) >>> 0, 16)));
    await fallsBack(editDirectory(honest(), 1, (r) => r.writeUInt32LE(0, 42)));
    // A hidden entry: the end record lists one fewer than the local headers hold.
    const hidden = honest();
    hidden.writeUInt16LE(2, hidden.length - 12);
    hidden.writeUInt16LE(2, hidden.length - 14);
    await fallsBack(hidden);
    // Bytes between two entries (the directory's offsets then point past them).
    const a = zipOf([{ name: 'a.txt', content: text(20) }]);
    const firstEnd = 30 + 'a.txt'.length + a.readUInt32LE(18);
    await fallsBack(Buffer.concat([a.subarray(0, firstEnd), Buffer.from('junk'), a.subarray(firstEnd)]));
    // A launch script in front: not a local header first.
    await fallsBack(zipOf([{ name: 'app.yml', content: text(10) }], { prefix: Buffer.from('#!/bin/sh\nexec java -jar "$0" "$@"\n') }));
  });

  it('hostile zips: truncated, lying sizes, bombs, a shared local header: the stream gives them to the whole-buffer walk', async () => {
    const honest = zipOf([{ name: 'a.txt', content: text(500) }, { name: 'b.txt', content: text(500), method: 'store' }]);
    await fallsBack(honest.subarray(0, honest.length - 30));
    await fallsBack(honest.subarray(0, 200));
    // A size that lies the same way in both headers misleads neither walk (it only sizes a buffer);
    // one that only the local header tells differs from the directory.
    const lying = zipOf([{ name: 'a.txt', content: text(50), declaredSize: 3 }, { name: 'b.txt', content: 'b' }]);
    expect((await agrees(lying)).members).toHaveLength(2);
    const localLie = Buffer.from(lying);
    localLie.writeUInt32LE(7, 22);
    await fallsBack(localLie);
    await fallsBack(zipOf([{ name: 'ok.txt', content: 'fine' }, { name: 'bomb.txt', content: Buffer.alloc(64 * MiB), declaredSize: 1000 }]));
    await fallsBack(zipOf([{ name: 'ok.txt', content: 'fine' }, { name: 'bomb.txt', content: Buffer.alloc(64 * MiB), descriptor: true }]));
    await fallsBack(zipOf([{ name: 'big.txt', content: text(20_000) }, { name: 'after.txt', content: 'a' }]), { ...DEFAULT_ARCHIVE_LIMITS, maxEntryBytes: 64 * 1024 });
    await fallsBack(editDirectory(zipOf([{ name: 'a.txt', content: text(5) }, { name: 'a.txt', content: text(5) }]), 1, (r) => r.writeUInt32LE(0, 42)));
    await fallsBack(Buffer.concat([Buffer.from('PK\x03\x04'), deflateRawSync(Buffer.from(text(5)))]));
  });
});

describeReal('zips written by Info-ZIP, streamed', ['zip'], () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function zipCommand(files: Record<string, string | Buffer>, args: string[]): Buffer {
    const dir = mkdtempSync(join(tmpdir(), 'zip-cmd-'));
    dirs.push(dir);
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, 'src', name)), { recursive: true });
      writeFileSync(join(dir, 'src', name), content);
    }
    execFileSync('zip', ['-q', ...args], { cwd: join(dir, 'src'), stdio: ['ignore', 'pipe', 'pipe'] });
    return readFileSync(join(dir, 'src', 'out.zip'));
  }

  const files = () => ({ 'conf/app.properties': `github.token=${token()}\n`, 'docs/readme.md': `# x\n${token()}\n`.repeat(200), 'lib/blob.bin': randomBytes(200_000), 'empty.txt': '' });

  it('plain, zip64 (-fz), stored (-0), with directory entries, -fd: the same as the whole-buffer walk', async () => {
    for (const args of [['-r', 'out.zip', '.'], ['-r', '-fz', 'out.zip', '.'], ['-r', '-0', 'out.zip', '.'], ['-r', '-D', 'out.zip', '.'], ['-r', '-fd', 'out.zip', '.']]) {
      const { members } = await agrees(zipCommand(files(), args));
      expect(members.map((m) => m.split(' ')[0])).toEqual(expect.arrayContaining(['/z.zip!/conf/app.properties', '/z.zip!/docs/readme.md']));
    }
  });

  it('written to a pipe (data descriptors with zip64 sizes): the same as the whole-buffer walk', async () => {
    const content = Buffer.from(`${'filler line\n'.repeat(50_000)}github.token=${token()}\n`);
    const zip = execFileSync('zip', ['-q', '-', '-'], { input: content });
    expect(zip.readUInt16LE(6) & 0x8).toBe(0x8);
    const { members } = await agrees(zip);
    expect(members).toHaveLength(1);
  });
});

describe('a big zip in a layer read from a file', () => {
  const ruleSet = loadRuleSet();
  const dir = mkdtempSync(join(tmpdir(), 'zip-stream-layer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const secrets = { stored: token(), deflated: token(), descriptor: token(), nested: token() };

  function bigZip(extra: { name: string; content: Buffer | string; method?: 'store' | 'deflate'; descriptor?: boolean; encrypted?: boolean }[] = []): Buffer {
    return zipOf([
      // Incompressible filler so that the zip is over the streaming threshold.
      { name: 'lib/blob.bin', content: randomBytes(GATED_ARCHIVE_BYTES + MiB), method: 'store' },
      { name: 'conf/stored.properties', content: `a=1\ngithub.token=${secrets.stored}\n`, method: 'store' },
      { name: 'conf/deflated.yml', content: `x: 1\n`.repeat(50_000) + `token: ${secrets.deflated}\n` },
      { name: 'conf/descriptor.env', content: `T=${secrets.descriptor}\n`, descriptor: true },
      { name: 'lib/inner.jar', content: zipOf([{ name: 'inner.properties', content: `p=${secrets.nested}\n` }]), descriptor: true },
      ...extra,
    ]);
  }

  const view = (s: LayerScan) => s.matches.map((m) => `${m.ruleId} ${m.path} ${m.line}:${m.column} ${m.replacedInLayer ?? ''}`).sort();

  /** The layer walked from a file (zips streamed) and as a stream (zips held whole): the same, and which way the zip went. */
  async function bothWays(tar: Buffer, compression: 'none' | 'gzip' | 'zstd'): Promise<{ scan: LayerScan; outcomes: ZipStreamOutcome[] }> {
    const blob = compress(tar, compression);
    const file = join(dir, `layer-${Math.floor(rand() * 1e9)}`);
    writeFileSync(file, blob);
    const end = vi.spyOn(ZipStream.prototype, 'end');
    let fromFile: LayerScan;
    const outcomes: ZipStreamOutcome[] = [];
    try {
      fromFile = await scanLayer({ path: file, start: 0, size: blob.length }, new DetectionPool(ruleSet.rules, 0, ruleSet.plan));
      for (const r of end.mock.results) outcomes.push(await (r.value as Promise<ZipStreamOutcome>));
    } finally {
      end.mockRestore();
    }
    const pieces: Buffer[] = [];
    for (let at = 0; at < blob.length; at += 64 * 1024) pieces.push(blob.subarray(at, at + 64 * 1024));
    // A layer that arrives as a stream cannot be read again: its zips are held whole, never streamed.
    const notStreamed = vi.spyOn(ZipStream.prototype, 'end');
    const held = await scanLayer(Readable.from(pieces), new DetectionPool(ruleSet.rules, 0, ruleSet.plan));
    expect(notStreamed).not.toHaveBeenCalled();
    notStreamed.mockRestore();
    expect(view(fromFile)).toEqual(view(held));
    expect(fromFile.skipped).toEqual(held.skipped);
    expect(fromFile.diffId).toBe(held.diffId);
    return { scan: fromFile, outcomes };
  }

  it.each(['none', 'gzip'] as const)('streamed (%s layer): every member found under archive!/member, as held whole', async (compression) => {
    const tar = await tarOf([
      { name: 'etc/before.conf', content: Buffer.from(`token=${token()}\n`) },
      { name: 'opt/big.zip', content: bigZip() },
      { name: 'etc/after.conf', content: Buffer.from(`token=${token()}\n`) },
    ]);
    const { scan, outcomes } = await bothWays(tar, compression);
    expect(outcomes).toEqual(['streamed']);
    expect(scan.matches.map((m) => m.path)).toEqual(expect.arrayContaining([
      '/opt/big.zip!/conf/stored.properties', '/opt/big.zip!/conf/deflated.yml', '/opt/big.zip!/conf/descriptor.env',
      '/opt/big.zip!/lib/inner.jar!/inner.properties', '/etc/after.conf', '/etc/before.conf',
    ]));
    expect(scan.matches.find((m) => m.path.endsWith('deflated.yml'))!.line).toBe(50_001);
  });

  // zstd layers need the zstd command to be built: without it (and without CI, where it must be there) that row is left out, loudly.
  const withZstd = realToolsAvailable(['zstd']).ok || isCI();
  if (!withZstd) process.stderr.write('\n!!! SKIPPED: the zstd row of the streamed-zip fallback test (no zstd command)\n');
  it.each(withZstd ? (['none', 'gzip', 'zstd'] as const) : (['none', 'gzip'] as const))('a zip whose directory differs (%s layer) is read again from the layer and found as held whole', async (compression) => {
    // The directory names one member differently: its findings must come out under the directory's name.
    const renamed = editDirectory(bigZip(), 2, (r) => r.write('C', 46));
    const encrypted = bigZip([{ name: 'e.env', content: `E=${token()}\n`, encrypted: true, descriptor: true }, { name: 's.env', content: `S=${token()}\n` }]);
    const tar = await tarOf([
      { name: 'opt/renamed.zip', content: renamed },
      { name: 'opt/encrypted-descriptor.jar', content: encrypted },
      { name: 'opt/ok.zip', content: bigZip() },
      { name: 'etc/after.conf', content: Buffer.from(`token=${token()}\n`) },
    ]);
    const { scan, outcomes } = await bothWays(tar, compression);
    expect(outcomes).toEqual(['fallback', 'fallback', 'streamed']);
    const paths = scan.matches.map((m) => m.path);
    expect(paths).toContain('/opt/renamed.zip!/Conf/deflated.yml');
    expect(paths).not.toContain('/opt/renamed.zip!/conf/deflated.yml');
    expect(paths).toEqual(expect.arrayContaining(['/opt/encrypted-descriptor.jar!/s.env', '/opt/ok.zip!/conf/descriptor.env', '/etc/after.conf']));
  });

  it('a big jar with a launch script in front and a big file named .jar that is no zip: held whole, as before', async () => {
    const script = Buffer.from('#!/bin/sh\nexec java -jar "$0" "$@"\n');
    const notZip = `#!/bin/sh\n${'echo filler\n'.repeat(400_000)}TOKEN=${token()}\n`;
    expect(notZip.length).toBeGreaterThan(GATED_ARCHIVE_BYTES);
    const tar = await tarOf([
      { name: 'opt/app.jar', content: Buffer.concat([script, bigZip()]) },
      { name: 'opt/fake.jar', content: Buffer.from(notZip) },
    ]);
    const { scan, outcomes } = await bothWays(tar, 'gzip');
    expect(outcomes).toEqual([]);
    expect(scan.matches.map((m) => m.path)).toEqual(expect.arrayContaining(['/opt/app.jar!/conf/stored.properties', '/opt/fake.jar']));
  });

  it('hostile big zips in a layer: cut short, a bomb, the same path written twice: counted as held whole', async () => {
    const zip = bigZip();
    const bomb = bigZip([{ name: 'bomb.txt', content: Buffer.alloc(64 * MiB), descriptor: true }]);
    const tar = await tarOf([
      { name: 'opt/cut.zip', content: zip.subarray(0, zip.length - 100) },
      { name: 'opt/bomb.zip', content: bomb },
      { name: 'opt/twice.zip', content: bigZip() },
      { name: 'opt/twice.zip', content: bigZip([{ name: 'new.env', content: `N=${token()}\n` }]) },
    ]);
    const { scan, outcomes } = await bothWays(tar, 'gzip');
    expect(outcomes).toEqual(['fallback', 'fallback', 'streamed', 'streamed']);
    expect(scan.skipped['archive-corrupt']).toBe(1);
    expect(scan.skipped['archive-bomb']).toBe(1);
    expect(scan.matches.some((m) => m.path.startsWith('/opt/cut.zip'))).toBe(false);
    expect(scan.matches.filter((m) => m.path.startsWith('/opt/twice.zip!/conf/') && m.replacedInLayer === undefined).length).toBeGreaterThan(0);
  });
});
