import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../fixtures/builder.mjs';
import { layerCacheKeyParts, scanImage, TOOL_VERSION } from '../src/scan.js';
import { loadRuleSet } from '../src/detect/rules.js';
import { changesOf, decodeEntry, defaultCacheDir, encodeEntry, layerEntry, LayerCache, parseEntry } from '../src/cache/layer-cache.js';
import { PathTable, transferables } from '../src/layer/path-table.js';
import { secretHash } from '../src/attribute.js';
import { findByHash, redact } from '../src/redact.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import type { ScanReport } from '../src/types.js';
import { leakySpec, makeSecrets } from './support/leaky-spec.js';

// Fresh secrets each run; the seed is in the suite's name so a failing run can be replayed.
const seed = (Date.now() % 100000) + 31;
const secrets = makeSecrets(seed);
const { spec, expected, namesOf } = leakySpec(secrets);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-cache-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function filesUnder(root: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

/** Everything but timings: a cached scan must give the very same report. */
function stable(report: ScanReport) {
  const { durationMs, cachedLayers, ...stats } = report.stats;
  void durationMs;
  void cachedLayers;
  return { ...report, stats };
}

async function write(name: string, image: Parameters<typeof buildImage>[0], layout: 'oci-archive' | 'docker-legacy' = 'oci-archive') {
  const path = join(dir, name);
  writeFileSync(path, (await buildImage(image, { layout, compression: 'gzip', reference: 'example.com/leaky:1' }))!);
  return path;
}

describe(`layer cache (seed ${seed})`, () => {
  let cacheDir: string;
  let image: string;
  let first: ScanReport;
  let second: ScanReport;
  beforeAll(async () => {
    cacheDir = join(dir, 'cache');
    image = await write('leaky.tar', spec);
    first = await scanImage(image, { jobs: 2, cacheDir });
    second = await scanImage(image, { jobs: 2, cacheDir });
  });

  it('a first scan reads every layer and fills the cache', () => {
    expect(first.stats.cachedLayers).toBe(0);
    expect(namesOf(first.findings)).toEqual(expected.map((e) => e.name).sort());
    expect(filesUnder(cacheDir).filter((p) => p.includes('/layers/') && p.endsWith('.entry'))).toHaveLength(first.image.layers.length);
  });

  it('a second scan of the same image walks no layer and reports the same', () => {
    expect(second.stats.cachedLayers).toBe(second.image.layers.length);
    expect(stable(second)).toEqual(stable(first));
  });

  it('keeps the image config\'s matches too, so a rescan served from the cache scans no config', async () => {
    const entries = filesUnder(cacheDir).filter((p) => p.includes('/configs/') && p.endsWith('.json'));
    expect(entries).toHaveLength(1);
    const stored = JSON.parse(readFileSync(entries[0]!, 'utf8')) as { matches: { secretHash: string }[][] };
    const fromConfig = first.findings.filter((f) => f.source !== 'file').map((f) => f.secretHash);
    expect(fromConfig.length).toBeGreaterThan(0);
    for (const hash of fromConfig) expect(stored.matches.flat().some((m) => m.secretHash === hash), hash).toBe(true);
    const saved = readFileSync(entries[0]!);
    try {
      // It is what a rescan uses: emptied, the config's findings go (the files' stay).
      writeFileSync(entries[0]!, JSON.stringify({ ...JSON.parse(saved.toString('utf8')), matches: stored.matches.map(() => []) }));
      const emptied = await scanImage(image, { jobs: 0, cacheDir });
      expect(emptied.stats.cachedLayers).toBe(emptied.image.layers.length);
      expect(emptied.findings.filter((f) => f.source !== 'file')).toEqual([]);
      expect(emptied.findings.length).toBeGreaterThan(0);
      // A damaged entry is a miss: the config is scanned again, with the same report.
      writeFileSync(entries[0]!, 'not json');
      expect(stable(await scanImage(image, { jobs: 0, cacheDir }))).toEqual(stable(first));
    } finally {
      writeFileSync(entries[0]!, saved);
    }
  });

  it('cached layers still redact build args in history and never carry raw values', () => {
    const json = JSON.stringify(second);
    for (const [name, value] of Object.entries(secrets)) expect(json.includes(value), `${name} in the cached report`).toBe(false);
    expect(second.image.layers[7]!.createdBy).toMatch(/^\|1 GH_PAT=github\*+ \/bin\/sh/);
  });

  it('holds no raw secret on disk', () => {
    const files = filesUnder(cacheDir);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const raw = readFileSync(file);
      const text = raw.toString('latin1');
      for (const [name, value] of Object.entries(secrets)) {
        // Private keys: their body lines too, not only the whole block.
        const pieces = value.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'));
        for (const piece of [value, ...pieces]) expect(text.includes(piece), `${name} stored raw in ${file}`).toBe(false);
      }
      if (file.includes('/layers/')) expect(text).toContain('sha256:');
    }
  });

  it('a rebuilt image rescans only its changed layer', async () => {
    const token = renderTemplate('ghp_{{alnum:36}}', seededRandom(Date.now() % 1e6)).text;
    const steps = spec.steps.map((s) => ({ ...s }));
    const last = steps.length - 1;
    steps[last] = { ...steps[last]!, files: [...steps[last]!.files!, { path: '/srv/new.env', content: `TOKEN=${token}\n` }] };
    const rebuilt = await write('rebuilt.tar', { ...spec, steps });
    const report = await scanImage(rebuilt, { jobs: 2, cacheDir });
    expect(report.stats.cachedLayers).toBe(report.image.layers.length - 1);
    const fresh = report.findings.find((f) => f.secretHash === secretHash(token));
    expect(fresh).toMatchObject({ path: '/srv/new.env', layer: { index: 10 } });
    expect(report.findings).toHaveLength(first.findings.length + 1);
  });

  it('--show-secrets reads no layer from the cache', async () => {
    const report = await scanImage(image, { jobs: 0, cacheDir, showSecrets: true });
    expect(report.stats.cachedLayers).toBe(0);
    expect(report.findings.every((f) => typeof f.secret === 'string')).toBe(true);
  });

  it('other archive limits are another cache entry', async () => {
    const other = join(dir, 'limits-cache');
    await scanImage(image, { jobs: 0, cacheDir: other });
    expect((await scanImage(image, { jobs: 0, cacheDir: other })).stats.cachedLayers).toBe(first.image.layers.length);
    expect((await scanImage(image, { jobs: 0, cacheDir: other, archives: false })).stats.cachedLayers).toBe(0);
  });

  it('cache: false neither reads nor writes', async () => {
    const empty = join(dir, 'unused-cache');
    const report = await scanImage(image, { jobs: 0, cacheDir: empty, cache: false });
    expect(report.stats.cachedLayers).toBe(0);
    expect(() => readdirSync(empty)).toThrow();
  });

  it('a cache hit still checks the blob against its digest', async () => {
    // Same diff_ids (same tar), a blob that no longer matches the manifest: an error, not a cached result.
    const bytes = readFileSync(image);
    const layerDigest = first.image.layers[3]!.digest!;
    const blobAt = bytes.indexOf(Buffer.from(`blobs/sha256/${layerDigest.slice(7)}`));
    expect(blobAt).toBeGreaterThan(-1);
    const copy = Buffer.from(bytes);
    // The gzip header's MTIME: still decompresses to the same tar, only the digest can tell.
    const gz = blobAt + 512;
    expect(copy.subarray(gz, gz + 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    copy.writeUInt32LE((copy.readUInt32LE(gz + 4) + 1) >>> 0, gz + 4);
    const path = join(dir, 'tampered.tar');
    writeFileSync(path, copy);
    await expect(scanImage(path, { jobs: 0, cacheDir })).rejects.toThrow(/does not match its digest/);
  });

  it('entries from another detector catalogue or a corrupt file are misses', async () => {
    const cache = new LayerCache(cacheDir, { rulesHash: 'sha256:other', toolVersion: '0.1.0' });
    expect(await cache.get(first.image.layers[0]!.diffId)).toBeNull();
    const own = new LayerCache(cacheDir, layerCacheKeyParts(loadRuleSet().hash, {})).pathOf(first.image.layers[0]!.diffId);
    const saved = readFileSync(own);
    writeFileSync(own, Buffer.from('not gzip'));
    const report = await scanImage(image, { jobs: 0, cacheDir });
    expect(report.stats.cachedLayers).toBe(report.image.layers.length - 1);
    expect(stable(report).findings).toEqual(first.findings);
    writeFileSync(own, saved);
  });
});

describe('layer cache entries', () => {
  it('give back every path a layer wrote with what it wrote there, odd names included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratascan-entries-'));
    try {
      const cache = new LayerCache(dir, { rulesHash: 'sha256:rules', toolVersion: TOOL_VERSION });
      const entries = new Map<string, 'file' | 'dir' | 'symlink' | 'hardlink' | 'other'>([
        ['/etc', 'dir'],
        ['/etc/hosts', 'file'],
        ['/app/new\nline.txt', 'file'],
        ['/app/tab\tand space', 'file'],
        ['/usr/bin/sh', 'symlink'],
        ['/usr/bin/busybox', 'hardlink'],
        ['/dev/null', 'other'],
      ]);
      const changes = { entries, whiteouts: new Set(['/tmp/gone']), opaqueDirs: new Set(['/var/cache']) };
      await cache.put('sha256:layer', { digest: 'sha256:blob', size: 1, head: 'sha256:head' }, { files: 4, bytes: 10, skipped: {}, changes, matches: [] });
      const back = await cache.get('sha256:layer');
      expect(back).not.toBeNull();
      const restored = changesOf(back!);
      for (const [path, kind] of entries) expect(restored.entries.get(path), path).toBe(kind);
      expect(restored.entries.get('/app/new')).toBeUndefined();
      expect(restored.entries.get('/etc/hostname')).toBeUndefined();
      expect(restored.whiteouts).toEqual(changes.whiteouts);
      expect(restored.opaqueDirs).toEqual(changes.opaqueDirs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('layer cache entries on disk', () => {
  const parts = { rulesHash: 'sha256:rules', toolVersion: TOOL_VERSION };
  const kinds = ['file', 'dir', 'symlink', 'hardlink', 'other'] as const;
  const seedPaths = (Date.now() % 10000) + 5;

  /** A layer of `count` random paths (several deflated blocks' worth), as a layer worker hands it over. */
  function receivedLayer(count: number) {
    const rand = seededRandom(seedPaths);
    const table = new PathTable();
    const written = new Map<string, (typeof kinds)[number]>();
    for (let i = 0; i < count; i++) {
      const depth = 1 + Math.floor(rand() * 6);
      const path = '/' + Array.from({ length: depth }, () => renderTemplate('{{alnum:6}}', rand).text).join('/') + (i % 11 === 0 ? '/ünï 文件' : '');
      const kind = kinds[Math.floor(rand() * kinds.length)]!;
      table.set(path, kind);
      written.set(path, kind);
    }
    const data = table.data();
    const entries = new PathTable(structuredClone(data, { transfer: transferables(data) }));
    return { written, changes: { entries, whiteouts: new Set(['/tmp/gone']), opaqueDirs: new Set<string>() } };
  }

  it(`give back a worker's table of many paths, lists and table alike (seed ${seedPaths})`, () => {
    const { written, changes } = receivedLayer(12_000);
    const result = { files: written.size, bytes: 1, skipped: { binary: 2 }, changes, matches: [] };
    const blob = { digest: 'sha256:blob', size: 1, head: null };
    const disk = decodeEntry(encodeEntry(layerEntry(parts, 'sha256:layer', [blob], result, 'table')), parts, 'sha256:layer');
    const json = parseEntry(JSON.stringify(layerEntry(parts, 'sha256:layer', [blob], result)), parts, 'sha256:layer');
    for (const entry of [disk, json]) {
      expect(entry).not.toBeNull();
      const restored = changesOf(entry!);
      expect([...written].filter(([path, kind]) => restored.entries.get(path) !== kind)).toEqual([]);
      expect(restored.entries.get('/nowhere/at/all')).toBeUndefined();
      expect(restored.whiteouts).toEqual(changes.whiteouts);
      expect(entry!.skipped).toEqual({ binary: 2 });
    }
    // From one form to the other and back: what the audit's store and the disk keep agree.
    const again = decodeEntry(encodeEntry(layerEntry(parts, 'sha256:layer', [blob], { ...result, changes: changesOf(json!) as typeof changes }, 'table')), parts, 'sha256:layer');
    const restored = changesOf(again!);
    expect([...written].filter(([path, kind]) => restored.entries.get(path) !== kind)).toEqual([]);
  });

  it('are misses when cut short, changed anywhere, or made for other keys', () => {
    const { changes } = receivedLayer(3_000);
    const result = { files: 1, bytes: 1, skipped: {}, changes, matches: [] };
    const bytes = encodeEntry(layerEntry(parts, 'sha256:layer', [{ digest: 'sha256:blob', size: 1, head: null }], result, 'table'));
    expect(decodeEntry(bytes, parts, 'sha256:layer')).not.toBeNull();
    expect(decodeEntry(bytes, parts, 'sha256:other')).toBeNull();
    expect(decodeEntry(bytes, { ...parts, rulesHash: 'sha256:other' }, 'sha256:layer')).toBeNull();
    for (const cut of [0, 3, 8, 100, bytes.length - 1]) expect(decodeEntry(bytes.subarray(0, cut), parts, 'sha256:layer'), `cut at ${cut}`).toBeNull();
    const rand = seededRandom(seedPaths);
    for (let i = 0; i < 200; i++) {
      const at = Math.floor(rand() * bytes.length);
      const changed = Buffer.from(bytes);
      changed[at] ^= 1 + Math.floor(rand() * 255);
      const back = decodeEntry(changed, parts, 'sha256:layer');
      // A change in the header's JSON may leave valid JSON of the same meaning (a space); never in the paths.
      if (back !== null) expect(at, `byte ${at} changed`).toBeLessThan(bytes.indexOf('"paths"'));
    }
    // Not 4-aligned in memory: read through a copy, the same entry.
    const shifted = Buffer.alloc(bytes.length + 1);
    bytes.copy(shifted, 1);
    const back = decodeEntry(shifted.subarray(1), parts, 'sha256:layer');
    expect(back).not.toBeNull();
    expect(changesOf(back!).entries.get([...changes.entries][5]![0])).toBe([...changes.entries][5]![1]);
  });
});

describe('cache location and hash lookups', () => {
  it('follows XDG_CACHE_HOME, else ~/.cache', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/var/cache/ci' })).toBe('/var/cache/ci/stratascan');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative' })).toMatch(/\.cache\/stratascan$/);
    expect(defaultCacheDir({})).toMatch(/\.cache\/stratascan$/);
  });

  it('finds a value in text by its hash and redacted prefix', () => {
    const value = renderTemplate('{{hex:32}}', seededRandom(7)).text;
    const text = `|1 CFG=${value} /bin/sh -c make`;
    const got = findByHash(text, [{ secretHash: secretHash(value), redacted: redact(value), length: value.length }]);
    expect(got.map(secretHash)).toEqual([secretHash(value)]);
    expect(findByHash('nothing here', [{ secretHash: secretHash(value), redacted: redact(value), length: value.length }])).toEqual([]);
  });

  it('scrubs a file secret from history text even when it comes from the cache', async () => {
    const key = renderTemplate('{{hex:32}}', seededRandom((Date.now() % 1000) + 3)).text;
    const image = await write('build-arg.tar', {
      steps: [
        { createdBy: '/bin/sh -c #(nop) ADD file:1 in / ', files: [{ path: '/etc/hostname', content: 'box\n' }] },
        // The history text alone has no clarifai keyword: only the file finding knows the value.
        { createdBy: `|1 CFG=${key} /bin/sh -c make`, files: [{ path: '/opt/clarifai.cfg', content: `[auth]\nclarifai_api_key = ${key}\n` }] },
      ],
    });
    const cacheDir = join(dir, 'cache-build-arg');
    const a = await scanImage(image, { jobs: 0, cacheDir });
    const b = await scanImage(image, { jobs: 0, cacheDir });
    expect(b.stats.cachedLayers).toBe(2);
    for (const r of [a, b]) {
      expect(r.findings.map((f) => f.secretHash)).toEqual([secretHash(key)]);
      expect(JSON.stringify(r).includes(key)).toBe(false);
      expect(r.image.layers[1]!.createdBy).toMatch(/^\|1 CFG=\w{4}\*+ \/bin\/sh -c make$/);
    }
  });
});
