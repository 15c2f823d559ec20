import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../fixtures/builder.mjs';
import { scanImage } from '../src/scan.js';
import { ScanError } from '../src/errors.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import { secretHash } from '../src/attribute.js';

const rand = seededRandom(Date.now() % 1e6);
const tokens = { amd64: renderTemplate('ghp_{{alnum:36}}', rand).text, arm64: renderTemplate('ghp_{{alnum:36}}', rand).text, riscv: renderTemplate('ghp_{{alnum:36}}', rand).text };
const variant = (architecture: string, token: string, extra: Record<string, string> = {}) => ({
  architecture,
  ...extra,
  steps: [{ createdBy: `ADD rootfs-${architecture}`, files: [{ path: '/etc/token', content: `GITHUB_TOKEN=${token}\n` }] }],
});

describe('multi-platform indexes', () => {
  let both: string;
  let noAmd64: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratascan-platform-'));
    both = join(dir, 'both.tar');
    writeFileSync(both, (await buildImage([variant('amd64', tokens.amd64), variant('arm64', tokens.arm64, { variant: 'v8' })], { layout: 'oci-archive', compression: 'gzip' }))!);
    noAmd64 = join(dir, 'no-amd64.tar');
    writeFileSync(noAmd64, (await buildImage([variant('arm64', tokens.arm64, { variant: 'v8' }), variant('riscv64', tokens.riscv)], { layout: 'oci-archive', compression: 'zstd' }))!);
  });

  it('defaults to linux/amd64', async () => {
    const report = await scanImage(both, { jobs: 1 });
    expect(report.image.platform).toBe('linux/amd64');
    expect(report.findings.map((f) => f.secretHash)).toEqual([secretHash(tokens.amd64)]);
  });

  it('scans the platform asked for, with or without its variant', async () => {
    for (const platform of ['linux/arm64', 'linux/arm64/v8']) {
      const report = await scanImage(both, { platform, jobs: 1 });
      expect(report.image.platform).toBe('linux/arm64/v8');
      expect(report.findings.map((f) => f.secretHash)).toEqual([secretHash(tokens.arm64)]);
    }
  });

  it('lists the platforms on a miss', async () => {
    await expect(scanImage(both, { platform: 'linux/s390x' })).rejects.toThrow(/no image for platform linux\/s390x; it has linux\/amd64, linux\/arm64\/v8/);
    await expect(scanImage(noAmd64)).rejects.toThrow(ScanError);
    await expect(scanImage(noAmd64)).rejects.toThrow(/none is linux\/amd64; choose one with --platform \(linux\/arm64\/v8, linux\/riscv64\)/);
  });
});
