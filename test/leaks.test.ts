import { describe, expect, it, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../fixtures/builder.mjs';
import { fakePem, renderTemplate, seededRandom } from '../src/detect/template.js';
import { redact } from '../src/redact.js';
import { cli, type Run } from './support/cli-run.js';
import { leakySpec, makeSecrets, type Secrets } from './support/leaky-spec.js';

/*
 * Every way stratascan writes text, checked for every planted value: the raw secret and any
 * 12-character window of the part its redacted form hides. Failures name the channel, the planted
 * value's name and its rule, never the value. The same check finds every value with
 * --show-secrets, so a grep that cannot see a value does not pass for no leak.
 */

const seed = (Date.now() % 100000) + 4242;
const base = makeSecrets(seed);
const rand = seededRandom(seed + 1);
const gen = (t: string) => renderTemplate(t, rand).text;
const extra = {
  /** A key whose lines end in a bare CR: the detector accepts it, the redaction must too. */
  pemCr: fakePem(rand, 'EC PRIVATE KEY', 6, '\r'),
  /** Written straight into a RUN command, so it lives only in created_by. */
  ghRun: gen('ghp_{{alnum:36}}'),
  /** An AWS key pair passed as build args: the id is reported with its secret (pairedWith). */
  awsArgId: gen('AKIA{{base32:16}}'),
  awsArgSecret: gen('{{b64:40}}'),
};
type Name = keyof Secrets | keyof typeof extra;
const planted: Record<Name, string> = { ...base, ...extra };
const { spec: leaky, expected } = leakySpec(base);
const ruleOf: Record<Name, string> = {
  ...(Object.fromEntries(expected.map((e) => [e.name, e.ruleId])) as Record<keyof Secrets, string>),
  pemCr: 'private-key',
  ghRun: 'github-token',
  awsArgId: 'aws-access-key-id',
  awsArgSecret: 'aws-secret-access-key',
};
const spec = {
  ...leaky,
  steps: [
    ...leaky.steps,
    { createdBy: '/bin/sh -c #(nop) COPY file:44 in /srv/keys/legacy.pem ', files: [{ path: '/srv/keys/legacy.pem', content: `${extra.pemCr}\r` }] },
    { createdBy: `/bin/sh -c curl -fsS -H "Authorization: token ${extra.ghRun}" https://api.github.com/user > /tmp/me.json`, files: [{ path: '/tmp/me.json', content: '{}\n' }] },
    { createdBy: '/bin/sh -c #(nop) ARG AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY' },
    {
      createdBy: `|2 AWS_ACCESS_KEY_ID=${extra.awsArgId} AWS_SECRET_ACCESS_KEY=${extra.awsArgSecret} /bin/sh -c aws s3 cp s3://bucket/app.tgz /opt/`,
      files: [{ path: '/opt/app.tgz.txt', content: 'fetched\n' }],
    },
  ],
};

/** The raw value and every 12-character window of what the redacted form does not show. */
function fragments(value: string): string[] {
  const out = new Set<string>([value]);
  const windows = (text: string) => {
    if (text.length <= 12) out.add(text);
    for (let i = 0; i + 12 <= text.length; i++) out.add(text.slice(i, i + 12));
  };
  if (value.startsWith('-----BEGIN')) {
    // The armour lines are shown (and are the same in every key): only the body is secret.
    for (const line of value.split(/\r\n|\r|\n|\\n/)) if (!line.startsWith('-----')) windows(line);
  } else {
    const shown = redact(value).indexOf('*');
    windows(value.slice(Math.max(0, shown)));
  }
  return [...out];
}
const fragmentsOf = Object.fromEntries(Object.entries(planted).map(([n, v]) => [n, fragments(v)])) as Record<Name, string[]>;

/** Names (with rules) of the planted values that show in `text`, raw or by a hidden fragment. */
function seen(text: string, names: readonly Name[] = Object.keys(planted) as Name[]): string[] {
  return names.filter((n) => fragmentsOf[n].some((f) => text.includes(f))).map((n) => `${n} (${ruleOf[n]})`);
}

/** Channels that showed a planted value in the current test, asserted at its end (all at once). */
let leaks: string[] = [];
function expectNoLeak(channel: string, text: string): void {
  const found = seen(text);
  if (found.length > 0) leaks.push(`${channel}: ${found.join(', ')}`);
}
beforeEach(() => {
  leaks = [];
});
afterEach(() => {
  expect(leaks, 'channels that show secret values (channel: planted name (rule))').toEqual([]);
});

let dir: string;
let image: string;
let imageBytes: Buffer;
let cacheDir: string;
const env = () => ({ XDG_CACHE_HOME: join(dir, 'xdg') });
const scan = (args: string[], opts: { env?: Record<string, string>; input?: Buffer } = {}): Promise<Run> =>
  cli(['scan', ...args], { env: { ...env(), ...opts.env }, input: opts.input });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-leaks-'));
  cacheDir = join(dir, 'cache');
  image = join(dir, 'leaky.tar');
  imageBytes = (await buildImage(spec, { layout: 'docker-legacy', reference: 'example.com/leaky:1' }))!;
  writeFileSync(image, imageBytes);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('no raw secret in any output channel', () => {
  it('the planted values are all found (the image is a fair test)', async () => {
    const r = await scan([image, '--format', 'json', '--no-cache']);
    expect(r.code, r.stderr).toBe(1);
    // An identifier found beside its secret (an AWS key id) is reported with it, under pairedWith.
    const findings = JSON.parse(r.stdout).findings as { secretHash: string; pairedWith?: { secretHash: string } | null }[];
    const hashes = new Set(findings.flatMap((f) => [f.secretHash, ...(f.pairedWith ? [f.pairedWith.secretHash] : [])]));
    const { secretHash } = await import('../src/attribute.js');
    const missing = (Object.keys(planted) as Name[]).filter((n) => !hashes.has(secretHash(planted[n])));
    expect(missing, 'planted values the scan did not report').toEqual([]);
  });

  it('reports: text, text --color, json, sarif, gitlab, github; stderr with --progress', async () => {
    const runs: [string, string[]][] = [
      ['text', []],
      ['text --color', ['--color']],
      ['json', ['--format', 'json']],
      ['sarif', ['--format', 'sarif']],
      ['gitlab', ['--format', 'gitlab']],
      ['github', ['--format', 'github']],
    ];
    // Fresh scans (the cached path has its own test below).
    const results = await Promise.all(runs.map(([, args]) => scan([image, ...args, '--progress', '--no-cache'])));
    results.forEach((r, i) => {
      const channel = runs[i]![0];
      expect(r.code, `${channel}: ${r.stderr}`).toBe(1);
      expect(r.stderr, `${channel}: no progress on stderr`).toMatch(/scanning: layer/);
      expectNoLeak(`${channel} stdout`, r.stdout);
      expectNoLeak(`${channel} stderr (progress)`, r.stderr);
    });
  });

  it('--output FILE', async () => {
    for (const format of ['json', 'text', 'sarif']) {
      const out = join(dir, `report.${format}`);
      const r = await scan([image, '--format', format, '--output', out, '--cache-dir', cacheDir]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      expectNoLeak(`--output (${format})`, readFileSync(out, 'utf8'));
    }
  });

  it('a rescan served from the layer cache, and the cache directory itself', async () => {
    const warm = join(dir, 'cache-warm');
    await scan([image, '--cache-dir', warm, '--quiet']);
    for (const format of ['text', 'json', 'sarif']) {
      const r = await scan([image, '--format', format, '--cache-dir', warm, '--progress']);
      expect(r.code, r.stderr).toBe(1);
      if (format === 'json') expect(JSON.parse(r.stdout).stats.cachedLayers, 'the rescan did not use the cache').toBeGreaterThan(0);
      expectNoLeak(`cached rescan ${format}`, r.stdout + r.stderr);
    }
    // A --show-secrets run writes the cache too (it reads none of it).
    await scan([image, '--cache-dir', warm, '--show-secrets', '--quiet']);
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else files.push(join(d, e.name));
      }
    };
    walk(warm);
    expect(files.some((f) => f.includes('/layers/') && f.endsWith('.entry'))).toBe(true);
    for (const f of files) {
      const bytes = readFileSync(f);
      const text = bytes.toString('utf8');
      expectNoLeak(`cache file ${f.slice(warm.length)}`, text);
    }
  });

  it('--show-secrets shows every value in text and JSON, and none in the CI formats', async () => {
    const all = Object.keys(planted).map((n) => `${n} (${ruleOf[n as Name]})`);
    const json = await scan([image, '--format', 'json', '--show-secrets', '--no-cache']);
    expect(seen(json.stdout), 'the grep misses values it should see').toEqual(all);
    const text = await scan([image, '--show-secrets', '--no-cache']);
    // PEM bodies print as escaped lines (\n, \x0d) in text: look for the windows, which do not span lines.
    expect(seen(text.stdout), 'text --show-secrets').toEqual(all);
    await Promise.all(['sarif', 'gitlab', 'github'].map(async (format) => {
      const r = await scan([image, '--format', format, '--show-secrets']);
      expect(r.code).toBe(1);
      expectNoLeak(`${format} --show-secrets`, r.stdout);
    }));
  });

  it('CI formats with --show-secrets when the policy hides the finding of a build arg', async () => {
    const ignore = join(dir, 'ignore-pat.yml');
    writeFileSync(ignore, `- rule: ${ruleOf.ghArg}\n  reason: accepted\n- rule: ${ruleOf.ghRun}\n  reason: accepted\n`);
    await Promise.all(['sarif', 'gitlab', 'github'].map(async (format) => {
      const r = await scan([image, '--format', format, '--show-secrets', '--ignore-file', ignore]);
      expectNoLeak(`${format} --show-secrets with suppressed findings`, r.stdout + r.stderr);
    }));
  });
});

describe('no raw secret in errors and warnings', () => {
  /** A failed run: exit 2, and nothing anywhere that shows a planted value. */
  async function expectQuietFailure(channel: string, args: string[], opts: { env?: Record<string, string>; input?: Buffer } = {}) {
    const r = await scan(args, { ...opts, env: { STRATASCAN_DEBUG: '1', ...opts.env } });
    expect(r.code, `${channel}: ${r.stderr}`).toBe(2);
    expectNoLeak(`${channel} stderr`, r.stderr);
    expectNoLeak(`${channel} stdout`, r.stdout);
    return r;
  }

  it('a stream cut short in its last layer, after secrets were seen (--progress, STRATASCAN_DEBUG)', async () => {
    // The last members of a docker save are the final layer and the manifest: cut inside them.
    const r = await expectQuietFailure('truncated stdin', ['-', '--progress', '--no-cache'], { input: imageBytes.subarray(0, imageBytes.length - 3000) });
    expect(r.stderr).toMatch(/stratascan: error: .*standard input/);
  });

  it('an OCI layout whose last layer blob is truncated (--progress, STRATASCAN_DEBUG)', async () => {
    const layout = join(dir, 'layout-cut');
    await buildImage(spec, { layout: 'oci-layout', compression: 'gzip', dir: layout });
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const last = join(layout, 'blobs', 'sha256', manifest.layers.at(-1).digest.slice(7));
    truncateSync(last, Math.floor(statSync(last).size / 2));
    await expectQuietFailure('truncated layer blob', [layout, '--progress', '--cache-dir', join(dir, 'cache-cut')]);
    await expectQuietFailure('truncated layer blob, text', [layout, '--no-cache', '--format', 'text']);
  });

  it('baseline files holding a secret', async () => {
    const broken = join(dir, 'baseline-broken.json');
    writeFileSync(broken, `{"schemaVersion": 1, "findings": [{"ruleId": "github-token", "secretHash": ${planted.ghConfig}}]}`);
    await expectQuietFailure('invalid JSON baseline', [image, '--baseline', broken]);
    const wrong = join(dir, 'baseline-wrong.json');
    writeFileSync(wrong, JSON.stringify({ schemaVersion: 1, findings: [{ ruleId: planted.awsSecret, secret: planted.ghEnv }] }));
    await expectQuietFailure('baseline without hashes', [image, '--baseline', wrong]);
  });

  it('ignore files mentioning a secret: as a fingerprint, a key, a date, in broken YAML', async () => {
    const cases: [string, string][] = [
      ['raw value as fingerprint', `- fingerprint: ${planted.awsSecret}\n  reason: rotated\n`],
      ['raw token as fingerprint', `- fingerprint: github-token:${planted.ghConfig}\n  reason: rotated\n`],
      ['raw value as a key', `- ${planted.ghEnv}: x\n  rule: github-token\n  reason: rotated\n`],
      ['raw value as expires', `- rule: github-token\n  reason: rotated\n  expires: ${planted.clarifaiFile}\n`],
      ['broken YAML', `- rule: github-token\n  reason: "rotated ${planted.ghConfig}\n  expires: [${planted.awsKeyId}\n`],
      ['broken YAML with a key', `- rule: github-token\n  reason: x\n   ${planted.clarifaiLabel}: : :\n`],
    ];
    await Promise.all(cases.map(async ([what, text], i) => {
      const path = join(dir, `ignore-${i}.yml`);
      writeFileSync(path, text);
      await expectQuietFailure(`ignore file, ${what}`, [image, '--ignore-file', path]);
    }));
  });

  it('an expired ignore entry whose reason quotes the secret', async () => {
    const path = join(dir, 'ignore-expired.yml');
    const pem = planted.rsa.split('\n').map((l) => `    ${l}`).join('\n');
    writeFileSync(path, `- rule: ${ruleOf.ghConfig}\n  expires: 2001-01-01\n  reason: |\n    revoked ${planted.ghConfig} and this key:\n${pem}\n`);
    const r = await scan([image, '--ignore-file', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/expired on 2001-01-01/);
    expectNoLeak('expired ignore warning', r.stderr);
  });

  it('config files holding a secret: broken JSON, broken YAML, a value, a key', async () => {
    const cases: [string, string][] = [
      ['stratascan.config.json', `{"format": "json", "image": ${planted.ghConfig}}`],
      ['stratascan.config.json', `{"format": "json",\n "platform": "${planted.awsSecret}" "x": 1}`],
      ['stratascan.config.yaml', `format: json\nplatform: [${planted.ghEnv}\n`],
      ['stratascan.config.yaml', `format: json\n  image: ${planted.awsSecret}\n bad: : :\n`],
      ['stratascan.config.yaml', `format: ${planted.ghConfig}\n`],
      ['stratascan.config.yaml', `fail-on: ${planted.awsSecret}\n`],
      ['stratascan.config.yaml', `${planted.ghEnv}: 1\n`],
      ['stratascan.config.yaml', `ignore:\n  - fingerprint: ${planted.awsSecret}\n    reason: x\n`],
    ];
    await Promise.all(cases.map(async ([name, text], i) => {
      const sub = join(dir, `config-${i}`);
      mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, name), text);
      await expectQuietFailure(`config file #${i} (${name})`, [image, '--config', join(sub, name)]);
    }));
  });

  it('command-line values holding a secret', async () => {
    await Promise.all([
      expectQuietFailure('--format value', [image, '--format', planted.ghConfig]),
      expectQuietFailure('--fail-on value', [image, '--fail-on', planted.awsSecret]),
      expectQuietFailure('unknown flag', [image, `--${planted.ghEnv}`]),
    ]);
  });
});
