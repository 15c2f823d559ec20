import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../fixtures/builder.mjs';
import { secretHash } from '../src/attribute.js';
import { scanImage } from '../src/scan.js';
import type { ScanReport } from '../src/types.js';
import { cli } from './support/cli-run.js';
import { gen, startStandIn, type StandIn } from './support/verify-stand-in.js';

// Fresh fake values, assembled at test time.
const v = {
  clarifai: gen('{{alnum:32}}'),
  github: gen('ghp_{{alnum:36}}'),
  awsId: gen('AKIA{{base32:16}}'),
  awsSecret: gen('{{b64:40}}'),
};
const RAW = Object.values(v);

let dir: string;
let image: string;
let stand: StandIn;

function endpointArgs(): string[] {
  return ['clarifai', 'github', 'aws'].flatMap((p) => ['--verify-endpoint', `${p}=${stand.base(p)}`]);
}
const endpoints = () => Object.fromEntries(['clarifai', 'github', 'aws'].map((p) => [p, stand.base(p)]));
const requestsFor = (provider: string) => stand.seen.filter((s) => s.provider === provider);

function filesUnder(root: string): string[] {
  return readdirSync(root).flatMap((name) => {
    const path = join(root, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function expectNoRawSecret(...texts: string[]): void {
  for (const text of texts) for (const raw of RAW) expect(text.includes(raw), 'a raw secret in the output').toBe(false);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-verify-'));
  stand = await startStandIn();
  stand.expect.set('clarifai', { secret: v.clarifai });
  stand.expect.set('github', { secret: v.github });
  stand.expect.set('aws', { secret: v.awsSecret, partner: v.awsId });
  // The Clarifai key is in three layers and the config; the GitHub token in a layer and the config.
  const spec = {
    env: ['PATH=/usr/bin:/bin', `CLARIFAI_PAT=${v.clarifai}`, `GITHUB_TOKEN=${v.github}`],
    steps: [
      { createdBy: 'COPY .env /srv/app/.env', files: [{ path: '/srv/app/.env', content: `CLARIFAI_PAT=${v.clarifai}\nAWS_ACCESS_KEY_ID=${v.awsId}\nAWS_SECRET_ACCESS_KEY=${v.awsSecret}\n` }] },
      { createdBy: 'COPY backup /backup', files: [{ path: '/backup/app.env', content: `export CLARIFAI_API_KEY="${v.clarifai}"\n` }] },
      { createdBy: 'COPY tools /opt/tools', files: [{ path: '/opt/tools/run.sh', content: `CLARIFAI_PAT=${v.clarifai}\ncurl -H "Authorization: token ${v.github}" https://api.github.com/user\n` }] },
    ],
  };
  image = join(dir, 'verify.tar');
  writeFileSync(image, (await buildImage(spec, { layout: 'docker-oci' }))!);
});
afterAll(async () => {
  await stand.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('scanImage with and without verify', () => {
  let unverified: ScanReport;
  let verified: ScanReport;
  const cacheDir = () => join(dir, 'cache');

  it('without verify no request leaves, even with endpoints configured, and no finding has the field', async () => {
    const before = stand.seen.length;
    unverified = await scanImage(image, { jobs: 0, cacheDir: cacheDir(), verifyEndpoints: endpoints() });
    expect(stand.seen.length).toBe(before);
    expect(unverified.findings.length).toBeGreaterThanOrEqual(3);
    expect(unverified.findings.every((f) => !('verification' in f))).toBe(true);
    expect(JSON.stringify(unverified)).not.toContain('verification');
  });

  it('with verify each distinct secret is checked once though it is in several layers, and served from a warm cache still', async () => {
    stand.mode.set('clarifai', 'valid');
    stand.mode.set('github', 'invalid');
    stand.mode.set('aws', 'valid');
    const before = stand.seen.length;
    // The cache is warm from the run above: verify must still see the raw values.
    const captured: string[] = [];
    const spies = [
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (captured.push(String(chunk)), true)),
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => (captured.push(String(chunk)), true)),
      ...(['log', 'warn', 'error', 'info', 'debug'] as const).map((m) => vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void captured.push(args.map(String).join(' ')))),
    ];
    try {
      verified = await scanImage(image, { jobs: 0, cacheDir: cacheDir(), verify: true, verifyEndpoints: endpoints() });
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expectNoRawSecret(...captured);
    const requests = stand.seen.slice(before);
    expect(requests.map((r) => r.provider).sort()).toEqual(['aws', 'clarifai', 'github']);
    expect(requests.every((r) => r.mismatch === null)).toBe(true);
    const byHash = (raw: string) => verified.findings.find((f) => f.secretHash === secretHash(raw));
    const clarifai = byHash(v.clarifai)!;
    expect(clarifai.alsoIn.length).toBeGreaterThanOrEqual(2);
    expect(clarifai.verification).toEqual({ status: 'valid', detail: expect.stringContaining('Clarifai accepted it') });
    expect(byHash(v.github)!.verification?.status).toBe('invalid');
    expect(byHash(v.awsSecret)!.verification).toEqual({ status: 'valid', detail: 'AWS STS accepted the key pair (account 123456789012)' });
    expect(verified.findings.every((f) => f.verification !== undefined)).toBe(true);
    expectNoRawSecret(JSON.stringify(verified));
  });

  it('the layer cache holds neither raw values nor verification results', () => {
    const all = filesUnder(cacheDir()).map((f) => readFileSync(f).toString('latin1'));
    expectNoRawSecret(...all);
    // Layer and config entries (the rule memo beside them holds detector text, not results).
    const entries = all.filter((text) => text.includes('"matches"'));
    expect(entries.length).toBeGreaterThanOrEqual(4);
    for (const text of entries) expect(text).not.toMatch(/verification|accepted it|"status"/);
  });

  it('a cancel during verification rejects at once with an AbortError', async () => {
    stand.mode.set('clarifai', 'hang');
    const controller = new AbortController();
    const started = Date.now();
    const scan = scanImage(image, { jobs: 0, cache: false, verify: true, verifyEndpoints: endpoints(), signal: controller.signal });
    // Abort once the hanging check is in flight.
    const before = requestsFor('clarifai').length;
    while (requestsFor('clarifai').length === before && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 20));
    controller.abort('SIGINT');
    await expect(scan).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('a bad endpoint fails the scan before it starts', async () => {
    await expect(scanImage(image, { jobs: 0, cache: false, verify: true, verifyEndpoints: { github: 'http://ghe.example.com' } })).rejects.toThrow(/only https/);
  });
});

describe('CLI --verify', () => {
  it('json: statuses in the report, exit 1, no raw secret on stdout or stderr', async () => {
    stand.mode.set('clarifai', 'valid');
    stand.mode.set('github', '500');
    stand.mode.set('aws', 'invalid');
    const r = await cli(['scan', image, '--verify', ...endpointArgs(), '--format', 'json', '--no-cache', '--jobs', '0']);
    expect(r.code, r.stderr).toBe(1);
    expectNoRawSecret(r.stdout, r.stderr);
    const report = JSON.parse(r.stdout) as ScanReport;
    const statuses = Object.fromEntries(report.findings.map((f) => [f.ruleId, f.verification?.status]));
    expect(statuses).toMatchObject({ 'clarifai-api-key': 'valid', 'github-token': 'unknown', 'aws-secret-access-key': 'invalid' });
  });

  it('text marks live keys first, with the Clarifai revoke-now steps', async () => {
    stand.mode.set('clarifai', 'valid');
    stand.mode.set('github', 'hang');
    stand.mode.set('aws', 'invalid');
    const r = await cli(['scan', image, '--verify', ...endpointArgs(), '--no-cache', '--jobs', '0']);
    expect(r.code, r.stderr).toBe(1);
    expectNoRawSecret(r.stdout, r.stderr);
    const banner = r.stdout.indexOf('!! 1 LIVE secret');
    expect(banner).toBeGreaterThan(0);
    expect(banner).toBeLessThan(r.stdout.indexOf('Image config'));
    expect(r.stdout).toMatch(/revoke it now in the Clarifai portal \(a\s+personal access token under\s+Settings > Security/i);
    expect(r.stdout).toMatch(/no answer within 5 s/);
    expect(r.stdout).toMatch(/verified: 1 live, 1 revoked or invalid, 1 unknown/);
  });

  it('--fail-on-verified exits 1 only for live keys', async () => {
    stand.mode.set('clarifai', 'invalid');
    stand.mode.set('github', 'invalid');
    stand.mode.set('aws', '429');
    const none = await cli(['scan', image, '--verify', '--fail-on-verified', ...endpointArgs(), '--no-cache', '--jobs', '0', '--format', 'sarif']);
    expect(none.code, none.stderr).toBe(0);
    expectNoRawSecret(none.stdout, none.stderr);
    stand.mode.set('aws', 'valid');
    const live = await cli(['scan', image, '--verify', '--fail-on-verified', ...endpointArgs(), '--no-cache', '--jobs', '0', '--format', 'sarif']);
    expect(live.code, live.stderr).toBe(1);
    const results = JSON.parse(live.stdout).runs[0].results as { ruleId: string; level: string; properties: { verification: { status: string } } }[];
    expect(results.find((x) => x.ruleId === 'aws-secret-access-key')).toMatchObject({ level: 'error', properties: { verification: { status: 'valid' } } });
  });

  it('off by default: no request, no field; the config key turns it on', async () => {
    const before = stand.seen.length;
    const off = await cli(['scan', image, '--format', 'json', '--no-cache', '--jobs', '0', '--no-config']);
    expect(off.code).toBe(1);
    expect(stand.seen.length).toBe(before);
    expect(off.stdout).not.toContain('verification');
    const config = join(dir, 'stratascan.config.json');
    writeFileSync(config, JSON.stringify({ verify: true, 'verify-endpoint': ['clarifai', 'github', 'aws'].map((p) => `${p}=${stand.base(p)}`) }));
    const on = await cli(['scan', image, '--format', 'json', '--no-cache', '--jobs', '0', '--config', config]);
    expect(on.code, on.stderr).toBe(1);
    expect(stand.seen.length - before).toBe(3);
    expect((JSON.parse(on.stdout) as ScanReport).findings.every((f) => f.verification)).toBe(true);
  });

  it('usage errors: one line, exit 2', async () => {
    for (const [args, message] of [
      [['scan', image, '--fail-on-verified'], /--fail-on-verified needs --verify/],
      [['scan', image, '--verify-endpoint', 'github=http://ghe.example.com'], /only https URLs/],
      [['scan', image, '--verify', '--verify-endpoint', 'github=http://ghe.example.com'], /only https URLs/],
      [['scan', image, '--verify', '--verify-endpoint', 'gogs=https://x.example'], /unknown provider "gogs"/],
    ] as const) {
      const r = await cli([...args, '--no-config']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });

  it('verify --list-endpoints prints every host, overrides included', async () => {
    const r = await cli(['verify', '--list-endpoints']);
    expect(r.code, r.stderr).toBe(0);
    for (const host of ['api.clarifai.com', 'sts.amazonaws.com', 'api.github.com', 'gitlab.com', 'slack.com', 'api.stripe.com', 'api.openai.com',
      'api.anthropic.com', 'huggingface.co', 'registry.npmjs.org', 'api.sendgrid.com', 'api.twilio.com', 'api.mailgun.net', 'api.eu.mailgun.net',
      'api.datadoghq.com', 'api.datadoghq.eu', 'generativelanguage.googleapis.com']) {
      expect(r.stdout).toMatch(new RegExp(`\\s${host.replace(/\./g, '\\.')}\\s`));
    }
    const ghe = await cli(['verify', '--list-endpoints', '--verify-endpoint', 'github=https://ghe.example.com/api/v3']);
    expect(ghe.stdout).toMatch(/^github\s+ghe\.example\.com\s/m);
    expect(ghe.stdout).not.toMatch(/api\.github\.com/);
  });
});
