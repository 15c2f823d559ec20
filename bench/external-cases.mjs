#!/usr/bin/env node
/**
 * Detection on other people's cases (issue 14): reads JSON-lines case files from DIR (one per
 * suite; each line {suite, provider, kind: "positive"|"negative", text, expectedSecret?, name?}),
 * packs every case as one file of a single-layer image, scans it with the shipped CLI
 * (`--format json`) and prints, per suite:
 *   - recall on real-looking positives (a finding in the case's file; with expectedSecret, that value),
 *   - the share of negatives flagged,
 *   - the share of found positives reported under the right provider (a provider rule, or a
 *     generic finding that names the provider from the key name), against generic-* or jwt,
 * and counts deliberately fake documentation keys (EXAMPLE, 1234…, xxxx) apart.
 * The cases themselves are not part of this repository: build them from other scanners' public
 * test tables and keep them outside it.
 *
 *   npm run build && node bench/external-cases.mjs DIR [--misses] [--json OUT]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tarOf } from '../fixtures/builder.mjs';

const here = resolve(new URL('..', import.meta.url).pathname);
const args = process.argv.slice(2);
const showMisses = args.includes('--misses');
const jsonAt = args.indexOf('--json');
const jsonOut = jsonAt >= 0 ? args[jsonAt + 1] : null;
const dir = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--json');
if (!dir) {
  console.error('usage: node bench/external-cases.mjs DIR [--misses] [--json OUT]');
  process.exit(2);
}

/** Documentation stand-ins that no scanner is expected to report. */
const FAKE = /example|1234567|x{6,}|X{6,}|0{8,}|a{8,}|your[_-]?(?:api|key|token|secret)|<[a-z_ -]+>|dummy|placeholder/i;

function loadCases() {
  const cases = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort()) {
    const lines = readFileSync(join(dir, name), 'utf8').split('\n').filter((l) => l.trim() !== '');
    for (const line of lines) {
      const c = JSON.parse(line);
      if (typeof c.text !== 'string' || (c.kind !== 'positive' && c.kind !== 'negative')) throw new Error(`bad case in ${name}`);
      cases.push(c);
    }
  }
  return cases;
}

/** Lower-case letters and digits only: "New Relic" and "newrelic" are one provider. */
const norm = (s) => String(s ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');

function providerMatches(expected, reported) {
  const a = norm(expected);
  // A provider named with its former name in brackets ("X (Twitter)") answers to either.
  const names = [reported, /\(([^)]+)\)$/.exec(String(reported ?? ''))?.[1]].map(norm).filter((b) => b !== '');
  return a !== '' && names.some((b) => a === b || a.startsWith(b) || b.startsWith(a));
}

async function main() {
  const cases = loadCases();
  const { loadRuleSet } = await import('../dist/detect/rules.js');
  const rules = new Map(loadRuleSet().rules.map((r) => [r.id, r]));
  const files = cases.map((c, i) => ({ name: `cases/${c.suite}/${String(i).padStart(5, '0')}${c.ext ?? '.txt'}`, content: Buffer.from(`${c.text}\n`) }));
  const work = mkdtempSync(join(tmpdir(), 'stratascan-external-'));
  try {
    const layer = await tarOf(files);
    const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
    const config = { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] }, history: [{ created_by: 'external cases' }] };
    const configName = `${createHash('sha256').update(JSON.stringify(config)).digest('hex')}.json`;
    writeFileSync(join(work, 'layer.tar'), layer);
    writeFileSync(join(work, configName), JSON.stringify(config));
    writeFileSync(join(work, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: ['stratascan/external:latest'], Layers: ['layer.tar'] }]));
    const image = join(work, 'image.tar');
    spawnSync('tar', ['-cf', image, '-C', work, 'manifest.json', configName, 'layer.tar']);
    // --show-secrets only so expected values can be compared here; nothing raw is printed.
    const scan = spawnSync(process.execPath, [join(here, 'dist/bin.js'), 'scan', image, '--format', 'json', '--no-cache', '--show-secrets'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    if (scan.status !== 0 && scan.status !== 1) throw new Error(`scan failed (${scan.status}): ${scan.stderr}`);
    const report = JSON.parse(scan.stdout);
    /** @type {Map<string, {ruleId: string, provider: string, secret: string}[]>} */
    const byPath = new Map();
    const add = (path, f) => {
      const key = String(path ?? '').replace(/^\//, '');
      const list = byPath.get(key) ?? [];
      const rule = rules.get(f.ruleId);
      list.push({ ruleId: f.ruleId, provider: f.provider ?? rule?.provider ?? '', secret: f.secret ?? '', generic: rule?.generic === true || f.ruleId === 'jwt' });
      byPath.set(key, list);
    };
    for (const f of report.findings) {
      add(f.path, f);
      for (const o of f.alsoIn ?? []) add(o.path, f);
    }
    evaluate(cases, files, byPath);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function evaluate(cases, files, byPath) {
  const suites = new Map();
  const misses = [];
  cases.forEach((c, i) => {
    const s = suites.get(c.suite) ?? { positives: 0, found: 0, rightProvider: 0, genericOnly: 0, fakes: 0, fakesFound: 0, negatives: 0, flagged: 0 };
    suites.set(c.suite, s);
    const got = byPath.get(files[i].name) ?? [];
    const fake = c.kind === 'positive' && FAKE.test(c.expectedSecret ?? c.text);
    if (c.kind === 'negative') {
      s.negatives++;
      if (got.length > 0) {
        s.flagged++;
        misses.push({ what: 'flagged', suite: c.suite, provider: c.provider, name: c.name, rules: got.map((g) => g.ruleId), file: files[i].name });
      }
      return;
    }
    const hits = c.expectedSecret ? got.filter((g) => g.secret === c.expectedSecret || g.secret.includes(c.expectedSecret) || c.expectedSecret.includes(g.secret)) : got;
    if (fake) {
      s.fakes++;
      if (hits.length > 0) s.fakesFound++;
      return;
    }
    s.positives++;
    if (hits.length === 0) {
      misses.push({ what: 'missed', suite: c.suite, provider: c.provider, name: c.name, rules: got.map((g) => g.ruleId), file: files[i].name });
      return;
    }
    s.found++;
    if (hits.some((h) => providerMatches(c.provider, h.provider))) s.rightProvider++;
    else if (hits.every((h) => h.generic)) {
      s.genericOnly++;
      misses.push({ what: 'generic', suite: c.suite, provider: c.provider, name: c.name, rules: hits.map((g) => `${g.ruleId}(${g.provider})`), file: files[i].name });
    } else misses.push({ what: 'other provider', suite: c.suite, provider: c.provider, name: c.name, rules: hits.map((g) => `${g.ruleId}(${g.provider})`), file: files[i].name });
  });
  const pct = (a, b) => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);
  const rows = [...suites].map(([suite, s]) => ({
    suite,
    positives: s.positives,
    recall: pct(s.found, s.positives),
    rightProvider: pct(s.rightProvider, s.found),
    genericOnly: s.genericOnly,
    negatives: s.negatives,
    flagged: pct(s.flagged, s.negatives),
    fakeDocKeys: `${s.fakesFound}/${s.fakes} reported`,
  }));
  console.table(rows);
  if (showMisses) for (const m of misses) console.log(`${m.what}\t${m.suite}\t${m.provider}\t${m.name ?? ''}\t${m.rules.join(',')}\t${m.file}`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ rows, misses }, null, 2));
}

await main();
