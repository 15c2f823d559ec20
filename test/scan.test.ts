import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { buildImage } from '../fixtures/builder.mjs';
import { scanImage } from '../src/scan.js';
import type { Finding, ScanReport } from '../src/types.js';
import { leakySpec, makeSecrets } from './support/leaky-spec.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import { secretHash } from '../src/attribute.js';

const seed = Date.now() % 100000;
const secrets = makeSecrets(seed);
const { spec, expected, hashOf, namesOf } = leakySpec(secrets);
const hasZstd = spawnSync('zstd', ['--version']).status === 0;
if (!hasZstd) {
  if (process.env.CI) throw new Error('zstd is missing: .ci/run must install it');
  console.warn('\n*** SKIPPING zstd layouts: the zstd binary is missing (apt-get install zstd) ***\n');
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-scan-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function comparable(findings: Finding[]) {
  return findings.map((f) => ({ ...f, layer: f.layer && { index: f.layer.index, diffId: f.layer.diffId } }));
}

async function write(name: string, layout: 'docker-legacy' | 'docker-oci' | 'oci-archive', compression?: 'none' | 'gzip' | 'zstd') {
  const bytes = await buildImage(spec, { layout, compression, reference: 'example.com/leaky:1' });
  const path = join(dir, name);
  writeFileSync(path, bytes!);
  return path;
}

describe('attribution on a synthetic multi-layer image', () => {
  let report: ScanReport;
  beforeAll(async () => {
    report = await scanImage(await write('legacy.tar', 'docker-legacy'), { jobs: 2 });
  });

  it('reports each planted secret once', () => {
    const hashes = report.findings.map((f) => f.secretHash);
    expect(new Set(hashes).size).toBe(hashes.length);
    expect(namesOf(report.findings)).toEqual(expected.map((e) => e.name).sort());
  });

  for (const e of expected) {
    it(`attributes ${e.name} (${e.ruleId}) to ${e.source} ${e.path ?? e.key} in layer ${e.layer}`, () => {
      const f = report.findings.find((x) => x.secretHash === hashOf(e.name));
      expect(f, `${e.name} not found`).toBeDefined();
      expect({
        ruleId: f!.ruleId, source: f!.source, layer: f!.layer?.index ?? null, path: f!.path, line: f!.line, key: f!.key,
        inFinalImage: f!.inFinalImage, removedBy: f!.removedBy?.index ?? null, alsoIn: f!.alsoIn.length,
      }).toEqual({
        ruleId: e.ruleId, source: e.source, layer: e.layer, path: e.path, line: e.line, key: e.key,
        inFinalImage: e.inFinalImage, removedBy: e.removedBy, alsoIn: e.alsoIn,
      });
    });
  }

  it('stamps layers with their build step and removal with the deleting step', () => {
    const rsa = report.findings.find((f) => f.secretHash === hashOf('rsa'))!;
    expect(rsa.layer!.createdBy).toContain('COPY file:22');
    expect(rsa.removedBy!.createdBy).toBe('/bin/sh -c rm -rf /root/.ssh');
    expect(report.image.layers).toHaveLength(11);
    expect(report.image.layers.map((l) => l.index)).toEqual([...Array(11).keys()]);
  });

  it('lists copies, hard links and config duplicates under alsoIn', () => {
    const aws = report.findings.find((f) => f.secretHash === hashOf('awsSecret'))!;
    expect(aws.alsoIn.map((o) => `${o.layerIndex}:${o.path}:${o.inFinalImage}`)).toEqual(
      ['1:/srv/app/.env.bak:false'],
    );
    expect(aws.pairedWith).toMatchObject({ ruleId: 'aws-access-key-id', secretHash: hashOf('awsKeyId'), line: 2 });
    expect(report.findings.some((f) => f.secretHash === hashOf('awsKeyId'))).toBe(false);
    const env = report.findings.find((f) => f.secretHash === hashOf('ghEnv'))!;
    expect(env.alsoIn).toEqual([expect.objectContaining({ source: 'history', layerIndex: null })]);
    const arg = report.findings.find((f) => f.secretHash === hashOf('ghArg'))!;
    expect(arg.alsoIn).toEqual([expect.objectContaining({ source: 'file', layerIndex: 7, path: '/root/.pat', line: 1 })]);
  });

  it('redacts secrets everywhere, including build args recorded in createdBy', () => {
    const json = JSON.stringify(report);
    for (const [name, value] of Object.entries(secrets)) {
      expect(json.includes(value), `${name} leaked into the report`).toBe(false);
    }
    expect(report.findings.every((f) => f.secret === undefined)).toBe(true);
    expect(report.image.layers[7]!.createdBy).toMatch(/^\|1 GH_PAT=github\*+ \/bin\/sh/);
  });

  it('skips binary files without reading them as text', () => {
    expect(report.stats.skipped.binary).toBe(1);
    expect(report.stats.files).toBeGreaterThanOrEqual(10);
  });
});

describe('every layout and compression gives the same findings', () => {
  const cases: [string, 'docker-legacy' | 'docker-oci' | 'oci-archive', ('none' | 'gzip' | 'zstd')?][] = [
    ['docker-oci.tar', 'docker-oci'],
    ['oci-gzip.tar', 'oci-archive', 'gzip'],
    ['oci-none.tar', 'oci-archive', 'none'],
    ...(hasZstd ? [['oci-zstd.tar', 'oci-archive', 'zstd'] as ['oci-zstd.tar', 'oci-archive', 'zstd']] : []),
  ];
  let baseline: ScanReport;
  beforeAll(async () => {
    baseline = await scanImage(await write('base.tar', 'docker-legacy'), { jobs: 1 });
  });
  for (const [name, layout, compression] of cases) {
    it(`${layout}${compression ? ` (${compression})` : ''}`, async () => {
      const report = await scanImage(await write(name, layout, compression), { jobs: 2 });
      expect(comparable(report.findings)).toEqual(comparable(baseline.findings));
      expect(report.image.layers.map((l) => l.diffId)).toEqual(baseline.image.layers.map((l) => l.diffId));
      expect(report.image.format).toBe(layout === 'oci-archive' ? 'oci-archive' : 'docker-archive');
      expect(report.image.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      if (compression === 'gzip') expect(report.image.layers.every((l) => l.digest !== l.diffId)).toBe(true);
    });
  }

  it('an OCI layout directory', async () => {
    const layoutDir = join(dir, 'layout');
    await buildImage(spec, { layout: 'oci-layout', compression: 'gzip', dir: layoutDir });
    const report = await scanImage(layoutDir, { jobs: 0 });
    expect(report.image.format).toBe('oci-layout');
    expect(comparable(report.findings)).toEqual(comparable(baseline.findings));
  });

  it('standard input', async () => {
    const bytes = await buildImage(spec, { layout: 'oci-archive', compression: 'gzip' });
    const report = await scanImage('-', { stdin: Readable.from([bytes!]), jobs: 2 });
    expect(comparable(report.findings)).toEqual(comparable(baseline.findings));
    const legacy = await buildImage(spec, { layout: 'docker-legacy' });
    const again = await scanImage('-', { stdin: Readable.from([legacy!]), jobs: 1 });
    expect(comparable(again.findings)).toEqual(comparable(baseline.findings));
  });
});

describe('a path written twice in one layer', () => {
  it('the earlier copy is still in the blob but not in the image, unless the last copy holds it too', async () => {
    const rand = seededRandom(seed + 1);
    const [gone, kept, both] = [0, 1, 2].map(() => renderTemplate('ghp_{{alnum:36}}', rand).text);
    const bytes = await buildImage(
      {
        steps: [
          {
            createdBy: 'COPY twice',
            files: [
              { path: '/etc/app.env', content: `token: ${gone}\nshared: ${both}\n` },
              { path: '/etc/app.env', content: `token: ${kept}\nshared: ${both}\n` },
            ],
          },
        ],
      },
      { layout: 'docker-legacy' },
    );
    const path = join(dir, 'dup.tar');
    writeFileSync(path, bytes!);
    // Fresh, fresh while filling the layer cache, then served from it.
    for (const [cache, cachedLayers] of [[false, 0], [true, 0], [true, 1]] as const) {
      const report = await scanImage(path, { jobs: 0, cache, cacheDir: join(dir, 'dup-cache') });
      expect(report.stats.cachedLayers).toBe(cachedLayers);
      const of = (v: string) => report.findings.find((f) => f.secretHash === secretHash(v));
      expect(of(gone), 'replaced copy').toMatchObject({ inFinalImage: false, removedBy: { index: 0 } });
      expect(of(kept), 'last copy').toMatchObject({ inFinalImage: true, removedBy: null });
      expect(of(both)?.inFinalImage, 'held by both copies').toBe(true);
    }
  });
});
