import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { buildImage } from '../fixtures/builder.mjs';
import { DetectionPool, type PeerMessage } from '../src/detect/pool.js';
import { GzipOutcome } from '../src/detect/gzip-member.js';
import type { RawMatch } from '../src/detect/engine.js';
import { loadRuleSet } from '../src/detect/rules.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import { secretHash } from '../src/attribute.js';
import { scanImage } from '../src/scan.js';
import type { Finding } from '../src/types.js';

const seed = Date.now() % 1e6;
const rand = seededRandom(seed);
const token = () => renderTemplate('ghp_{{alnum:36}}', rand).text;
const ruleSet = loadRuleSet();

interface Outcome {
  matches: string[];
  newlines: number;
  lastNewline: number;
  outcome: GzipOutcome;
}

/** Texts with a token each (at varying lines), some as small .gz files, some asking for newlines. */
function workload(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const secret = token();
    const text = `${'# filler line\n'.repeat(i % 7)}export GITHUB_TOKEN=${secret}\n${'x'.repeat(i * 37 % 3000)}\n`;
    const gzip = i % 5 === 0;
    return { secret, bytes: gzip ? gzipSync(text) : Buffer.from(text), gzip, countTo: i % 3 === 0 && !gzip ? text.length : 0 };
  });
}

/** Submits every item to `pool` and collects what comes back for each, in submission order. */
async function run(pool: DetectionPool, items: ReturnType<typeof workload>): Promise<Outcome[]> {
  const outcomes = items.map((item) => new Promise<Outcome>((resolve, reject) => {
    const wait = pool.submit(item.bytes, {
      found: (matches: RawMatch[], newlines, lastNewline, outcome) => resolve({ matches: matches.map((m) => `${m.ruleId} ${m.line}:${m.column} ${m.secret}`), newlines, lastNewline, outcome }),
      failed: reject,
    }, item.countTo, item.gzip);
    expect(wait).toBeNull();
  }));
  pool.flush();
  return Promise.all(outcomes);
}

/** Two inline pools joined as layer workers are; counts the batches `walker` sends its peer. */
function pair(peerBusy: () => boolean) {
  const { port1, port2 } = new MessageChannel();
  const walker = new DetectionPool(ruleSet.rules, 0, ruleSet.plan);
  const helper = new DetectionPool(ruleSet.rules, 0, ruleSet.plan);
  walker.addPeer(port1, peerBusy);
  // The helper sends nothing back but answers.
  helper.addPeer(port2, () => true);
  const sent = { batches: 0 };
  port2.on('message', (msg: PeerMessage) => {
    if (msg.type === 'batch') sent.batches++;
  });
  return { walker, helper, port1, port2, sent };
}

describe('an inline pool shares detection with idle peers', () => {
  it('gives the same matches, lines and gzip outcomes whether a peer or the walker detects', async () => {
    const items = workload(400);
    const alone = await run(new DetectionPool(ruleSet.rules, 0, ruleSet.plan), items);
    const { walker, port1, port2, sent } = pair(() => false);
    const shared = await run(walker, items);
    port1.close();
    port2.close();
    expect(sent.batches).toBeGreaterThan(0);
    expect(shared).toEqual(alone);
    // Every token found, each in its own item, whoever detected it.
    items.forEach((item, i) => expect(shared[i]!.matches.join('\n')).toContain(item.secret));
  });

  it('sends nothing to a peer that walks a layer of its own', async () => {
    const items = workload(100);
    const { walker, port1, port2, sent } = pair(() => true);
    const shared = await run(walker, items);
    port1.close();
    port2.close();
    expect(sent.batches).toBe(0);
    expect(shared.every((o, i) => o.matches.some((m) => m.endsWith(items[i]!.secret)))).toBe(true);
  });

  it('fails the batches a peer had in hand when it ends, rather than waiting forever', async () => {
    const { walker, port2 } = pair(() => false);
    const result = new Promise<RawMatch[]>((resolve, reject) => {
      // An inline pool never asks its walker to wait.
      expect(walker.submit(Buffer.from(`token=${token()}\n`), { found: resolve, failed: reject })).toBeNull();
    });
    walker.flush();
    port2.close();
    await expect(result).rejects.toThrow(/layer worker ended/);
  });
});

describe('an inline pool joins a window given in parts', () => {
  it('finds a token cut across parts, and nothing a longer window before it left in the joined buffer', async () => {
    const pool = new DetectionPool(ruleSet.rules, 0, ruleSet.plan);
    const detect = (parts: Uint8Array[]) => new Promise<string[]>((resolve, reject) => {
      expect(pool.submit(parts, { found: (matches) => resolve(matches.map((m) => `${m.line}:${m.column} ${m.secret}`)), failed: reject })).toBeNull();
    });
    const first = token();
    const long = Buffer.from(`${'filler line\n'.repeat(20_000)}export GITHUB_TOKEN=${first}\n`);
    // Cut inside the token: only the joined window holds it whole.
    const cut = long.length - 20;
    expect(await detect([long.subarray(0, 70_000), long.subarray(70_000, cut), long.subarray(cut)])).toEqual([`20001:21 ${first}`]);
    // Shorter than the first: its bytes past this window's end are the first window's token.
    const second = token();
    const short = Buffer.from(`a\nGITHUB_TOKEN=${second}\n`);
    expect(await detect([short.subarray(0, 10), short.subarray(10)])).toEqual([`2:14 ${second}`]);
    expect(await detect([Buffer.from('nothing '), Buffer.from('here\n')])).toEqual([]);
    await pool.close();
  });
});

describe('a scan spread over layer workers keeps each finding where it was written', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stratascan-fanout-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const comparable = (findings: Finding[]) => findings.map((f) => ({ ...f, layer: f.layer && { index: f.layer.index, diffId: f.layer.diffId } }));

  it('one big layer and two small ones: paths, lines, layers and removals as the single-threaded scan finds them', async () => {
    const planted: { secret: string; path: string; layer: number }[] = [];
    const file = (layer: number, path: string, body: (secret: string) => string | Buffer) => {
      const secret = token();
      planted.push({ secret, path, layer });
      return { path, content: body(secret) };
    };
    const big = Array.from({ length: 1500 }, (_, i) => i % 10 === 0
      ? file(0, `/srv/app/conf/${i}.env`, (s) => `${'A=1\n'.repeat(i % 13)}GITHUB_TOKEN=${s}\n`)
      : { path: `/srv/app/lib/${i}.py`, content: `def f${i}():\n    return ${i}\n`.repeat(20 + (i % 50)) });
    const gz = Array.from({ length: 40 }, (_, i) => file(0, `/usr/share/man/man1/t${i}.1.gz`, (s) => gzipSync(`.TH T${i} 1\nexport GH_TOKEN=${s}\n`)));
    const log = file(0, '/var/log/big.log', (s) => `${'GET /health 200 1ms\n'.repeat(150_000)}auth token=${s}\n`);
    const later = file(1, '/etc/app/secret.txt', (s) => `password_token=${s}\n`);
    const last = file(2, '/opt/tool/.env', (s) => `GITHUB_TOKEN=${s}\n`);
    const path = join(dir, 'fanout.tar');
    const bytes = await buildImage({ steps: [
      { createdBy: 'COPY app', files: [...big, ...gz, log] },
      { createdBy: 'COPY secret', files: [later, { path: '/srv/app/conf/0.env', type: 'whiteout' }] },
      { createdBy: 'COPY tool', files: [last] },
    ] }, { layout: 'oci-archive', compression: 'gzip' });
    writeFileSync(path, bytes!);

    // jobs 1: two layer workers, the idle one detecting for the other; jobs 0: this thread alone.
    const spread = await scanImage(path, { jobs: 1, cache: false });
    const alone = await scanImage(path, { jobs: 0, cache: false });
    expect(comparable(spread.findings)).toEqual(comparable(alone.findings));
    for (const p of planted) {
      const finding = spread.findings.find((f) => f.secretHash === secretHash(p.secret));
      const expectedPath = p.path.endsWith('.gz') ? `${p.path}!/${p.path.split('/').pop()!.slice(0, -3)}` : p.path;
      expect(finding, `${p.path} (seed ${seed})`).toMatchObject({ path: expectedPath, layer: { index: p.layer } });
    }
    expect(spread.findings.find((f) => f.path === '/var/log/big.log')).toMatchObject({ line: 150_001, column: 12 });
    expect(spread.findings.find((f) => f.path === '/srv/app/conf/0.env')).toMatchObject({ inFinalImage: false, removedBy: { index: 1 } });
  }, 60_000);
});
