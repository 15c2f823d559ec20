import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { buildImage } from '../fixtures/builder.mjs';
import { ScanAbortedError, scanImage } from '../src/scan.js';
import { decodeEntry } from '../src/cache/layer-cache.js';
import { BIN } from './support/cli-run.js';

/** How long a signalled scan may take to exit: generous for a loaded CI machine, far below a scan. */
const STOP_BOUND_MS = 3000;
const IMAGE_MB = 60;

let dir: string;
let big: string;
/** Measured stop times, printed once at the end so a slowdown shows in the log before it fails. */
const measured: string[] = [];

/**
 * Text that compresses well but keeps the detectors busy: every line has a keyword the prefilter
 * hands to the context rules, and no value any rule accepts (the scan finds nothing).
 */
function busyText(bytes: number, salt: number): string {
  const words = ['token', 'password', 'secret', 'api_key', 'auth', 'config', 'value', 'user', 'host', 'url'];
  let state = salt;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 1);
  const lines: string[] = [];
  let n = 0;
  while (n < bytes) {
    const line = `${words[next() % words.length]}_${next() % 1000} = "${(next() % 100000).toString(36)}-${words[next() % words.length]}" # ${n}\n`;
    lines.push(line);
    n += line.length;
  }
  return lines.join('');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-interrupt-'));
  const chunk = busyText(4 << 20, 7);
  const files = Array.from({ length: IMAGE_MB / 4 }, (_, i) => ({ path: `/data/part-${i}.txt`, content: `# part ${i}\n${chunk}` }));
  const spec = {
    steps: [
      { createdBy: 'ADD rootfs', files: [{ path: '/etc/hostname', content: 'box\n' }] },
      { createdBy: 'COPY data a', files: files.slice(0, files.length / 2) },
      { createdBy: 'COPY data b', files: files.slice(files.length / 2) },
    ],
  };
  big = join(dir, 'big.tar');
  // Uncompressed (docker save): quick to build, and the scan's time is all walking and detection.
  writeFileSync(big, (await buildImage(spec, { layout: 'docker-legacy' }))!);
});
afterAll(() => {
  if (measured.length > 0) console.log(`interrupt stop times: ${measured.join('; ')}`);
  rmSync(dir, { recursive: true, force: true });
});

interface Stopped {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stopMs: number;
}

/**
 * Starts the CLI, sends `signal` once `ready` says so (given stderr so far), and reports how long
 * the process took to exit after it.
 */
function interrupt(args: string[], signal: NodeJS.Signals, ready: (stderr: string, elapsedMs: number) => boolean, feed?: (child: ChildProcessWithoutNullStreams) => void): Promise<Stopped> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const started = Date.now();
    let sentAt = 0;
    const poll = setInterval(() => {
      if (sentAt === 0 && ready(Buffer.concat(err).toString('utf8'), Date.now() - started)) {
        sentAt = Date.now();
        child.kill(signal);
      }
    }, 10);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearInterval(poll);
      resolve({ code, signal: sig, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stopMs: sentAt === 0 ? -1 : Date.now() - sentAt });
    });
    child.stdin.on('error', () => {});
    if (feed) feed(child);
    else child.stdin.end();
  });
}

/** Ready `delayMs` after stderr first matches `pattern`. */
function afterFirst(pattern: RegExp, delayMs: number): (stderr: string) => boolean {
  let seenAt = 0;
  return (stderr) => {
    if (seenAt === 0 && pattern.test(stderr)) seenAt = Date.now();
    return seenAt !== 0 && Date.now() - seenAt >= delayMs;
  };
}

/** Every file under `root`, relative. */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(root, join(d, e.name)));
    }
  };
  walk(root);
  return out.sort();
}

/** No temp file anywhere in the cache, and every layer entry there is complete JSON. */
function expectCompleteCache(cacheDir: string): void {
  // A scan stopped before it finished a layer may not have made the directory at all.
  if (!existsSync(cacheDir)) return;
  const files = filesUnder(cacheDir);
  expect(files.filter((f) => f.endsWith('.tmp')), 'temp files left in the layer cache').toEqual([]);
  for (const f of files.filter((x) => x.startsWith('layers/'))) {
    expect(f, 'unexpected file in the layer cache').toMatch(/\.entry$/);
    const raw = readFileSync(join(cacheDir, f));
    // The header names the keys it was made for; decoding checks the rest (lengths, the paths' sha256).
    const header = JSON.parse(raw.toString('utf8', 8, 8 + raw.readUInt32LE(4))) as { diffId: string; rulesHash: string; tool: string };
    expect(header.diffId, `${f} is not a whole entry`).toMatch(/^sha256:/);
    expect(decodeEntry(raw, { rulesHash: header.rulesHash, toolVersion: header.tool }, header.diffId), `${f} is not a whole entry`).not.toBeNull();
  }
}

/** The interrupted scan's whole stderr: progress lines (when asked for) and then exactly one line. */
function expectInterrupted(r: Stopped, code: number): void {
  expect(r.signal, 'killed by the signal instead of handling it').toBeNull();
  expect(r.code, r.stderr).toBe(code);
  expect(r.stopMs, 'the signal was never sent').toBeGreaterThanOrEqual(0);
  expect(r.stopMs, `took ${r.stopMs} ms to stop`).toBeLessThan(STOP_BOUND_MS);
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('scanning: '));
  expect(lines).toEqual(['stratascan: interrupted']);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
}

describe('the CLI on SIGINT and SIGTERM', () => {
  it('SIGINT once progress starts: exit 130 within the bound, no report file, no temp file, cache whole', async () => {
    const out = join(dir, 'out-int');
    const cache = join(dir, 'cache-int');
    mkdirSync(out);
    const r = await interrupt(
      ['scan', big, '--jobs', '1', '--progress', '--format', 'json', '--output', join(out, 'report.json'), '--cache-dir', cache],
      'SIGINT',
      // The first progress line shows as the layers start; the next would come 2 s later, which a
      // fast machine may not reach before the scan ends. Mid-walk is a moment after the first.
      afterFirst(/scanning: layer \d+\/3/, 300),
    );
    measured.push(`SIGINT file ${r.stopMs} ms`);
    expectInterrupted(r, 130);
    expect(readdirSync(out), 'the output directory').toEqual([]);
    expectCompleteCache(cache);
  });

  it('SIGTERM: exit 143 with exactly one stderr line and nothing written', async () => {
    const out = join(dir, 'out-term');
    const cache = join(dir, 'cache-term');
    mkdirSync(out);
    const r = await interrupt(
      ['scan', big, '--jobs', '1', '--output', join(out, 'report.sarif'), '--format', 'sarif', '--cache-dir', cache],
      'SIGTERM',
      // No progress line to wait for: the one-file first layer's cache entry appears while the two
      // big layers are still being walked.
      () => existsSync(join(cache, 'layers')) && filesUnder(join(cache, 'layers')).some((f) => f.endsWith('.entry')),
    );
    measured.push(`SIGTERM file ${r.stopMs} ms`);
    expectInterrupted(r, 143);
    expect(r.stderr).toBe('stratascan: interrupted\n');
    expect(readdirSync(out)).toEqual([]);
  });

  it('SIGINT while the image streams in on standard input: the input is dropped, exit 130', async () => {
    const image = readFileSync(big);
    const cache = join(dir, 'cache-stdin');
    let fed = 0;
    const r = await interrupt(
      ['scan', '-', '--jobs', '1', '--cache-dir', cache],
      'SIGINT',
      // Counted as the scanner reads (see below): it is well into the image, not still starting.
      () => fed >= 8 << 20,
      (child) => {
        // A slow producer (docker save of a big image): 256 KiB at a time, each once the previous
        // one was read and 10 ms have passed, so `fed` trails what the scanner consumed.
        let closed = false;
        child.on('close', () => (closed = true));
        const next = () => {
          if (closed || fed >= image.length) return;
          const part = image.subarray(fed, fed + (256 << 10));
          fed += part.length;
          if (child.stdin.write(part)) setTimeout(next, 10);
          else child.stdin.once('drain', () => setTimeout(next, 10));
        };
        next();
      },
    );
    measured.push(`SIGINT stdin ${r.stopMs} ms`);
    expectInterrupted(r, 130);
    expect(fed, 'the whole image was sent before the signal').toBeLessThan(image.length);
    expectCompleteCache(cache);
  });
});

describe('scanImage with an AbortSignal', () => {
  /** OS threads of this process: detection workers are threads, so this drops when they end. */
  const threads = () => readdirSync('/proc/self/task').length;

  it('rejects promptly with a ScanAbortedError, and its worker threads end', async () => {
    // libuv's thread pool starts on its first job and stays: start it first, so only the scan's
    // own threads are counted.
    await promisify(gzip)(Buffer.alloc(1024));
    const before = threads();
    const controller = new AbortController();
    let abortedAt = 0;
    let during = 0;
    const reason = new Error('the user closed the window');
    const scanning = scanImage(big, {
      jobs: 2,
      cache: false,
      signal: controller.signal,
      onProgress: (p) => {
        // Well into the first data layer, so workers are busy and streams are open.
        if (p.bytes >= 8 << 20 && abortedAt === 0) {
          during = threads();
          abortedAt = Date.now();
          controller.abort(reason);
        }
      },
    });
    const err = await scanning.then(() => null, (e: unknown) => e);
    const stopMs = Date.now() - abortedAt;
    measured.push(`library abort ${stopMs} ms`);
    expect(abortedAt, 'progress never reached the abort point').toBeGreaterThan(0);
    expect(err).toBeInstanceOf(ScanAbortedError);
    expect((err as Error).name).toBe('AbortError');
    expect((err as Error & { code?: string }).code).toBe('ABORT_ERR');
    expect((err as Error).cause).toBe(reason);
    expect(stopMs).toBeLessThan(STOP_BOUND_MS);
    expect(during, 'no worker threads were running at the abort').toBeGreaterThan(before);
    expect(threads()).toBeLessThanOrEqual(before);
  });

  it('an already aborted signal rejects before anything starts', async () => {
    const controller = new AbortController();
    controller.abort();
    const before = threads();
    await expect(scanImage(big, { cache: false, signal: controller.signal })).rejects.toBeInstanceOf(ScanAbortedError);
    expect(threads()).toBeLessThanOrEqual(before);
  });

  it('aborting while an image streams in destroys the input stream', async () => {
    const image = readFileSync(big);
    let offset = 0;
    // Hands out the image slowly and never ends unless destroyed.
    const input = new Readable({
      read() {
        if (offset >= 16 << 20) return;
        setTimeout(() => {
          this.push(image.subarray(offset, offset + (256 << 10)));
          offset += 256 << 10;
        }, 5);
      },
    });
    const controller = new AbortController();
    const scanning = scanImage('-', { stdin: input, jobs: 1, cache: false, signal: controller.signal });
    while (offset < 4 << 20) await new Promise((r) => setTimeout(r, 10));
    const abortedAt = Date.now();
    controller.abort();
    await expect(scanning).rejects.toMatchObject({ name: 'AbortError' });
    measured.push(`library stdin abort ${Date.now() - abortedAt} ms`);
    expect(Date.now() - abortedAt).toBeLessThan(STOP_BOUND_MS);
    expect(input.destroyed).toBe(true);
  });
});
