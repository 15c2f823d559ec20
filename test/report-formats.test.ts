import { describe, expect, it, beforeAll } from 'vitest';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import MarkdownIt from 'markdown-it';
import { buildImage } from '../fixtures/builder.mjs';
import { renderReport, REPORT_FORMATS, type ReportFormat } from '../src/report/index.js';
import { escapeData, escapeProperty } from '../src/report/github.js';
import { GITLAB_SCHEMA_VERSION } from '../src/report/gitlab.js';
import { SARIF_FINGERPRINT_KEY } from '../src/report/sarif.js';
import { wrap } from '../src/report/common.js';
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
/** The parts of a SARIF result these tests read. */
interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  partialFingerprints: Record<string, string>;
  locations: { logicalLocations: { name: string; fullyQualifiedName: string }[] }[];
  message: { text: string };
}

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

/**
 * The golden report with the long tail a real application image has: the same rule again and
 * again in third-party files of one layer. The text and Markdown reports must explain each rule
 * once, not once per finding.
 */
const crowdedReport: ScanReport = (() => {
  const report = structuredClone(goldenReport);
  const template = report.findings.find((f) => f.ruleId === 'aws-access-key-id')!;
  for (let i = 0; i < 4; i++) {
    report.findings.push({
      ...structuredClone(template),
      path: `/srv/app/node_modules/sdk-${i}/docs/example.md`,
      line: 10 + i,
      secretHash: `sha256:${(0xa0 + i).toString(16).padStart(64, '0')}`,
      redacted: `AKIAFB${i}***********`,
    });
  }
  return report;
})();

const GOLDEN_FILES: [string, ReportFormat, { color?: boolean; compact?: boolean; crowded?: boolean }][] = [
  ['text.txt', 'text', { color: false }],
  ['text-color.txt', 'text', { color: true }],
  ['text-crowded.txt', 'text', { crowded: true }],
  ['text-compact.txt', 'text', { compact: true, crowded: true }],
  ['report.json', 'json', {}],
  ['report.sarif', 'sarif', {}],
  ['gitlab.json', 'gitlab', {}],
  ['github.txt', 'github', {}],
  ['report.md', 'markdown', {}],
  ['report-crowded.md', 'markdown', { crowded: true }],
  ['report.html', 'html', {}],
];

// The same report after --verify: only these files show the verification field.
const VERIFIED_GOLDEN_FILES: [string, ReportFormat, { color?: boolean; compact?: boolean; crowded?: boolean }][] = [
  ['verified-text.txt', 'text', { color: false }],
  ['verified-text-color.txt', 'text', { color: true }],
  ['verified-report.json', 'json', {}],
  ['verified-report.sarif', 'sarif', {}],
  ['verified-gitlab.json', 'gitlab', {}],
  ['verified-github.txt', 'github', {}],
  ['verified-report.md', 'markdown', {}],
];

describe('golden files (UPDATE_GOLDEN=1 rewrites them)', () => {
  for (const [file, format, { crowded, ...options }, report] of [
    ...GOLDEN_FILES.map((g) => [...g, g[2].crowded ? crowdedReport : goldenReport] as const),
    ...VERIFIED_GOLDEN_FILES.map((g) => [...g, verifiedGoldenReport] as const),
  ]) {
    it(`${format}${options.color ? ' with colour' : ''}${options.compact ? ' compact' : ''} matches test/golden/${file}`, () => {
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
    run.results.forEach((r: SarifResult, i: number) => {
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
    for (const format of ['sarif', 'gitlab', 'github', 'html'] as const) {
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
    const bad = (mutate: (r: typeof good) => void) => {
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
    // Wrapped to the width: compared with line breaks folded.
    const out = renderReport(goldenReport, 'text').replace(/\s+/g, ' ');
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

describe('text report for long lists', () => {
  it('writes each rule\'s fix once; later findings of the rule point to it', () => {
    const out = renderReport(crowdedReport, 'text', { width: 100 });
    const awsFix = crowdedReport.findings.find((f) => f.ruleId === 'aws-access-key-id')!.remediation.slice(0, 30);
    expect(out.split(awsFix).length - 1).toBe(1);
    expect(out.match(/as for the first AWS access key ID above/g)).toHaveLength(4);
  });

  it('ends with a table by layer: findings by severity and how many were deleted but are recoverable', () => {
    const out = renderReport(crowdedReport, 'text', { width: 100 });
    const table = out.slice(out.indexOf('Summary by layer'));
    const row = (layer: string) => table.split('\n').find((l) => l.trimStart().startsWith(`${layer} `))!.trim().split(/\s+/);
    // layer 1: one critical AWS secret, deleted in layer 2; layer 4: the medium key id and the four copies.
    expect(row('1').slice(0, 6)).toEqual(['1', '1', '0', '0', '0', '1']);
    expect(row('4').slice(0, 6)).toEqual(['4', '0', '0', '5', '0', '0']);
    expect(row('config').slice(0, 6)).toEqual(['config', '2', '0', '0', '0', '0']);
  });

  it('--compact prints one line per finding, within the width, coloured only on the severity', () => {
    for (const width of [60, 100]) {
      const out = renderReport(crowdedReport, 'text', { compact: true, width });
      const lines = out.split('\n').filter((l) => /^(CRITICAL|HIGH|MEDIUM|LOW) /.test(l));
      expect(lines).toHaveLength(crowdedReport.findings.length);
      for (const l of out.split('\n')) expect(l.length).toBeLessThanOrEqual(width);
      expect(out).not.toContain('fix:');
    }
    const coloured = renderReport(crowdedReport, 'text', { compact: true, color: true, width: 60 });
    const plain = renderReport(crowdedReport, 'text', { compact: true, width: 60 });
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(plain);
  });

  it('counts read as prose: one known example secret, not "1 known example secrets"', () => {
    const one = { ...goldenReport, stats: { ...goldenReport.stats, allowlisted: 1, files: 1, layers: 1 } };
    const out = renderReport(one, 'text').replace(/\s+/g, ' ');
    expect(out).toContain('1 layer, 1 file,');
    expect(out).toContain('1 known example secret ignored');
  });
});

describe('Markdown summary', () => {
  const md = new MarkdownIt({ html: true });

  it('renders with a CommonMark renderer: every finding\'s redacted value and revoke link, each fix once', () => {
    const html = md.render(renderReport(crowdedReport, 'markdown'));
    const text = html.replace(/<[^>]+>/g, '').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"');
    for (const f of crowdedReport.findings) expect(text).toContain(f.redacted);
    for (const url of new Set(crowdedReport.findings.map((f) => f.url).filter(Boolean))) expect(html).toContain(`href="${url}"`);
    expect(html.match(/<summary>How to fix: /g)).toHaveLength(new Set(crowdedReport.findings.map((f) => f.ruleId)).size);
    expect(html).toContain('<table>');
  });

  it('text from the image cannot add markup, links, images or table cells', () => {
    const hostile = structuredClone(goldenReport);
    hostile.findings[2]!.path = '/srv/<img src=x onerror=alert(1)>|[click](https://evil.example)/![i](https://evil.example/i.png)`x`';
    hostile.image.layers[3]!.createdBy = '/bin/sh -c echo "<script>alert(1)</script>" | **bold**';
    hostile.findings[4]!.layer!.createdBy = hostile.image.layers[3]!.createdBy;
    const html = md.render(renderReport(hostile, 'markdown'));
    expect(html).not.toMatch(/<img|<script|href="https:\/\/evil|<strong>bold/);
    const rows = html.split('<tr>').filter((r) => r.includes('<td>'));
    for (const row of rows) expect(row.split('<td').length - 1).toBeGreaterThanOrEqual(6);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('a clean image is one line of good news', () => {
    const out = renderReport({ ...goldenReport, findings: [] }, 'markdown');
    expect(out).toMatch(/^### ✅ stratascan: no secrets in /);
    expect(out).not.toContain('<table>');
  });
});
