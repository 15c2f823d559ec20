// The GitHub Action's own steps, run here as a runner would run them: the scan step's script with
// the inputs in its environment, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY as files. What cannot run
// here (setup-node, the SARIF upload) is checked for its settings only.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import MarkdownIt from 'markdown-it';
import { buildImage } from '../fixtures/builder.mjs';
import { leakySpec, makeSecrets } from './support/leaky-spec.js';

const ROOT = join(__dirname, '..');
interface Step { name: string; id?: string; uses?: string; run?: string; env?: Record<string, string>; with?: Record<string, string> }
const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
  inputs: Record<string, { default?: string }>;
  runs: { using: string; steps: Step[] };
};
const secrets = makeSecrets((Date.now() % 100000) + 17);
const { spec, expected } = leakySpec(secrets);
let dir: string;
let leaky: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-action-'));
  leaky = join(dir, 'app.tar');
  writeFileSync(leaky, (await buildImage(spec, { layout: 'docker-legacy', reference: 'app:ci' }))!);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The scan step's script with `${{ inputs.x }}` replaced as the runner would, then run by bash. */
function runScanStep(inputs: Record<string, string>) {
  const step = action.runs.steps.find((s) => s.id === 'scan')!;
  const value = (expr: string) => expr.replace(/\$\{\{\s*inputs\.([\w-]+)\s*\}\}/g, (_m, name: string) => inputs[name] ?? action.inputs[name]?.default ?? '');
  const env = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, value(v)]));
  const output = join(dir, `output-${Math.random().toString(36).slice(2)}`);
  const summary = join(dir, `summary-${Math.random().toString(36).slice(2)}.md`);
  writeFileSync(output, '');
  writeFileSync(summary, '');
  const r = spawnSync('bash', ['-e', '-c', step.run!], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...env, GITHUB_ACTION_PATH: ROOT, GITHUB_OUTPUT: output, GITHUB_STEP_SUMMARY: summary, NO_COLOR: '1' },
  });
  return { status: r.status, stderr: r.stderr, output: readFileSync(output, 'utf8'), summary: readFileSync(summary, 'utf8') };
}

describe('GitHub Action', () => {
  it('runs on Node 24 and uploads SARIF even when the gate fails', () => {
    const setup = action.runs.steps.find((s) => s.uses?.startsWith('actions/setup-node'))!;
    expect(setup.with?.['node-version']).toBe('24');
    const upload = action.runs.steps.find((s) => s.uses?.startsWith('github/codeql-action/upload-sarif'))!;
    expect(upload).toBeDefined();
    expect(String((upload as { if?: string }).if)).toContain('always()');
  });

  it('the scan step: SARIF written, the gate\'s exit code kept for later, a job summary appended, no raw secret', () => {
    const sarif = join(dir, 'out.sarif');
    const r = runScanStep({ image: leaky, 'sarif-file': sarif });
    expect(r.status, r.stderr).toBe(0);
    expect(r.output).toBe('exit-code=1\n');
    const parsed = JSON.parse(readFileSync(sarif, 'utf8'));
    expect(parsed.runs[0].results).toHaveLength(expected.length);
    const html = new MarkdownIt({ html: true }).render(r.summary);
    expect(html).toContain(`${expected.length} secrets in`);
    expect(html).toContain('<table>');
    for (const value of Object.values(secrets)) expect(r.summary + r.stderr + readFileSync(sarif, 'utf8')).not.toContain(value);
  });

  it('summary off writes nothing to the job summary; an unreadable image fails the step with exit 2', () => {
    const quiet = runScanStep({ image: leaky, 'sarif-file': join(dir, 'b.sarif'), summary: 'false' });
    expect(quiet.output).toBe('exit-code=1\n');
    expect(quiet.summary).toBe('');
    const missing = runScanStep({ image: join(dir, 'nope.tar'), 'sarif-file': join(dir, 'c.sarif') });
    expect(missing.status).toBe(2);
    expect(missing.output).toBe('exit-code=2\n');
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });
});
