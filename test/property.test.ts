import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { secretHash } from '../src/attribute.js';
import { main } from '../src/cli.js';
import type { ScanReport } from '../src/types.js';
import { image, sha256, tarBytes, type ImageOptions } from './support/hostile-corpus.js';
import { makeSecrets } from './support/leaky-spec.js';

/**
 * Issue 7, property-based: valid images mutated byte by byte (flip, insert, delete, overwrite,
 * truncate) in the outer tar, in a layer (gzip or plain tar) and in the manifest or config JSON,
 * with digests recomputed or not. Whatever comes out, the scanner ends within its bound with
 * 0, 1 or 2, says at most one clean line on stderr, and reports no secret that is not in its
 * input. Fixed seed and bounded runs: the whole file takes well under a minute.
 */

const SEED = 7_007;
const IN_PROCESS_RUNS = 160;
const CHILD_RUNS = 10;
const CASE_BOUND_MS = 10_000;

const dir = mkdtempSync(join(tmpdir(), 'stratascan-property-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const s = makeSecrets(SEED);
const planted = new Set(Object.values(s).map(secretHash));

// Small on purpose: every case builds, mutates and scans a whole image.
const layers = [
  tarBytes([
    { name: 'etc/', type: '5', mode: 0o755 },
    { name: 'etc/os-release', data: 'ID=property\n' },
    { name: 'srv/app/config.yml', data: `app:\n  github_token: ${s.ghConfig}\n` },
  ]),
  tarBytes([
    { name: 'root/.ssh/id_rsa', data: `${s.rsa}\n` },
    { name: 'srv/app/.wh.config.yml' },
  ]),
];
const options: ImageOptions = {
  createdBy: ['ADD rootfs', `|1 GH_PAT=${s.ghArg} /bin/sh -c echo done`],
  env: ['PATH=/bin', `GH_OAUTH=${s.ghEnv}`],
  labels: { 'com.example.clarifai-key': s.clarifaiLabel },
};

type Op =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array }
  | { kind: 'truncate'; at: number };

/** Positions are fractions of the buffer, so one generated case fits any target. */
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 600 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
);

function mutate(input: Buffer, ops: Op[]): Buffer {
  let b = Buffer.from(input);
  for (const op of ops) {
    const at = Math.min(b.length, Math.floor(op.at * b.length));
    switch (op.kind) {
      case 'flip':
        if (at < b.length) b[at] = b[at]! ^ op.mask;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(op.bytes), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + op.length)]);
        break;
      case 'overwrite':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(op.bytes), b.subarray(at + op.bytes.length)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      default: {
        const never: never = op;
        throw new Error(`unknown op ${JSON.stringify(never)}`);
      }
    }
  }
  return b;
}

/**
 * What gets mutated. "Rehashed" targets are changed before digests and diff_ids are computed, so
 * the damage reaches the decompressor, the tar walker or the JSON reader instead of stopping at a
 * digest check; the others are changed in the finished tarball, as a bad disk or download would.
 */
const TARGETS = [
  'outer tar',
  'outer tar headers',
  'layer tar (rehashed)',
  'layer file data (rehashed)',
  'gzip layer (rehashed)',
  'config JSON (rehashed)',
  'config strings (rehashed)',
  'manifest JSON (rehashed)',
] as const;
type Target = (typeof TARGETS)[number];
const LAYOUTS = ['docker-legacy', 'oci-archive'] as const;

interface Case {
  layout: (typeof LAYOUTS)[number];
  target: Target;
  layer: number;
  ops: Op[];
  stdin: boolean;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  layout: fc.constantFrom(...LAYOUTS),
  target: fc.constantFrom(...TARGETS),
  layer: fc.integer({ min: 0, max: layers.length - 1 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 3 }),
  stdin: fc.boolean(),
});

function build(c: Case): Buffer {
  const layout = c.layout;
  const o: ImageOptions = { ...options, layout, compression: 'gzip' };
  switch (c.target) {
    case 'outer tar':
      return mutate(image(layers, o).tar, c.ops);
    case 'outer tar headers': {
      // Only header blocks: names, sizes, types and checksums, never member data.
      const tar = image(layers, o).tar;
      const copy = Buffer.from(tar);
      for (const op of c.ops) {
        const header = headerOffsets(tar);
        const at = header[Math.floor(op.at * header.length) % header.length]! + Math.floor(op.at * 997) % 512;
        if (op.kind === 'flip') copy[at] = copy[at]! ^ op.mask;
        else if (op.kind === 'overwrite') Buffer.from(op.bytes).copy(copy, at, 0, Math.min(op.bytes.length, 512 - (at % 512)));
        else return mutate(copy, [{ ...op, at: at / copy.length }]);
      }
      return copy;
    }
    case 'layer tar (rehashed)':
      return image(layers.map((l, i) => (i === c.layer ? mutate(l, c.ops) : l)), layout === 'docker-legacy' ? o : { ...o, compression: 'none' }).tar;
    case 'layer file data (rehashed)': {
      // The tar stays well formed: these reach detection and attribution, not the parsers.
      const mutated = layers.map((l, i) => (i === c.layer ? mutateWithin(l, dataRanges(l), c.ops, false) : l));
      return image(mutated, layout === 'docker-legacy' ? o : { ...o, compression: 'none' }).tar;
    }
    case 'config strings (rehashed)':
      // Printable bytes inside string literals only: the JSON still parses, the values change.
      return image(layers, { ...o, configBytes: (b) => mutateWithin(b, stringRanges(b), c.ops, true) }).tar;
    case 'gzip layer (rehashed)':
      return image(layers, { ...o, layout: 'oci-archive', blob: (i, b) => (i === c.layer ? mutate(b, c.ops) : b) }).tar;
    case 'config JSON (rehashed)':
      return image(layers, { ...o, configBytes: (b) => mutate(b, c.ops) }).tar;
    case 'manifest JSON (rehashed)':
      return image(layers, {
        ...o,
        members: (m) => {
          if (layout === 'docker-legacy') {
            m.set('manifest.json', mutate(m.get('manifest.json')!, c.ops));
            return;
          }
          const index = JSON.parse(m.get('index.json')!.toString());
          const name = `blobs/sha256/${index.manifests[0].digest.slice(7)}`;
          const bytes = mutate(m.get(name)!, c.ops);
          m.delete(name);
          m.set(`blobs/sha256/${sha256(bytes).slice(7)}`, bytes);
          index.manifests[0].digest = sha256(bytes);
          m.set('index.json', Buffer.from(JSON.stringify(index)));
        },
      }).tar;
    default: {
      const never: never = c.target;
      throw new Error(`unknown target ${String(never)}`);
    }
  }
}

/** Changes bytes in place, only inside `ranges`; `printable` keeps them printable ASCII but `"` and `\`. */
function mutateWithin(input: Buffer, ranges: [number, number][], ops: Op[], printable: boolean): Buffer {
  const total = ranges.reduce((n, [a, b]) => n + b - a, 0);
  if (total === 0) return input;
  const copy = Buffer.from(input);
  const position = (fraction: number) => {
    let k = Math.min(total - 1, Math.floor(fraction * total));
    for (const [a, b] of ranges) {
      if (k < b - a) return a + k;
      k -= b - a;
    }
    return ranges[0]![0];
  };
  const fix = (byte: number) => {
    if (!printable) return byte;
    const c = 0x20 + (byte % 95);
    return c === 0x22 || c === 0x5c ? 0x78 : c;
  };
  for (const op of ops) {
    const at = position(op.at);
    if (op.kind === 'flip') copy[at] = fix(copy[at]! ^ op.mask);
    else if (op.kind === 'insert' || op.kind === 'overwrite') copy[at] = fix(op.bytes[0]!);
    else copy[at] = fix(copy[at]! ^ 0x20);
  }
  return copy;
}

/** Member data of a tar (what files hold), between the headers. */
function dataRanges(tar: Buffer): [number, number][] {
  return headerOffsets(tar).map((h) => {
    const size = parseInt(tar.toString('latin1', h + 124, h + 136).replace(/\0.*$/s, '').trim() || '0', 8);
    return [h + 512, h + 512 + size] as [number, number];
  }).filter(([a, b]) => b > a);
}

/** The contents of JSON string literals (between the quotes, escapes left alone). */
function stringRanges(json: Buffer): [number, number][] {
  const out: [number, number][] = [];
  let start = -1;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (start === -1) {
      if (c === 0x22) start = i + 1;
    } else if (c === 0x5c) {
      if (i > start) out.push([start, i]);
      i++;
      start = i + 1;
    } else if (c === 0x22) {
      if (i > start) out.push([start, i]);
      start = -1;
    }
  }
  return out;
}

/** Offsets of the header blocks of a well-formed tar (walks sizes; stops at the end marker). */
function headerOffsets(tar: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + 512 <= tar.length;) {
    const block = tar.subarray(at, at + 512);
    if (block.every((x) => x === 0)) break;
    out.push(at);
    const size = parseInt(block.toString('latin1', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/**
 * Where a reported value may legitimately come from: a planted secret, or bytes of this very input
 * (a mutation inside a planted value can make another value of the same shape, e.g. in a config
 * that no digest covers). Gzip members are searched inflated. Values are compared, never printed.
 */
function inInput(value: string, input: Buffer): boolean {
  const forms = [Buffer.from(value, 'utf8'), Buffer.from(JSON.stringify(value).slice(1, -1), 'utf8')];
  const haystacks = [input];
  for (let at = input.indexOf(Buffer.from([0x1f, 0x8b])); at !== -1; at = input.indexOf(Buffer.from([0x1f, 0x8b]), at + 1)) {
    try {
      haystacks.push(gunzipSync(input.subarray(at), { finishFlush: 2 /* Z_SYNC_FLUSH: keep what inflates */ }));
    } catch {
      // Not a gzip member, or one cut short: nothing more to search there.
    }
  }
  return haystacks.some((h) => forms.some((f) => h.includes(f)));
}

class Sink extends PassThrough {
  text(): string {
    return (this.read() as Buffer | null)?.toString('utf8') ?? '';
  }
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The CLI's main() in this process: cheap enough for many runs; a crash past it fails the run. */
async function runInProcess(bytes: Buffer, stdin: boolean, cacheDir: string): Promise<Outcome> {
  const path = join(dir, 'case.tar');
  if (!stdin) writeFileSync(path, bytes);
  const stdout = new Sink();
  const stderr = new Sink();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    main(['scan', stdin ? '-' : path, '--format', 'json', '--show-secrets', '--jobs', '0', '--cache-dir', cacheDir, '--no-config', '--quiet'], {
      stdout,
      stderr,
      stdin: Readable.from([bytes]),
      env: { NO_COLOR: '1' },
      cwd: dir,
    }),
    new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), CASE_BOUND_MS);
    }),
  ]);
  clearTimeout(timer);
  return { code, stdout: stdout.text(), stderr: stderr.text(), ms: performance.now() - started };
}

function runChild(bytes: Buffer, stdin: boolean, cacheDir: string): Promise<Outcome> {
  const path = join(dir, 'child.tar');
  if (!stdin) writeFileSync(path, bytes);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'bin.js'), 'scan', stdin ? '-' : path, '--format', 'json', '--show-secrets', '--cache-dir', cacheDir, '--no-config'], {
      env: { ...process.env, NO_COLOR: '1' },
      cwd: dir,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), CASE_BOUND_MS);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: performance.now() - started });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(stdin ? bytes : '');
  });
}

const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The properties every outcome must have; returns a reason when one does not hold. */
function violation(r: Outcome, input: Buffer): string | null {
  if (r.code === null) return `no exit within ${CASE_BOUND_MS} ms`;
  if (![0, 1, 2].includes(r.code)) return `exit ${r.code}`;
  if (/\n\s+at |internal error|Cannot read propert|is not a function|is not iterable/.test(r.stderr)) return `a JavaScript failure on stderr: ${r.stderr.slice(0, 300)}`;
  if (r.code === 2) {
    const lines = r.stderr.trimEnd().split('\n');
    if (lines.length !== 1 || !lines[0]!.startsWith('stratascan: error: ')) return `exit 2 without one error line: ${JSON.stringify(r.stderr.slice(0, 300))}`;
    if (CONTROL.test(lines[0]!)) return `control characters in the error line: ${JSON.stringify(lines[0])}`;
    if (r.stdout !== '') return 'exit 2 with a report';
    return null;
  }
  if (r.stderr !== '') return `stderr on exit ${r.code}: ${r.stderr.slice(0, 300)}`;
  let report: ScanReport;
  try {
    report = JSON.parse(r.stdout) as ScanReport;
  } catch {
    return 'the JSON report does not parse';
  }
  if ((report.findings.length > 0 ? 1 : 0) !== r.code) return `exit ${r.code} with ${report.findings.length} findings`;
  for (const f of report.findings) {
    if (planted.has(f.secretHash)) continue;
    if (f.secret === undefined || secretHash(f.secret) !== f.secretHash) return `finding ${f.ruleId} ${f.secretHash}: hash does not match its value`;
    if (!inInput(f.secret, input)) return `finding ${f.ruleId} ${f.secretHash} at ${f.path ?? f.key} is in neither the planted set nor the input`;
  }
  return null;
}

const stats = new Map<string, number>();
const tally = (key: string) => stats.set(key, (stats.get(key) ?? 0) + 1);

describe('the oracle', () => {
  // A property that cannot fail proves nothing: the checks must reject what they are there to catch.
  it('rejects a finding that is neither planted nor in the input, and accepts one that is in it', () => {
    const input = image(layers, { ...options, layout: 'docker-legacy' }).tar;
    const invented = `ghp_${'Z'.repeat(36)}`;
    const finding = (secret: string) => ({ ruleId: 'github-token', secretHash: secretHash(secret), secret, path: '/x', key: null });
    const outcome = (secret: string): Outcome => ({ code: 1, stderr: '', ms: 1, stdout: JSON.stringify({ findings: [finding(secret)] }) });
    expect(violation(outcome(invented), input)).toMatch(/neither the planted set nor the input/);
    expect(violation(outcome(s.ghEnv), input)).toBeNull();
    const mutated = Buffer.from(input.toString('latin1').replace(s.ghEnv, s.ghEnv.slice(0, -1) + 'Q'), 'latin1');
    expect(violation(outcome(s.ghEnv.slice(0, -1) + 'Q'), mutated)).toBeNull();
    expect(violation({ code: 2, stdout: '', stderr: 'stratascan: error: a\nb\n', ms: 1 }, input)).toMatch(/one error line/);
    expect(violation({ code: 2, stdout: '', stderr: 'stratascan: error: \x1b[2J\n', ms: 1 }, input)).toMatch(/control characters/);
    expect(violation({ code: 2, stdout: '', stderr: 'TypeError: x\n    at foo (a.js:1:1)\n', ms: 1 }, input)).toMatch(/JavaScript failure/);
    expect(violation({ code: null, stdout: '', stderr: '', ms: 1 }, input)).toMatch(/no exit/);
  });
});

describe('mutated images: terminate, exit 0/1/2, one clean line, never a secret that is not there', () => {
  it('the unmutated images scan clean and find every planted secret', async () => {
    const cacheDir = join(dir, 'cache-baseline');
    for (const layout of LAYOUTS) {
      const bytes = image(layers, { ...options, layout }).tar;
      for (const stdin of [false, true]) {
        const r = await runInProcess(bytes, stdin, cacheDir);
        expect(r.code, r.stderr).toBe(1);
        const report = JSON.parse(r.stdout) as ScanReport;
        const found = new Set(report.findings.map((f) => f.secretHash));
        for (const name of ['ghConfig', 'rsa', 'ghEnv', 'clarifaiLabel', 'ghArg'] as const) expect(found.has(secretHash(s[name])), name).toBe(true);
      }
    }
  });

  it(`in process: ${IN_PROCESS_RUNS} mutated images (seed ${SEED})`, async () => {
    const cacheDir = join(dir, 'cache-in-process');
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const bytes = build(c);
        const r = await runInProcess(bytes, c.stdin, cacheDir);
        tally(`${c.target}: exit ${r.code}`);
        const why = violation(r, bytes);
        if (why) throw new Error(`${c.layout}, ${c.target}${c.stdin ? ', stdin' : ''}: ${why}`);
      }),
      { seed: SEED, numRuns: IN_PROCESS_RUNS, endOnFailure: true },
    );
  }, 120_000);

  it(`as a process: ${CHILD_RUNS} mutated images (seed ${SEED + 1})`, async () => {
    const cacheDir = join(dir, 'cache-child');
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const bytes = build(c);
        const r = await runChild(bytes, c.stdin, cacheDir);
        tally(`child ${c.target}: exit ${r.code}`);
        const why = violation(r, bytes);
        if (why) throw new Error(`${c.layout}, ${c.target}${c.stdin ? ', stdin' : ''}: ${why}`);
      }),
      { seed: SEED + 1, numRuns: CHILD_RUNS, endOnFailure: true },
    );
  }, 120_000);

  afterAll(() => {
    if (process.env.PROPERTY_STATS) writeFileSync(process.env.PROPERTY_STATS, [...stats].sort().map(([k, v]) => `${k}: ${v}`).join('\n') + '\n');
  });
});

