import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyPolicy, baseLayerCount, entryMatches, findConfigFile, fingerprintOf, gateFails, globToRegExp, isBaseOnly, isExpired,
  loadConfigFile, loadPolicy, parseBaseline, parseIgnoreFile, parseSeverity, validateEntry, applyLoadedPolicy,
} from '../src/policy/index.js';
import type { Finding } from '../src/types.js';
import { goldenReport, verifiedGoldenReport } from './golden/report.js';

const byRule = (id: string) => goldenReport.findings.find((f) => f.ruleId === id)!;
const NOW = new Date('2025-03-10T12:00:00Z');

describe('fingerprints and baselines', () => {
  it('fingerprint = ruleId:secretHash', () => {
    const f = byRule('github-token');
    expect(fingerprintOf(f)).toBe(`github-token:${f.secretHash}`);
  });

  it('reads the fingerprints of an earlier JSON report', () => {
    const set = parseBaseline(JSON.stringify(goldenReport));
    expect(set.size).toBe(goldenReport.findings.length);
    expect(set.has(fingerprintOf(byRule('private-key')))).toBe(true);
  });

  it('rejects what is not a JSON report', () => {
    expect(() => parseBaseline('nope')).toThrow(/not JSON/);
    expect(() => parseBaseline('{"runs":[]}')).toThrow(/not a stratascan JSON report/);
    expect(() => parseBaseline('{"schemaVersion":1,"findings":[{}]}')).toThrow(/finding 0 has no ruleId/);
  });
});

describe('ignore file', () => {
  const text = [
    '# comment',
    `- fingerprint: ${fingerprintOf(byRule('github-token'))}`,
    '  reason: revoked, kept for the record',
    '  expires: 2025-03-10',
    '- rule: private-key',
    '  reason: test keys',
    '- path: /srv/app/**',
    '  reason: app config handled elsewhere',
    '  expires: 2025-03-09',
  ].join('\n');

  it('parses entries with their line numbers', () => {
    const entries = parseIgnoreFile(text, '.stratascanignore');
    expect(entries).toEqual([
      { fingerprint: fingerprintOf(byRule('github-token')), reason: 'revoked, kept for the record', expires: '2025-03-10', origin: '.stratascanignore:2' },
      { rule: 'private-key', reason: 'test keys', origin: '.stratascanignore:5' },
      { path: '/srv/app/**', reason: 'app config handled elsewhere', expires: '2025-03-09', origin: '.stratascanignore:7' },
    ]);
    expect(parseIgnoreFile('ignore:\n  - rule: x\n    reason: y\n', 'f')).toHaveLength(1);
    expect(parseIgnoreFile('', 'f')).toEqual([]);
  });

  it('rejects entries without a reason, with two kinds, bad dates or bad fingerprints', () => {
    expect(() => parseIgnoreFile('- rule: x\n', 'f')).toThrow(/f:1: every ignore entry needs a "reason"/);
    expect(() => validateEntry({ rule: 'x', path: '/a', reason: 'r' }, 'f')).toThrow(/exactly one of/);
    expect(() => validateEntry({ rule: 'x', reason: 'r', expires: '2025-02-30' }, 'f')).toThrow(/YYYY-MM-DD/);
    expect(() => validateEntry({ fingerprint: 'sha256:abc', reason: 'r' }, 'f')).toThrow(/ruleId>:sha256/);
    expect(() => validateEntry({ rule: 'x', reason: 'r', until: 'x' }, 'f')).toThrow(/unknown key "until"/);
    expect(() => parseIgnoreFile('rule: [', 'f')).toThrow(/invalid YAML/);
  });

  it('an entry applies through its expiry day (UTC) and not after', () => {
    const e = validateEntry({ rule: 'x', reason: 'r', expires: '2025-03-10' }, 'f');
    expect(isExpired(e, new Date('2025-03-10T23:59:59Z'))).toBe(false);
    expect(isExpired(e, new Date('2025-03-11T00:00:00Z'))).toBe(true);
    expect(isExpired(validateEntry({ rule: 'x', reason: 'r' }, 'f'), new Date('2999-01-01'))).toBe(false);
  });

  it('globs', () => {
    expect(globToRegExp('/srv/app/**').test('srv/app/a/b/.env')).toBe(true);
    expect(globToRegExp('/srv/*/.env').test('srv/app/.env')).toBe(true);
    expect(globToRegExp('/srv/*/.env').test('srv/app/x/.env')).toBe(false);
    expect(globToRegExp('*.pem').test('etc/ssl/a.pem')).toBe(true);
    expect(globToRegExp('/usr/**/doc/?.txt').test('usr/share/doc/a.txt')).toBe(true);
    expect(globToRegExp('/usr/**/doc/?.txt').test('usr/doc/a.txt')).toBe(true);
    expect(globToRegExp('/a.b').test('axb')).toBe(false);
  });

  it('a path entry covers a finding only when every place it was seen matches', () => {
    const aws = byRule('aws-secret-access-key'); // /srv/app/.env, also /srv/app/backup/aws.env
    expect(entryMatches(validateEntry({ path: '/srv/app/**', reason: 'r' }, 'f'), aws)).toBe(true);
    expect(entryMatches(validateEntry({ path: '/srv/app/.env', reason: 'r' }, 'f'), aws)).toBe(false);
    // An ENV value is never covered by a path.
    expect(entryMatches(validateEntry({ path: '**', reason: 'r' }, 'f'), byRule('github-token'))).toBe(false);
  });
});

describe('applyPolicy', () => {
  it('drops baseline fingerprints and live ignores, warns about expired ones, then gates', () => {
    const entries = parseIgnoreFile([
      '- rule: private-key', '  reason: test keys',
      '- path: /srv/app/**', '  reason: expired one', '  expires: 2025-03-09',
    ].join('\n'), 'ign');
    const result = applyPolicy(goldenReport, {
      baseline: new Set([fingerprintOf(byRule('github-token'))]),
      ignore: entries,
      now: NOW,
    });
    expect(result.suppressed.map((s) => [s.finding.ruleId, s.by])).toEqual([['github-token', 'baseline'], ['private-key', 'ignore']]);
    expect(result.report.findings).toHaveLength(goldenReport.findings.length - 2);
    expect(result.warnings).toEqual([
      'ign:3: ignore entry for path /srv/app/** expired on 2025-03-09 and no longer applies (2 findings reported again); reason was: expired one',
    ]);
    expect(result.failed).toBe(true);
    expect(goldenReport.findings).toHaveLength(6);
  });

  it('--fail-on: fails only at or above the threshold', () => {
    const onlyMedium = goldenReport.findings.filter((f) => f.severity === 'medium');
    expect(gateFails(onlyMedium, 'high')).toBe(false);
    expect(gateFails(onlyMedium, 'medium')).toBe(true);
    expect(gateFails(onlyMedium)).toBe(true);
    expect(gateFails([], 'low')).toBe(false);
    expect(applyPolicy({ ...goldenReport, findings: onlyMedium }, { failOn: 'critical' }).failed).toBe(false);
    expect(parseSeverity('HIGH')).toBe('high');
    expect(() => parseSeverity('urgent')).toThrow(/critical, high, medium, low/);
  });

  it('--fail-on-verified: fails only for live keys, still above the severity floor, and keeps every finding in the report', () => {
    expect(applyPolicy(verifiedGoldenReport, { failOnVerified: true }).failed).toBe(true);
    const noneLive = { ...verifiedGoldenReport, findings: verifiedGoldenReport.findings.filter((f) => f.verification?.status !== 'valid') };
    const result = applyPolicy(noneLive, { failOnVerified: true });
    expect(result.failed).toBe(false);
    expect(result.report.findings).toHaveLength(noneLive.findings.length);
    expect(applyPolicy(noneLive, {}).failed).toBe(true);
    // An unverified report has no live key: the gate passes.
    expect(applyPolicy(goldenReport, { failOnVerified: true }).failed).toBe(false);
    const liveLow = { ...verifiedGoldenReport, findings: verifiedGoldenReport.findings.map((f) => (f.verification?.status === 'valid' ? { ...f, severity: 'low' as const } : f)) };
    expect(applyPolicy(liveLow, { failOnVerified: true, failOn: 'high' }).failed).toBe(false);
    expect(applyPolicy(liveLow, { failOnVerified: true, failOn: 'low' }).failed).toBe(true);
    // A live key that is ignored no longer gates.
    const ignored = applyPolicy(verifiedGoldenReport, { failOnVerified: true, ignore: [validateEntry({ rule: 'clarifai-api-key', reason: 'accepted' }, 'test')] });
    expect(ignored.failed).toBe(false);
  });

  it('marks base layers and findings; --exclude-base drops only base-only findings', () => {
    const report = { ...goldenReport, image: { ...goldenReport.image, layers: goldenReport.image.layers.map(({ base: _b, ...l }) => l) } };
    const marked = applyPolicy(report, { baseLayers: 2 });
    expect(marked.report.image.layers.map((l) => l.base === true)).toEqual([true, true, false, false, false]);
    const aws = marked.report.findings.find((f) => f.ruleId === 'aws-secret-access-key')!;
    expect(aws.layer!.base).toBe(true);
    expect(isBaseOnly(aws, 2)).toBe(false); // copied again in layer 4
    expect(isBaseOnly(aws, 5)).toBe(true);
    const excluded = applyPolicy(report, { baseLayers: 2, excludeBase: true });
    expect(excluded.suppressed.map((s) => [s.finding.ruleId, s.by])).toEqual([['private-key', 'base']]);
    expect(report.image.layers.every((l) => !('base' in l))).toBe(true);
  });

  it('a base image must prefix the scanned layers', () => {
    const ids = goldenReport.image.layers.map((l) => l.diffId);
    expect(baseLayerCount(goldenReport, ids.slice(0, 2))).toBe(2);
    expect(() => baseLayerCount(goldenReport, [ids[1]!])).toThrow(/not this image's base/);
    expect(() => baseLayerCount(goldenReport, [...ids, ids[0]!])).toThrow(/more than the scanned image's/);
    const applied = applyLoadedPolicy(goldenReport, { baseDiffIds: ids.slice(0, 3) });
    expect(applied.report.image.layers.filter((l) => l.base)).toHaveLength(3);
  });
});

describe('config file and loadPolicy', () => {
  it('is found upwards from the working directory; paths resolve against its directory; camelCase works', async () => {
    const root = mkdtempSync(join(tmpdir(), 'stratascan-config-'));
    try {
      const deep = join(root, 'a', 'b');
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(root, 'stratascan.config.yaml'), 'failOn: high\nbaseline: reports/base.json\nignore:\n  - rule: private-key\n    reason: test\n');
      const path = findConfigFile(deep);
      expect(path).toBe(join(root, 'stratascan.config.yaml'));
      const cfg = await loadConfigFile(path!, ['fail-on', 'baseline']);
      expect(cfg.options).toEqual({ 'fail-on': 'high', baseline: join(root, 'reports', 'base.json') });
      expect(cfg.ignore).toEqual([{ rule: 'private-key', reason: 'test', origin: `${path}: ignore[0]` }]);
      await expect(loadConfigFile(path!, ['baseline'])).rejects.toThrow(/unknown option "failOn"/);
      writeFileSync(join(deep, 'stratascan.config.json'), '{"format": "sarif"}');
      expect(findConfigFile(deep)).toBe(join(deep, 'stratascan.config.json'));
      writeFileSync(join(deep, 'stratascan.config.json'), '{"format": ');
      await expect(loadConfigFile(join(deep, 'stratascan.config.json'))).rejects.toThrow(/invalid JSON/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('loadPolicy reads .stratascanignore from cwd unless an ignore file is named', async () => {
    const root = mkdtempSync(join(tmpdir(), 'stratascan-policy-'));
    try {
      writeFileSync(join(root, '.stratascanignore'), '- rule: a\n  reason: r\n');
      writeFileSync(join(root, 'other.yml'), '- rule: b\n  reason: r\n');
      writeFileSync(join(root, 'base.json'), JSON.stringify(goldenReport));
      const dflt = await loadPolicy({ cwd: root, extraIgnore: [validateEntry({ rule: 'c', reason: 'r' }, 'cfg')] });
      expect(dflt.ignore!.map((e) => e.rule)).toEqual(['a', 'c']);
      const named = await loadPolicy({ cwd: root, ignoreFile: 'other.yml', baselinePath: 'base.json' });
      expect(named.ignore!.map((e) => e.rule)).toEqual(['b']);
      expect(named.baseline!.size).toBe(6);
      await expect(loadPolicy({ cwd: root, baselinePath: 'missing.json' })).rejects.toThrow(/cannot read the baseline/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

// Keep the helper types honest: a Finding built by hand still satisfies the matcher.
void ((f: Finding) => entryMatches({ rule: f.ruleId, reason: 'r', origin: 'x' }, f));
