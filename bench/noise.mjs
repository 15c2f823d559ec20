#!/usr/bin/env node
/**
 * Noise and recall on real content (issue 4): packs third-party files that hold no secret of
 * ours (the project's node_modules, Debian's /usr/share, /var/lib/dpkg, /etc, Python's standard
 * library) into one layer, and on top a second layer planting one fresh fake secret per detector
 * (each rule's positive examples, rendered with a new seed; a third of them inside a jar), then
 * scans the docker-archive image with the shipped CLI. Prints every finding that is not a planted
 * secret (a false positive, or a real secret someone shipped), and the planted ones missed.
 *
 *   npm run build && node bench/noise.mjs [--keep] [--no-plant] [--seed N] [DIR ...]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tarOf } from '../fixtures/builder.mjs';
import { zipOf } from '../fixtures/zip.mjs';

const here = resolve(new URL('..', import.meta.url).pathname);
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const plant = !args.includes('--no-plant');
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : Date.now() % 1_000_000;
const asked = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--seed');
const candidates = asked.length > 0 ? asked : [join(here, 'node_modules'), '/usr/share', '/var/lib/dpkg', '/etc', '/usr/lib/python3', ...pythons()];
const dirs = candidates.filter((d) => existsSync(d));

function pythons() {
  const r = spawnSync('sh', ['-c', 'ls -d /usr/lib/python3.* 2>/dev/null'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30, ...opts });
  if (r.error) throw r.error;
  return r;
}

/**
 * One positive example per detector, rendered fresh: most as files of their own under /srv, every
 * third inside /srv/app.jar so the archive path is measured too.
 */
async function plantLayer(path) {
  const { loadRuleSet } = await import('../dist/detect/rules.js');
  const { renderTemplate, seededRandom } = await import('../dist/detect/template.js');
  const rand = seededRandom(seed);
  const rules = loadRuleSet().rules.filter((r) => !r.identifier);
  const planted = [];
  const files = [];
  const members = [];
  rules.forEach((rule, i) => {
    const template = rule.examples.positive[Math.floor(rand() * rule.examples.positive.length)];
    const { text, secret } = renderTemplate(template, rand);
    if (secret === null) return;
    const name = `conf-${String(i).padStart(3, '0')}.txt`;
    const inJar = i % 3 === 2;
    planted.push({
      ruleId: rule.id,
      hash: `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`,
      path: inJar ? `/srv/app.jar!/config/${name}` : `/srv/config/${name}`,
      // A rule that names another it beats, or that beats it, reports the same value: either is right.
      accept: [...rule.overrides, ...rules.filter((r) => r.overrides.includes(rule.id)).map((r) => r.id)],
    });
    if (inJar) members.push({ name: `config/${name}`, content: `${text}\n` });
    else files.push({ name: `srv/config/${name}`, content: Buffer.from(`${text}\n`) });
  });
  files.push({ name: 'srv/app.jar', content: zipOf(members) });
  writeFileSync(path, await tarOf(files));
  return planted;
}

async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

const work = mkdtempSync(join(tmpdir(), 'stratascan-noise-'));
try {
  const layer = join(work, 'layer.tar');
  // Relative names, no ownership, unreadable files skipped: the layer is a copy of what is here.
  const tarred = run('tar', ['--ignore-failed-read', '--warning=none', '-cf', layer, '--owner=0', '--group=0', ...dirs.map((d) => d.replace(/^\//, ''))], { cwd: '/' });
  if (!existsSync(layer)) throw new Error(`tar failed: ${tarred.stderr}`);
  const diffId = `sha256:${await sha256File(layer)}`;
  const layers = ['layer.tar'];
  const diffIds = [diffId];
  const history = [{ created_by: `noise: ${dirs.join(' ')}` }];
  const planted = plant ? await plantLayer(join(work, 'planted.tar')) : null;
  if (planted) {
    layers.push('planted.tar');
    diffIds.push(`sha256:${await sha256File(join(work, 'planted.tar'))}`);
    history.push({ created_by: `planted: one fresh fake secret per detector (seed ${seed})` });
  }
  const config = { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, history };
  const configName = `${createHash('sha256').update(JSON.stringify(config)).digest('hex')}.json`;
  writeFileSync(join(work, configName), JSON.stringify(config));
  writeFileSync(join(work, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: ['stratascan/noise:latest'], Layers: layers }]));
  const image = join(work, 'image.tar');
  run('tar', ['-cf', image, '-C', work, 'manifest.json', configName, ...layers]);
  rmSync(layer);
  const mb = statSync(image).size / 1e6;
  const started = Date.now();
  const scan = run(process.execPath, [join(here, 'dist/bin.js'), 'scan', image, '--format', 'json', '--no-cache'], { encoding: 'utf8' });
  const seconds = (Date.now() - started) / 1000;
  if (scan.status !== 0 && scan.status !== 1) throw new Error(`scan failed (${scan.status}): ${scan.stderr}`);
  const report = JSON.parse(scan.stdout);
  const byHash = new Map((planted ?? []).map((p) => [p.hash, p]));
  const unplanted = report.findings.filter((f) => !byHash.has(f.secretHash));
  // Some examples hold a second credential (a session token beside its secret key): true secrets, not noise.
  const beside = unplanted.filter((f) => f.layer?.index === 1);
  const extras = unplanted.filter((f) => f.layer?.index !== 1);
  for (const f of extras) console.log(`noise\t${f.ruleId}\t${f.path ?? f.key}:${f.line}\t${f.redacted}`);
  for (const f of beside) console.log(`beside a planted one\t${f.ruleId}\t${f.path}:${f.line}`);
  const summary = {
    seed,
    dirs,
    imageMB: Math.round(mb),
    files: report.stats.files,
    seconds: Number(seconds.toFixed(1)),
    findings: report.findings.length,
    noise: extras.length,
    besidePlanted: beside.length,
    allowlisted: report.stats.allowlisted,
    skipped: report.stats.skipped,
  };
  if (planted) {
    const found = new Map(report.findings.map((f) => [f.secretHash, f]));
    const missed = planted.filter((p) => !found.has(p.hash));
    const wrong = planted.filter((p) => found.has(p.hash) && found.get(p.hash).ruleId !== p.ruleId && !p.accept.includes(found.get(p.hash).ruleId));
    for (const p of missed) console.log(`missed\t${p.ruleId}\t${p.path}`);
    for (const p of wrong) console.log(`other rule\t${p.ruleId}\t${p.path}\treported as ${found.get(p.hash).ruleId}`);
    Object.assign(summary, {
      planted: planted.length,
      recall: Number(((planted.length - missed.length) / planted.length).toFixed(3)),
      rightRule: Number(((planted.length - missed.length - wrong.length) / planted.length).toFixed(3)),
    });
  }
  console.log(JSON.stringify(summary, null, 2));
  if (keep) console.log(`image kept at ${image}`);
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
}
