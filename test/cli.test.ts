import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { expectOneLineError } from './support/cli-run.js';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { buildImage, tarOf } from '../fixtures/builder.mjs';
import { makeSecrets, leakySpec } from './support/leaky-spec.js';

const BIN = join(__dirname, '..', 'dist', 'bin.js');
const secrets = makeSecrets(Date.now() % 100000 + 7);
const { spec, expected } = leakySpec(secrets);
let dir: string;

function run(args: string[], input?: Buffer) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

function expectNoSecrets(text: string) {
  for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), `${name} printed raw`).toBe(false);
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
    expect(r.stdout).toMatch(new RegExp(`${expected.length} secrets found \\(\\d+ critical`));
    expect(r.stdout).not.toMatch(/\x1b\[/);
    expectNoSecrets(r.stdout);
  });

  it('--compact prints one line per finding; --markdown-summary appends the summary to a file, redacted', () => {
    const r = run(['scan', leaky, '--compact', '--show-secrets']);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').filter((l) => /^(CRITICAL|HIGH|MEDIUM|LOW) /.test(l))).toHaveLength(expected.length);
    expect(r.stdout).not.toContain('fix:');
    const summary = join(dir, 'step-summary.md');
    writeFileSync(summary, '## earlier step\n');
    const s = run(['scan', leaky, '--format', 'json', '--output', join(dir, 'with-summary.json'), '--markdown-summary', summary, '--show-secrets']);
    expect(s.code).toBe(1);
    const md = readFileSync(summary, 'utf8');
    expect(md.startsWith('## earlier step\n### ⚠️ stratascan: ')).toBe(true);
    expect(md).toContain(`${expected.length} secrets in`);
    expectNoSecrets(md);
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
    expect(r.stdout).toMatch(new RegExp(`${expected.length} secrets found`));
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

describe('CI gate: baseline, ignores, fail-on, config, base layers, progress', () => {
  let leaky: string;
  let work: string;
  const runIn = (cwd: string, args: string[], env: Record<string, string> = { NO_COLOR: '1' }) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd, maxBuffer: 64 << 20, env: { ...process.env, ...env } });
    return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  };
  const ruleIds = () => {
    const report = JSON.parse(run(['scan', leaky, '--format', 'json', '--jobs', '1']).stdout);
    return [...new Set(report.findings.map((f: { ruleId: string }) => f.ruleId))] as string[];
  };
  beforeAll(async () => {
    work = join(dir, 'gate');
    mkdtempSync(join(dir, 'x-'));
    rmSync(work, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(work, 'sub', 'deeper'), { recursive: true });
    leaky = join(work, 'leaky.tar');
    writeFileSync(leaky, (await buildImage(spec, { layout: 'docker-legacy', reference: 'example.com/leaky:1' }))!);
  });

  it('a baseline from run 1 makes run 2 exit 0; a new secret makes it exit 1 again', async () => {
    const baseline = join(work, 'baseline.json');
    expect(runIn(work, ['scan', leaky, '--format', 'json', '--output', baseline, '--jobs', '1']).code).toBe(1);
    const again = runIn(work, ['scan', leaky, '--baseline', baseline, '--jobs', '1']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No secrets found.');
    expect(again.stderr).toBe(`stratascan: ${expected.length} findings not reported (${expected.length} in the baseline, 0 ignored, 0 base-only)\n`);
    expect(runIn(work, ['scan', leaky, '--baseline', baseline, '--quiet', '--jobs', '1']).stderr).toBe('');

    const other = makeSecrets(Date.now() % 100000 + 999);
    const grown = { ...spec, steps: [...spec.steps, { createdBy: '/bin/sh -c #(nop) COPY file:99 in /srv/new.env ', files: [{ path: '/srv/new.env', content: `GITHUB_TOKEN=${other.ghConfig}\n` }] }] };
    const grownPath = join(work, 'grown.tar');
    writeFileSync(grownPath, (await buildImage(grown, { layout: 'docker-legacy' }))!);
    const r = runIn(work, ['scan', grownPath, '--baseline', baseline, '--format', 'json', '--jobs', '1']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.findings.map((f: { path: string; layer: { index: number } }) => [f.path, f.layer.index])).toEqual([['/srv/new.env', 11]]);
    expectNoSecrets(r.stdout);
    expect(r.stdout.includes(other.ghConfig)).toBe(false);
  });

  it('.stratascanignore entries apply until they expire, then say so on stderr', () => {
    const ids = ruleIds();
    const ignoreDir = join(work, 'sub');
    const write = (expires: string) => writeFileSync(join(ignoreDir, '.stratascanignore'),
      ids.map((id) => `- rule: ${id}\n  reason: accepted for the demo\n  expires: ${expires}\n`).join(''));
    write('2999-12-31');
    const live = runIn(ignoreDir, ['scan', leaky, '--jobs', '1', '--quiet']);
    expect(live.code).toBe(0);
    expect(live.stderr).toBe('');
    write('2000-01-01');
    const expired = runIn(ignoreDir, ['scan', leaky, '--jobs', '1']);
    expect(expired.code).toBe(1);
    const warnings = expired.stderr.trimEnd().split('\n');
    expect(warnings).toHaveLength(ids.length);
    expect(warnings[0]).toMatch(/^stratascan: warning: .*\.stratascanignore:1: ignore entry for rule \S+ expired on 2000-01-01 and no longer applies \(\d+ findings? reported again\); reason was: accepted for the demo$/);
    // --ignore-file replaces the default file.
    const named = join(work, 'none.yml');
    writeFileSync(named, '[]\n');
    expect(runIn(ignoreDir, ['scan', leaky, '--jobs', '1', '--ignore-file', named]).stderr).toBe('');
    rmSync(join(ignoreDir, '.stratascanignore'));
  });

  it('--fail-on and --exit-code', async () => {
    const highOnly = join(work, 'high.tar');
    writeFileSync(highOnly, (await buildImage({ steps: [{ createdBy: 'ADD x', files: [{ path: '/app/.env', content: `AWS_ACCESS_KEY_ID=${secrets.awsKeyId}\n` }] }] }, { layout: 'docker-legacy' }))!);
    const severities = JSON.parse(run(['scan', highOnly, '--format', 'json']).stdout).findings.map((f: { severity: string }) => f.severity);
    expect(severities).toEqual(['high']);
    expect(runIn(work, ['scan', highOnly, '--fail-on', 'critical']).code).toBe(0);
    expect(runIn(work, ['scan', highOnly, '--fail-on', 'high']).code).toBe(1);
    expect(runIn(work, ['scan', highOnly, '--exit-code', '3']).code).toBe(3);
    expect(runIn(work, ['scan', highOnly, '--fail-on', 'urgent']).code).toBe(2);
    expect(runIn(work, ['scan', highOnly, '--exit-code', '-1']).code).toBe(2);
  });

  it('stratascan.config.json is found upwards; the command line wins', () => {
    const cfg = join(work, 'sub', 'stratascan.config.json');
    writeFileSync(cfg, JSON.stringify({ format: 'json', 'fail-on': 'critical', exitCode: 4, jobs: 1 }));
    try {
      const r = runIn(join(work, 'sub', 'deeper'), ['scan', leaky]);
      expect(r.code).toBe(4);
      expect(JSON.parse(r.stdout).schemaVersion).toBe(1);
      const cli = runIn(join(work, 'sub', 'deeper'), ['scan', leaky, '--format', 'text', '--exit-code', '5']);
      expect(cli.code).toBe(5);
      expect(cli.stdout).toContain('secrets found');
      expect(runIn(join(work, 'sub', 'deeper'), ['scan', leaky, '--no-config']).code).toBe(1);
      writeFileSync(cfg, JSON.stringify({ 'no-such-flag': 1 }));
      const bad = runIn(join(work, 'sub', 'deeper'), ['scan', leaky]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/no-such-flag/);
    } finally {
      rmSync(cfg);
    }
  });

  it('--base and --skip-layers label inherited layers; --exclude-base drops base-only findings', async () => {
    const base = join(work, 'base.tar');
    writeFileSync(base, (await buildImage({ ...spec, steps: spec.steps.slice(0, 3) }, { layout: 'docker-legacy' }))!);
    const r = runIn(work, ['scan', leaky, '--base', base, '--format', 'json', '--jobs', '1']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.image.layers.map((l: { base?: boolean }) => l.base === true)).toEqual([true, true, true, ...Array(8).fill(false)]);
    const aws = report.findings.filter((f: { layer: { index: number } | null }) => f.layer?.index === 1);
    expect(aws.length).toBeGreaterThan(0);
    for (const f of aws) expect(f.layer.base).toBe(true);
    expect(report.findings.filter((f: { layer: { base?: boolean } | null }) => f.layer && f.layer.index > 2 && f.layer.base)).toEqual([]);
    const skip = JSON.parse(runIn(work, ['scan', leaky, '--skip-layers', '3', '--format', 'json', '--jobs', '1']).stdout);
    expect(skip.image.layers).toEqual(report.image.layers);
    const excluded = JSON.parse(runIn(work, ['scan', leaky, '--base', base, '--exclude-base', '--format', 'json', '--jobs', '1', '-q']).stdout);
    // The AWS secret key (with its key id) lives only in base layer 1.
    expect(excluded.findings.length).toBe(report.findings.length - 1);
    const other = join(work, 'other-base.tar');
    writeFileSync(other, (await buildImage({ steps: [{ createdBy: 'ADD y', files: [{ path: '/y', content: 'y\n' }] }] }, { layout: 'docker-legacy' }))!);
    const wrong = runIn(work, ['scan', leaky, '--base', other]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/not this image's base/);
  });

  it('sarif, gitlab and github formats from the CLI', () => {
    const sarif = JSON.parse(run(['scan', leaky, '--format', 'sarif', '--jobs', '1']).stdout);
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0].results).toHaveLength(expected.length);
    const gitlab = JSON.parse(run(['scan', leaky, '--format', 'gitlab', '--jobs', '1']).stdout);
    expect(gitlab.scan.type).toBe('secret_detection');
    const gh = run(['scan', leaky, '--format', 'github', '--jobs', '1']);
    expect(gh.code).toBe(1);
    expect(gh.stdout.trimEnd().split('\n').every((l) => l.startsWith('::'))).toBe(true);
    for (const out of [JSON.stringify(sarif), JSON.stringify(gitlab), gh.stdout]) expectNoSecrets(out);
  });

  it('html: one page to --output, never a raw value even with --show-secrets, providers from the detectors', () => {
    const out = join(dir, 'report.html');
    const r = run(['scan', leaky, '--format', 'html', '--show-secrets', '--output', out, '--jobs', '1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('');
    const html = readFileSync(out, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expectNoSecrets(html);
    const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html)![1]!);
    expect(data.findings).toHaveLength(expected.length);
    expect(data.findings.find((f: { ruleId: string }) => f.ruleId === 'aws-secret-access-key').provider).toBe('AWS');
    expect(data.findings.find((f: { ruleId: string }) => f.ruleId === 'clarifai-api-key').provider).toBe('Clarifai');
  });

  it('on a terminal: progress on stderr, cleared before the report; none with --quiet or when piped', () => {
    const tty = (extra: string) => {
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} scan ${JSON.stringify(leaky)} --jobs 1 ${extra}`;
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: work, env: { ...process.env, NO_COLOR: '', COLUMNS: '120', TERM: 'xterm' }, maxBuffer: 64 << 20 });
      return { code: r.status, out: r.stdout.toString('utf8') };
    };
    const shown = tty('');
    expect(shown.code).toBe(1);
    expect(shown.out).toMatch(/scanning: layer \d+\/11, [\d.]+ (B|KiB), \d+ files, \d+ findings?/);
    const cleared = shown.out.lastIndexOf('\r\x1b[2K');
    expect(cleared).toBeGreaterThan(-1);
    expect(shown.out.indexOf('stratascan\x1b[0m 0.1.0') > cleared || shown.out.indexOf('\x1b[1mstratascan') > cleared).toBe(true);
    expect(shown.out).toContain('\x1b[1;31mCRITICAL');
    const quiet = tty('--quiet');
    expect(quiet.out).not.toContain('scanning:');
    expect(quiet.out).not.toContain('\x1b[2K');
    const piped = run(['scan', leaky, '--jobs', '1']);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).not.toMatch(/\x1b/);
  });
});
