import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { buildImage, tarOf } from '../fixtures/builder.mjs';
import { makeSecrets, leakySpec } from './support/leaky-spec.js';

const BIN = join(__dirname, '..', 'dist', 'bin.js');
const secrets = makeSecrets(Date.now() % 100000 + 7);
const { spec } = leakySpec(secrets);
let dir: string;

function run(args: string[], input?: Buffer) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

function expectNoSecrets(text: string) {
  for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), `${name} printed raw`).toBe(false);
}

function expectOneLineError(r: { code: number | null; stdout: string; stderr: string }, pattern: RegExp) {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^stratascan: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('exit codes and reports', () => {
  let leaky: string;
  let clean: string;
  beforeAll(async () => {
    leaky = join(dir, 'leaky.tar');
    writeFileSync(leaky, (await buildImage(spec, { layout: 'oci-archive', compression: 'gzip', reference: 'example.com/leaky:1' }))!);
    clean = join(dir, 'clean.tar');
    writeFileSync(clean, (await buildImage({ steps: [{ createdBy: 'ADD rootfs', files: [{ path: '/etc/hostname', content: 'box\n' }] }] }, { layout: 'docker-legacy' }))!);
  });

  it('exits 1 with a text report grouped by layer, redacted', () => {
    const r = run(['scan', leaky]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('Image config');
    expect(r.stdout).toMatch(/Layer 1 {2}COPY file:11 in \/srv\/app\/\.env/);
    expect(r.stdout).toMatch(/\/srv\/app\/\.env:3:\d+ {2}AWS secret access key/);
    expect(r.stdout).toContain('deleted in layer 2 (RUN rm /srv/app/.env /srv/app/.env.bak) — still recoverable from layer 1');
    expect(r.stdout).toMatch(/10 secrets found \(\d+ critical/);
    expect(r.stdout).not.toMatch(/\x1b\[/);
    expectNoSecrets(r.stdout);
  });

  it('writes the JSON contract to a file', () => {
    const out = join(dir, 'report.json');
    const r = run(['scan', leaky, '--format', 'json', '--output', out]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.schemaVersion).toBe(1);
    expect(report.tool.name).toBe('stratascan');
    expect(report.target).toBe(leaky);
    expect(report.image).toMatchObject({ format: 'oci-archive', reference: 'example.com/leaky:1', platform: 'linux/amd64' });
    expect(Object.keys(report.findings[0]).slice(0, 4)).toEqual(['ruleId', 'title', 'severity', 'source']);
    for (const f of report.findings) {
      expect(f.secretHash).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(f.remediation.length).toBeGreaterThan(40);
      expect(f).not.toHaveProperty('secret');
    }
    expectNoSecrets(readFileSync(out, 'utf8'));
  });

  it('prints raw values only with --show-secrets', () => {
    const r = run(['scan', leaky, '--format', 'json', '--show-secrets']);
    const report = JSON.parse(r.stdout);
    const values = report.findings.map((f: { secret: string }) => f.secret);
    expect(values).toContain(secrets.awsSecret);
  });

  it('exits 0 on a clean image and reads standard input', () => {
    expect(run(['scan', clean]).code).toBe(0);
    const r = run(['scan', '-'], readFileSync(leaky));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/10 secrets found/);
  });

  it('rejects bad usage with exit 2', () => {
    expect(run([]).code).toBe(2);
    expect(run(['scan', leaky, '--format', 'xml']).code).toBe(2);
    expect(run(['--help']).code).toBe(0);
  });
});

describe('broken input: exit 2, one line, no stack trace', () => {
  let good: Buffer;
  let goodLegacy: Buffer;
  beforeAll(async () => {
    good = (await buildImage(spec, { layout: 'oci-archive', compression: 'gzip' }))!;
    goodLegacy = (await buildImage(spec, { layout: 'docker-legacy' }))!;
  });
  const file = (name: string, bytes: Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };

  it('a file that is not an image', () => {
    expectOneLineError(run(['scan', file('notes.txt', Buffer.from('hello\n'.repeat(200)))]), /not a tar archive/);
    expectOneLineError(run(['scan', file('empty', Buffer.alloc(0))]), /not a tar archive/);
  });

  it('a tar that is not an image', async () => {
    const tar = await tarOf([{ name: 'readme.md', content: Buffer.from('# hi\n') }]);
    expectOneLineError(run(['scan', file('plain.tar', tar)]), /is not a container image/);
  });

  it('truncated tarballs, at many offsets', () => {
    // The last cut lands in the final member, just before the end-of-archive blocks.
    for (const fraction of [0.1, 0.35, 0.5, 0.77, 0.95, -1100]) {
      const cut = fraction < 0 ? goodLegacy.length + fraction : Math.floor(goodLegacy.length * fraction);
      expectOneLineError(run(['scan', file(`cut-${fraction}.tar`, goodLegacy.subarray(0, cut))]), /truncated|corrupt|not a tar/);
      const cutOci = fraction < 0 ? good.length + fraction : Math.floor(good.length * fraction);
      expectOneLineError(run(['scan', file(`cut-oci-${fraction}.tar`, good.subarray(0, cutOci))]), /truncated|corrupt|not a tar/);
    }
  });

  it('a truncated stream on standard input', () => {
    const r = run(['scan', '-'], good.subarray(0, Math.floor(good.length * 0.6)));
    expectOneLineError(r, /standard input/);
  });

  it('corrupt gzip inside a layer', async () => {
    const corrupt = await buildImage(spec, { layout: 'oci-archive', compression: 'gzip' }).then(() => null);
    void corrupt;
    const layer = gzipSync(Buffer.from('x'.repeat(5000)));
    // Flip bytes in the deflate body of one real layer, keeping the outer tar intact.
    const copy = Buffer.from(good);
    const needle = layer.subarray(0, 3);
    let pos = copy.indexOf(needle, 1024);
    const flipped = [];
    while (pos !== -1 && flipped.length < 3) {
      for (let i = 12; i < 40; i++) copy[pos + i] ^= 0x5a;
      flipped.push(pos);
      pos = copy.indexOf(needle, pos + 1);
    }
    expect(flipped.length).toBeGreaterThan(0);
    expectOneLineError(run(['scan', file('corrupt-gzip.tar', copy)]), /reading layer \d+|does not match/);
  });

  it('a manifest naming a missing blob', async () => {
    const layoutDir = join(dir, 'missing-blob');
    await buildImage(spec, { layout: 'oci-layout', compression: 'gzip', dir: layoutDir });
    const manifestPath = (() => {
      const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8'));
      return join(layoutDir, 'blobs', 'sha256', index.manifests[0].digest.slice(7));
    })();
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    rmSync(join(layoutDir, 'blobs', 'sha256', manifest.layers[2].digest.slice(7)));
    expectOneLineError(run(['scan', layoutDir]), /names layer blob sha256:[a-f0-9]{64}, which is missing/);
  });

  it('a config whose diff_ids disagree with the layers', () => {
    const text = goodLegacy.toString('latin1');
    const m = /"diff_ids":\["sha256:([a-f0-9]{64})"/.exec(text)!;
    // Same length, different id: the tar stays valid, only the claim is wrong.
    const wrong = text.replace(m[1]!, m[1]!.split('').reverse().join(''));
    const path = file('bad-diffid.tar', Buffer.from(wrong, 'latin1'));
    // The config is named by its digest but the legacy layout does not verify that; the layer check must.
    const r = run(['scan', path]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an unreadable target', () => {
    expectOneLineError(run(['scan', join(dir, 'does-not-exist.tar')]), /cannot open/);
    expect(existsSync(join(dir, 'does-not-exist.tar'))).toBe(false);
  });
});
