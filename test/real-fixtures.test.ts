import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { scanImage } from '../src/scan.js';
import { expectations, makeFakeSecrets, SEED } from '../scripts/regen-real-fixtures.mjs';
import { expectPlantedFindings, type PlantedOccurrence } from './support/expectations.js';
import type { ScanReport } from '../src/types.js';

// Tarballs made by the real tools (dockerd 20.10 docker save; skopeo oci-archive gzip and zstd),
// committed so this runs anywhere; test/real-docker.test.ts rebuilds the same recipe live.
const dir = join(__dirname, '..', 'fixtures', 'real');
const planted = expectations(makeFakeSecrets(SEED)) as PlantedOccurrence[];

function comparable(r: ScanReport) {
  return r.findings.map((f) => ({ ...f, layer: f.layer && { index: f.layer.index, diffId: f.layer.diffId } }));
}

describe('tarballs made by the real tools', () => {
  const reports: Record<string, ScanReport> = {};
  for (const name of ['leaky-docker-save.tar', 'leaky-oci-gzip.tar', 'leaky-oci-zstd.tar']) {
    it(`${name}: every planted secret once, with its layer, line and fate`, async () => {
      const report = await scanImage(join(dir, name));
      expectPlantedFindings(report, planted);
      reports[name] = report;
    });
  }
  it('the three copies give the same findings', () => {
    const [a, b, c] = ['leaky-docker-save.tar', 'leaky-oci-gzip.tar', 'leaky-oci-zstd.tar'].map((n) => reports[n]!);
    expect(a!.image.format).toBe('docker-archive');
    expect(b!.image.format).toBe('oci-archive');
    expect(comparable(b!)).toEqual(comparable(a!));
    expect(comparable(c!)).toEqual(comparable(a!));
  });
});
