import { afterAll, describe, expect, it } from 'vitest';
import pLimit from 'p-limit';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { secretHash } from '../src/attribute.js';
import type { ScanReport } from '../src/types.js';
import { expectOneLineError } from './support/cli-run.js';
import { buildCorpus, evilImage, EVIL, type HostileCase } from './support/hostile-corpus.js';

/**
 * Issue 7: broken and hostile images never crash, hang, leak or lie. Each case runs the built CLI
 * in a child process with a wall-clock bound (and, where the case is about memory, a peak-RSS
 * bound), then checks the exit code, the one-line error, or the report.
 */

const WRAPPER = join(__dirname, 'support', 'rss-wrapper.mjs');
const dir = mkdtempSync(join(tmpdir(), 'stratascan-hostile-'));
const cacheDir = join(dir, 'cache');
const { cases, secrets } = await buildCorpus(dir);
const planted = new Map(Object.entries(secrets).map(([name, value]) => [secretHash(value), name]));
const table: string[] = [];

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (process.env.HOSTILE_TABLE) writeFileSync(process.env.HOSTILE_TABLE, `${table.sort().join('\n')}\n`);
});

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  rssMiB: number;
  timedOut: boolean;
}

/** The CLI in a child process, killed when it outlives `timeoutMs` (a hang is a failure, not a stuck suite). */
function runCli(args: string[], input: Buffer | Readable | undefined, timeoutMs: number): Promise<Outcome> {
  const rssFile = join(dir, `rss-${process.hrtime.bigint()}`);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRAPPER, ...args], {
      env: { ...process.env, NO_COLOR: '1', STRATASCAN_RSS_FILE: rssFile },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let rss = 0;
      try {
        rss = Number(readFileSync(rssFile, 'utf8')) / 1024;
      } catch {
        // Killed before it could say.
      }
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: performance.now() - started, rssMiB: rss, timedOut });
    });
    // The scanner may stop reading early (an error halfway): that is not the test's failure.
    child.stdin.on('error', () => {});
    if (input instanceof Readable) {
      input.on('error', () => {});
      input.pipe(child.stdin);
    } else child.stdin.end(input ?? '');
  });
}

/** Terminal controls (C0 but tab, DEL, C1), line/paragraph separators and bidi overrides. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function expectOneCleanLine(r: Outcome, pattern: RegExp): void {
  expectOneLineError(r, pattern);
  expect(r.stderr.trimEnd(), 'the error line holds no control characters').not.toMatch(CONTROL);
  // A JavaScript error's own words mean the input reached code that did not expect it.
  expect(r.stderr).not.toMatch(/internal error|Cannot read propert|is not a function|is not iterable|of (null|undefined)|Invalid array length|Maximum call stack/);
}

function input(c: HostileCase): { target: string; stdin: Buffer | Readable | undefined } {
  if ('path' in c.input) return { target: c.input.path, stdin: undefined };
  const s = c.input.stdin;
  return { target: '-', stdin: typeof s === 'function' ? s() : s };
}

// Two scans at a time: the suite's wall time halves, and a bound still measures one run (the
// clock starts when the child does), with room for a loaded machine.
const slots = pLimit(2);

describe.concurrent('broken-image corpus: exit code, one clean line or an honest report, within bounds', () => {
  for (const c of cases) {
    it(`${c.name} → exit ${c.code}`, async () => {
      const { target, stdin } = input(c);
      const r = await slots(() => runCli(['scan', target, '--format', 'json', '--cache-dir', cacheDir, ...(c.args ?? [])], stdin, c.timeoutMs));
      table.push(`| ${c.name} | ${c.about} | ${c.code} | ${r.code} | ${Math.round(r.ms)} ms | ${Math.round(r.rssMiB)} MiB | ${c.code === 2 ? r.stderr.trim().replace(/\|/g, '\\|').slice(0, 160) : ''} |`);
      expect(r.timedOut, `still running after ${c.timeoutMs} ms`).toBe(false);
      expect(r.ms).toBeLessThan(c.timeoutMs);
      if (c.maxRssMiB) expect(r.rssMiB, 'peak RSS').toBeLessThan(c.maxRssMiB);
      if (c.code === 2) {
        expectOneCleanLine(r, c.error ?? /./);
        return;
      }
      expect(r.stderr).toBe('');
      expect(r.code, r.stderr).toBe(c.code);
      const report = JSON.parse(r.stdout) as ScanReport;
      // Never lie: every finding is a planted secret, and the expected ones are all there.
      for (const f of report.findings) expect(planted.has(f.secretHash), `${f.ruleId} at ${f.path ?? f.key} is not a planted secret`).toBe(true);
      if (c.secrets) expect(report.findings.map((f) => planted.get(f.secretHash)).sort()).toEqual([...c.secrets].sort());
      if (c.skipped) expect(report.stats.skipped).toMatchObject(c.skipped);
      if (c.paths) {
        const seen = report.findings.flatMap((f) => [f.path, ...f.alsoIn.map((o) => o.path)]);
        for (const p of c.paths) expect(seen).toContain(p);
      }
    }, 300_000);
  }
});

describe('strings from the image cannot drive a terminal or forge CI output', () => {
  const legacy = join(dir, 'evil-legacy.tar');
  const oci = join(dir, 'evil-oci.tar');
  writeFileSync(legacy, evilImage(secrets, 'docker-legacy').tar);
  writeFileSync(oci, evilImage(secrets, 'oci-archive').tar);
  const scan = (target: string, ...args: string[]) => runCli(['scan', target, '--cache-dir', cacheDir, ...args], undefined, 15_000);

  it('text: control characters escaped in paths, created_by, keys, labels, platform and reference', async () => {
    for (const target of [legacy, oci]) {
      for (const extra of [[], ['--show-secrets'], ['--color']]) {
        const r = await scan(target, ...extra);
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toBe('');
        // With --color the report's own SGR codes are the only escapes allowed.
        const text = extra[0] === '--color' ? r.stdout.replace(/\x1b\[[0-9;]*m/g, '') : r.stdout;
        for (const line of text.split('\n')) expect(line, JSON.stringify(line)).not.toMatch(CONTROL);
        expect(text).toContain('\\x1b[31m');
        expect(text).not.toMatch(/^::/m);
      }
    }
  });

  it('github: one annotation per line, nothing forged', async () => {
    const r = await scan(legacy, '--format', 'github');
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      expect(line).toMatch(/^::(error|warning|notice) /);
      expect(line, JSON.stringify(line)).not.toMatch(CONTROL);
    }
    // Workflow commands only start at the beginning of a line: mid-line text is data.
    expect(r.stdout).not.toMatch(/^::error::forged/m);
    for (const line of lines) expect(line).toMatch(/^::(error|warning|notice) [^:]*::/);
  });

  it('json, sarif and gitlab stay valid JSON and keep the strings as data', async () => {
    for (const format of ['json', 'sarif', 'gitlab']) {
      const r = await scan(legacy, '--format', format);
      expect(r.code, r.stderr).toBe(1);
      const parsed = JSON.parse(r.stdout);
      expect(parsed).toBeTruthy();
    }
    const json = await scan(legacy, '--format', 'json');
    expect(json.code, json.stderr).toBe(1);
    const report = JSON.parse(json.stdout) as ScanReport;
    expect(report.image.platform).toContain(EVIL);
    expect(report.findings.map((f) => f.key ?? f.path).join(' ')).toContain(EVIL);
  });

  it('error lines that quote the image escape it too', async () => {
    const wrongPlatform = await scan(oci, '--platform', 'linux/arm64');
    expectOneCleanLine(wrongPlatform, /has no image for platform linux\/arm64; it has linux/);
    const wrongImage = await scan(legacy, '--image', 'other:1');
    expectOneCleanLine(wrongImage, /has no image other:1; it has evil/);
  });
});

describe('a stream that goes on after the image', () => {
  it('stops reading endless zeros after the end-of-archive marker and reports the image', async () => {
    const { buildImage } = await import('../fixtures/builder.mjs');
    const { scanImage } = await import('../src/scan.js');
    const { Readable } = await import('node:stream');
    const image = (await buildImage({ steps: [{ createdBy: 'ADD x', files: [{ path: '/x', content: 'x\n' }] }] }, { layout: 'docker-legacy' }))!;
    let zeroBytes = 0;
    const zeros = Buffer.alloc(64 * 1024);
    async function* endless(): AsyncGenerator<Buffer> {
      yield image;
      // Bounded only so a regression fails instead of hanging: 4 GiB is far past the 1 MiB limit.
      while (zeroBytes < 4 * 1024 ** 3) {
        zeroBytes += zeros.length;
        yield zeros;
      }
    }
    const report = await scanImage('-', { stdin: Readable.from(endless()), jobs: 0, cache: false });
    expect(report.stats.layers).toBe(1);
    expect(zeroBytes).toBeLessThan(16 * 1024 * 1024);
  }, 30_000);
});
