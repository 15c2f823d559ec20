import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describeReal } from './support/describe-real.js';
import { DOCKERD_BINS, startDockerd, type Dockerd } from './support/dockerd.mjs';
import { SKOPEO_BINS, skopeoCopy } from './support/skopeo.mjs';
import { expectations, makeFakeSecrets, renderBuild } from '../scripts/regen-real-fixtures.mjs';
import { expectPlantedFindings, type PlantedOccurrence } from './support/expectations.js';
import { scanImage } from '../src/scan.js';
import type { ScanReport } from '../src/types.js';

// Live version of the committed fixtures: fresh fake secrets each run, built by a private dockerd
// (classic builder, RUN/COPY/ENV/LABEL/ARG), saved, converted by skopeo, then scanned.
const BASE = 'stratascan-test/busybox:1';
const LEAKY = 'stratascan-fixture/leaky:1';
const DEBIANISH = 'stratascan-test/debian-content:1';

describeReal('images built by a real dockerd', [...DOCKERD_BINS, ...SKOPEO_BINS, 'zstd', 'tar'], () => {
  let dockerd: Dockerd;
  let dir: string;
  const seed = (Date.now() ^ process.pid) >>> 0;
  const secrets = makeFakeSecrets(seed);
  const planted = expectations(secrets) as PlantedOccurrence[];
  const paths = { save: '', gzip: '', zstd: '', base: '', debian: '' };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratascan-real-'));
    dockerd = await startDockerd();
    await dockerd.importBusybox(BASE);
    const { dockerfile, files, buildArgs } = renderBuild(secrets);
    // The recipe names its own base tag in FROM; retag ours to match.
    await dockerd.run(['tag', BASE, 'stratascan-fixture/busybox:1']);
    await dockerd.build(LEAKY, dockerfile, { buildArgs, files, redact: Object.values(secrets) });
    paths.save = join(dir, 'leaky.tar');
    await dockerd.save([LEAKY], paths.save);
    paths.base = join(dir, 'busybox.tar');
    await dockerd.save([BASE], paths.base);
    // A clean Debian userland: this machine's own package database, docs and /etc.
    const rootfs = spawnSync('tar', ['-c', '--ignore-failed-read', '--exclude=/etc/ssl/private', '--exclude=/etc/docker', '--exclude=/etc/shadow*', '--exclude=/etc/gshadow*', '/etc', '/var/lib/dpkg', '/usr/share/doc', '/usr/share/common-licenses', '/usr/lib/os-release'], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
    await dockerd.run(['import', '-', DEBIANISH], { input: rootfs.stdout });
    paths.debian = join(dir, 'debian.tar');
    await dockerd.save([DEBIANISH], paths.debian);
    await dockerd.stop();
    paths.gzip = join(dir, 'leaky-gzip.tar');
    paths.zstd = join(dir, 'leaky-zstd.tar');
    await skopeoCopy(`docker-archive:${paths.save}`, `oci-archive:${paths.gzip}:${LEAKY}`, { compress: 'gzip' });
    await skopeoCopy(`docker-archive:${paths.save}`, `oci-archive:${paths.zstd}:${LEAKY}`, { compress: 'zstd' });
  }, 240_000);

  afterAll(async () => {
    await dockerd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const reports: Record<string, ScanReport> = {};
  for (const kind of ['save', 'gzip', 'zstd'] as const) {
    it(`finds every planted secret once in the ${kind} copy, with layer, path, line and fate`, async () => {
      const report = await scanImage(paths[kind]);
      expectPlantedFindings(report, planted);
      reports[kind] = report;
      const json = JSON.stringify(report);
      for (const value of Object.values(secrets)) expect(json.includes(value)).toBe(false);
    });
  }

  it('the docker save, OCI gzip and OCI zstd copies give the same findings', () => {
    const strip = (r: ScanReport) => r.findings.map((f) => ({ ...f, layer: f.layer && { index: f.layer.index, diffId: f.layer.diffId } }));
    expect(strip(reports.gzip!)).toEqual(strip(reports.save!));
    expect(strip(reports.zstd!)).toEqual(strip(reports.save!));
  });

  it('finds nothing in a clean busybox base', async () => {
    const report = await scanImage(paths.base);
    expect(report.findings.map((f) => `${f.ruleId} ${f.path}`)).toEqual([]);
    expect(report.stats.files).toBeGreaterThan(0);
  });

  it('finds nothing in a clean Debian userland (/etc, dpkg database, docs)', async () => {
    const report = await scanImage(paths.debian);
    expect(report.stats.files).toBeGreaterThan(1000);
    expect(report.findings.map((f) => `${f.ruleId} ${f.path}:${f.line} ${f.redacted}`)).toEqual([]);
  });
});
