import { describe, expect, it, beforeAll } from 'vitest';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { buildImage } from '../fixtures/builder.mjs';
import { renderReport, REPORT_FORMATS, type ReportFormat } from '../src/report/index.js';
import { escapeData, escapeProperty } from '../src/report/github.js';
import { GITLAB_SCHEMA_VERSION } from '../src/report/gitlab.js';
import { SARIF_FINGERPRINT_KEY } from '../src/report/sarif.js';
import { wrap } from '../src/report/text.js';
import { scanImage } from '../src/scan.js';
import { fingerprintOf } from '../src/policy/index.js';
import type { ScanReport } from '../src/types.js';
import { goldenReport, GOLDEN_NOW, verifiedGoldenReport } from './golden/report.js';
import { leakySpec, makeSecrets } from './support/leaky-spec.js';

const GOLDEN = join(__dirname, 'golden');
const ROOT = join(__dirname, '..');

// The official SARIF 2.1.0 schema as shipped by Microsoft's SARIF SDK (npm @microsoft/sarif-multitool-linux).
// That copy declares "$schema": draft 2020-12 but uses only draft-04/07 keywords (definitions, $ref,
// enum, ...), so it is compiled with ajv's default draft-07 support after dropping that one line.
function sarifValidator() {
  const schema = JSON.parse(readFileSync(join(ROOT, 'node_modules', '@microsoft', 'sarif-multitool-linux', 'sarif-2.1.0.json'), 'utf8'));
  expect(schema.title).toBe('Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema');
  delete schema.$schema;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv.compile(schema);
}

/**
 * GitLab's secret detection report, security-report-schemas v15.0.7
 * (dist/secret-detection-report-format.json; the copy GitLab itself validates with is
 * lib/gitlab/ci/parsers/security/validators/schemas/15.0.7/secret-detection-report-format.json).
 * No npm package ships it, so the fields stratascan writes are encoded here with the schema's
 * required lists, types, enums, patterns and length limits.
 */
const GITLAB_SUBSET = {
  type: 'object',
  required: ['scan', 'version', 'vulnerabilities'],
  properties: {
    schema: { type: 'string', pattern: '^https?://.+' },
    version: { type: 'string', pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$' },
    scan: {
      type: 'object',
      required: ['analyzer', 'end_time', 'scanner', 'start_time', 'status', 'type'],
      properties: {
        end_time: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}$' },
        start_time: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}$' },
        status: { type: 'string', enum: ['success', 'failure'] },
        type: { type: 'string', enum: ['secret_detection'] },
        analyzer: { $ref: '#/definitions/tool' },
        scanner: { $ref: '#/definitions/tool' },
      },
    },
    vulnerabilities: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'identifiers', 'location'],
        properties: {
          id: { type: 'string', minLength: 1 },
          name: { type: 'string', maxLength: 255 },
          description: { type: 'string', maxLength: 1048576 },
          severity: { type: 'string', enum: ['Info', 'Unknown', 'Low', 'Medium', 'High', 'Critical'] },
          solution: { type: 'string', maxLength: 7000 },
          identifiers: {
            type: 'array', minItems: 1,
            items: {
              type: 'object', required: ['type', 'name', 'value'],
              properties: {
                type: { type: 'string', minLength: 1 }, name: { type: 'string', minLength: 1 },
                value: { type: 'string', minLength: 1 }, url: { type: 'string', pattern: '^(https?|ftp)://.+' },
              },
            },
          },
          links: { type: 'array', items: { type: 'object', required: ['url'], properties: { name: { type: 'string' }, url: { type: 'string', pattern: '^(https?|ftp)://.+' } } } },
          details: {
            type: 'object',
            additionalProperties: {
              type: 'object', required: ['name', 'type'],
              properties: { name: { type: 'string', minLength: 1 }, type: { enum: ['text', 'list'] } },
              oneOf: [
                { properties: { type: { const: 'text' }, value: { type: 'string' } }, required: ['value'] },
                { properties: { type: { const: 'list' }, items: { type: 'array', items: { type: 'object', required: ['type', 'value'], properties: { type: { const: 'text' }, value: { type: 'string' } } } } }, required: ['items'] },
              ],
            },
          },
          location: {
            type: 'object', required: ['commit'],
            properties: {
              file: { type: 'string' },
              commit: { type: 'object', required: ['sha'], properties: { sha: { type: 'string', minLength: 1 } } },
              start_line: { type: 'number' },
              end_line: { type: 'number' },
            },
          },
        },
      },
    },
  },
  definitions: {
    tool: {
      type: 'object', required: ['id', 'name', 'version', 'vendor'],
      properties: {
        id: { type: 'string', minLength: 1 }, name: { type: 'string', minLength: 1 }, version: { type: 'string', minLength: 1 },
        vendor: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
      },
    },
  },
};

function gitlabValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  return ajv.compile(GITLAB_SUBSET);
}

const GOLDEN_FILES: [string, ReportFormat, { color?: boolean }][] = [
  ['text.txt', 'text', { color: false }],
  ['text-color.txt', 'text', { color: true }],
  ['report.json', 'json', {}],
  ['report.sarif', 'sarif', {}],
  ['gitlab.json', 'gitlab', {}],
  ['github.txt', 'github', {}],
];

// The same report after --verify: only these files show the verification field.
const VERIFIED_GOLDEN_FILES: [string, ReportFormat, { color?: boolean }][] = [
  ['verified-text.txt', 'text', { color: false }],
  ['verified-text-color.txt', 'text', { color: true }],
  ['verified-report.json', 'json', {}],
  ['verified-report.sarif', 'sarif', {}],
  ['verified-gitlab.json', 'gitlab', {}],
  ['verified-github.txt', 'github', {}],
];

describe('golden files (UPDATE_GOLDEN=1 rewrites them)', () => {
  for (const [file, format, options, report] of [
    ...GOLDEN_FILES.map((g) => [...g, goldenReport] as const),
    ...VERIFIED_GOLDEN_FILES.map((g) => [...g, verifiedGoldenReport] as const),
  ]) {
    it(`${format}${options.color ? ' with colour' : ''} matches test/golden/${file}`, () => {
      const out = renderReport(report, format, { ...options, now: GOLDEN_NOW, width: 100 });
      const path = join(GOLDEN, file);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) writeFileSync(path, out);
      expect(out).toBe(readFileSync(path, 'utf8'));
    });
  }

  it('covers every format', () => {
    expect(new Set(GOLDEN_FILES.map(([, f]) => f))).toEqual(new Set(REPORT_FORMATS));
  });

  it('reporters are pure: same input, same output, input untouched', () => {
    const before = JSON.stringify(goldenReport);
    for (const format of REPORT_FORMATS) {
      expect(renderReport(goldenReport, format, { now: GOLDEN_NOW })).toBe(renderReport(goldenReport, format, { now: GOLDEN_NOW }));
    }
    expect(JSON.stringify(goldenReport)).toBe(before);
  });
});

describe('SARIF 2.1.0', () => {
  const validate = sarifValidator();
  let scanned: ScanReport;
  const secrets = makeSecrets((Date.now() % 100000) + 31);
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratascan-formats-'));
    const path = join(dir, 'leaky.tar');
    writeFileSync(path, (await buildImage(leakySpec(secrets).spec, { layout: 'docker-legacy', reference: 'example.com/leaky:1' }))!);
    scanned = await scanImage(path, { jobs: 1 });
    return () => rmSync(dir, { recursive: true, force: true });
  });

  it('the golden report validates against the official schema', () => {
    const sarif = JSON.parse(renderReport(goldenReport, 'sarif'));
    expect(validate(sarif), JSON.stringify(validate.errors, null, 1)).toBe(true);
  });

  it('a verified report validates; a live key is an error whatever its severity, and carries its status', () => {
    const live = structuredClone(verifiedGoldenReport);
    const id = live.findings.find((f) => f.ruleId === 'aws-access-key-id')!;
    id.verification = { status: 'valid', detail: 'AWS STS accepted the key pair' };
    const sarif = JSON.parse(renderReport(live, 'sarif'));
    expect(validate(sarif), JSON.stringify(validate.errors, null, 1)).toBe(true);
    const results = sarif.runs[0].results as { ruleId: string; level: string; properties: { verification?: { status: string } } }[];
    const medium = results.find((r) => r.ruleId === 'aws-access-key-id')!;
    expect(medium.level).toBe('error');
    expect(medium.properties.verification?.status).toBe('valid');
    expect(JSON.parse(renderReport(goldenReport, 'sarif')).runs[0].results.find((r: { ruleId: string }) => r.ruleId === 'aws-access-key-id').level).toBe('warning');
    expect(results.every((r) => r.properties.verification !== undefined)).toBe(true);
    // The same live medium finding is an error annotation on GitHub and Critical on GitLab.
    const github = renderReport(live, 'github').split('\n').find((l) => l.includes('title=AWS access key ID'))!;
    expect(github.startsWith('::error ')).toBe(true);
    expect(github).toContain('LIVE: the provider still accepts this secret');
    const gitlab = JSON.parse(renderReport(live, 'gitlab', { now: GOLDEN_NOW })).vulnerabilities.find((x: { name: string }) => x.name === 'AWS access key ID');
    expect(gitlab.severity).toBe('Critical');
  });

  it('a scanned image with file, env, label, history and deleted findings validates', () => {
    const sources = new Set(scanned.findings.map((f) => f.source));
    expect([...sources].sort()).toEqual(expect.arrayContaining(['env', 'file', 'history', 'label'].filter((s) => sources.has(s as never))));
    expect(sources.has('file') && sources.has('env') && sources.has('label')).toBe(true);
    expect(scanned.findings.some((f) => !f.inFinalImage)).toBe(true);
    const sarif = JSON.parse(renderReport(scanned, 'sarif'));
    expect(validate(sarif), JSON.stringify(validate.errors, null, 1)).toBe(true);
  });

  it('history findings validate too', () => {
    const history = goldenReport.findings.filter((f) => f.source === 'history');
    expect(history).toHaveLength(1);
    expect(validate(JSON.parse(renderReport({ ...goldenReport, findings: history }, 'sarif')))).toBe(true);
  });

  it('one rule per detector with help and remediation; each result names its layer and a stable fingerprint', () => {
    const sarif = JSON.parse(renderReport(scanned, 'sarif'));
    const run = sarif.runs[0];
    const ruleIds = run.tool.driver.rules.map((r: { id: string }) => r.id);
    expect(ruleIds).toEqual([...new Set(scanned.findings.map((f) => f.ruleId))].sort());
    for (const rule of run.tool.driver.rules) {
      expect(rule.help.text.length).toBeGreaterThan(40);
      expect(rule.help.markdown).toContain('Revoke');
      expect(Number(rule.properties['security-severity'])).toBeGreaterThan(0);
    }
    expect(run.results).toHaveLength(scanned.findings.length);
    run.results.forEach((r: any, i: number) => {
      const f = scanned.findings[i]!;
      expect(run.tool.driver.rules[r.ruleIndex].id).toBe(r.ruleId);
      expect(r.partialFingerprints[SARIF_FINGERPRINT_KEY]).toBe(fingerprintOf(f));
      const logical = r.locations[0].logicalLocations[0];
      if (f.layer) {
        expect(logical.name).toBe(`layer ${f.layer.index}`);
        expect(logical.fullyQualifiedName).toContain(f.layer.diffId);
        expect(r.message.text).toContain(`layer ${f.layer.index}`);
      } else {
        expect(logical.name).toBe('image config');
      }
      if (!f.inFinalImage) expect(r.message.text).toMatch(/deleted in layer \d+ but still recoverable/);
    });
  });

  it('never contains raw secrets, in any format, even when the report has them', async () => {
    const withSecrets = await scanImage(join(dir, 'leaky.tar'), { jobs: 1, showSecrets: true });
    for (const format of ['sarif', 'gitlab', 'github'] as const) {
      const out = renderReport(withSecrets, format, { now: GOLDEN_NOW });
      for (const [name, value] of Object.entries(secrets)) expect(out.includes(value), `${name} in ${format}`).toBe(false);
    }
    for (const format of REPORT_FORMATS) {
      const out = renderReport(scanned, format, { now: GOLDEN_NOW });
      for (const [name, value] of Object.entries(secrets)) expect(out.includes(value), `${name} in ${format}`).toBe(false);
    }
  });

  it('GitLab: the scanned report keeps to the secret detection schema', () => {
    const validateGitlab = gitlabValidator();
    const out = JSON.parse(renderReport(scanned, 'gitlab', { now: GOLDEN_NOW }));
    expect(validateGitlab(out), JSON.stringify(validateGitlab.errors, null, 1)).toBe(true);
    expect(out.vulnerabilities).toHaveLength(scanned.findings.length);
    const ids = out.vulnerabilities.map((v: { id: string }) => v.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const v of out.vulnerabilities) expect(v.details.layer.value).toMatch(/^\d+|^image config$/);
  });
});

describe('GitLab secret detection report', () => {
  it(`validates against the encoded v${GITLAB_SCHEMA_VERSION} schema, with times from options.now`, () => {
    const validate = gitlabValidator();
    const out = JSON.parse(renderReport(goldenReport, 'gitlab', { now: GOLDEN_NOW }));
    expect(validate(out), JSON.stringify(validate.errors, null, 1)).toBe(true);
    expect(out.version).toBe(GITLAB_SCHEMA_VERSION);
    expect(out.scan.end_time).toBe('2024-01-02T03:04:05');
    expect(out.scan.start_time).toBe('2024-01-02T03:04:03');
    expect(out.vulnerabilities.map((v: { severity: string }) => v.severity)).toEqual(['Critical', 'Critical', 'High', 'Critical', 'Critical', 'Medium']);
    const verified = JSON.parse(renderReport(verifiedGoldenReport, 'gitlab', { now: GOLDEN_NOW }));
    expect(validate(verified), JSON.stringify(validate.errors, null, 1)).toBe(true);
    expect(verified.vulnerabilities[1].details.verification.value).toMatch(/^valid: /);
    expect(verified.vulnerabilities[1].solution).toMatch(/^LIVE: this Clarifai key still works/);
  });

  it('the subset schema rejects what GitLab rejects', () => {
    const validate = gitlabValidator();
    const good = JSON.parse(renderReport(goldenReport, 'gitlab', { now: GOLDEN_NOW }));
    const bad = (mutate: (r: any) => void) => {
      const copy = structuredClone(good);
      mutate(copy);
      return validate(copy);
    };
    expect(bad((r) => { r.scan.end_time = '2024-01-02T03:04:05.000Z'; })).toBe(false);
    expect(bad((r) => { r.vulnerabilities[0].severity = 'critical'; })).toBe(false);
    expect(bad((r) => { delete r.vulnerabilities[0].location.commit; })).toBe(false);
    expect(bad((r) => { r.vulnerabilities[0].identifiers = []; })).toBe(false);
  });
});

describe('GitHub workflow annotations', () => {
  it('escapes data and properties per GitHub\'s rules', () => {
    expect(escapeData('50% done\r\nnext')).toBe('50%25 done%0D%0Anext');
    expect(escapeProperty('a:b,c%\n')).toBe('a%3Ab%2Cc%25%0A');
  });

  it('one command per finding; image strings cannot start another command', () => {
    const hostile = structuredClone(goldenReport);
    hostile.findings[5]!.path = '/srv/x\n::error file=evil::pwned,y';
    hostile.findings[0]!.key = 'K\r\n::warning::injected';
    const lines = renderReport(hostile, 'github').trimEnd().split('\n');
    expect(lines).toHaveLength(hostile.findings.length + 1);
    for (const line of lines) expect(line).toMatch(/^::(error|warning|notice) [^:]*::/);
    // The hostile text survives only inside escaped properties or the message after the command's own "::".
    for (const line of lines) expect(line.slice(2).split('::')[0]).not.toMatch(/[\r\n]|,(?!line=|col=|title=)[a-z]+=/);
    expect(lines[5]).toMatch(/^::warning file=srv\/x\\n%3A%3Aerror file=evil%3A%3Apwned%2Cy,line=7,col=10,title=/);
  });
});

describe('text report', () => {
  it('has no escape codes without colour and colours severities with it', () => {
    expect(renderReport(goldenReport, 'text', { color: false })).not.toMatch(/\x1b\[/);
    const coloured = renderReport(goldenReport, 'text', { color: true });
    expect(coloured).toContain('\x1b[1;31mCRITICAL');
  });

  it('summarises by severity and counts deleted-but-recoverable and base findings', () => {
    const out = renderReport(goldenReport, 'text');
    expect(out).toContain('6 secrets found (4 critical, 1 high, 1 medium); 1 deleted in a later layer but still recoverable from the image; 1 from base image layers.');
    expect(out).toContain('Layer 0 (base image)');
  });

  it('gives each finding revoke/rotate steps, the provider URL and wrapped advice', () => {
    const out = renderReport(goldenReport, 'text', { width: 80 });
    expect(out).toContain('revoke at https://clarifai.com/settings/security');
    expect(out).toMatch(/Settings > Security, API keys/);
    expect(out).toMatch(/Deleting a file in a later layer does not remove it/);
    for (const line of out.split('\n')) if (/^ {11}(fix:| {5})/.test(line) && !line.includes('revoke at')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('wrap keeps words whole', () => {
    expect(wrap('aa bb cc dd', 8, '  ', '> ')).toEqual(['> aa bb', '  cc dd']);
    expect(wrap('averyveryverylongword x', 8, '  ')).toEqual(['  averyveryverylongword', '  x']);
  });
});
