#!/usr/bin/env node
/**
 * Noise and recall on real content (issues 4 and 14). Two images, each scanned with the shipped CLI:
 *
 * - toolchains: third-party files that hold no secret of ours (the project's node_modules,
 *   Debian's /usr/share, /var/lib/dpkg, /etc, Python's standard library), then one layer per
 *   toolchain that popular base images install (Go, a JDK, Ruby, PHP, Perl, npm as Debian ships
 *   it, Python with its test suite: from Debian's packages, see toolchains.mjs), and on top one
 *   fresh fake secret per detector (each rule's positive examples, rendered with a new seed),
 *   spread over /srv, a jar and the toolchains' own directories (Go's src, Python's test/, ...).
 * - app: a realistic application image: Debian-like files, Debian's node and npm, /app with the
 *   node_modules of a typical API service from the npm registry, 5 planted secrets in the
 *   application's files, one of them deleted in a later layer. `--wide-app` installs a larger
 *   service's dependencies instead (toolchains.mjs, WIDE_APP_DEPENDENCIES: ~1,100 packages).
 *
 * Prints every finding that is not a planted secret (a false positive, or a real secret someone
 * shipped), the planted ones missed, findings per layer, and a summary.
 *
 *   npm run build && node bench/noise.mjs [--keep] [--no-plant] [--no-toolchains] [--no-app] [--wide-app] [--seed N] [DIR ...]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tarOf } from '../fixtures/builder.mjs';
import { zipOf } from '../fixtures/zip.mjs';
import { APP_DEPENDENCIES, stageApp, stageToolchains, WIDE_APP_DEPENDENCIES } from './toolchains.mjs';

const here = resolve(new URL('..', import.meta.url).pathname);
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const plant = !args.includes('--no-plant');
const withToolchains = !args.includes('--no-toolchains');
const withApp = !args.includes('--no-app');
const wideApp = args.includes('--wide-app');
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

const sha256Text = (text) => `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;

/**
 * Where the per-detector plants go, in turn: a config dir, a jar, and inside the toolchains'
 * own trees, where a precision shortcut that skipped test or library directories would lose them.
 */
const PLANT_PLACES = [
  { dir: 'srv/config', name: (n) => `conf-${n}.txt` },
  { dir: 'srv/app.jar!/config', name: (n) => `conf-${n}.txt` },
  { dir: 'usr/lib/go-1.19/src/net/url', name: (n) => `conf_${n}_test.go`, toolchain: 'go' },
  { dir: 'usr/lib/python3.11/test', name: (n) => `conf_${n}.pem`, toolchain: 'python' },
  { dir: 'usr/lib/jvm/java-17-openjdk-amd64/conf/security', name: (n) => `conf-${n}.properties`, toolchain: 'jdk' },
  { dir: 'usr/lib/ruby/3.1.0/uri', name: (n) => `conf_${n}.rb`, toolchain: 'ruby' },
  { dir: 'usr/share/php/PEAR', name: (n) => `Conf${n}.php`, toolchain: 'php' },
  { dir: 'usr/share/perl/5.36.0/Net', name: (n) => `Conf${n}.pm`, toolchain: 'perl' },
  { dir: 'usr/share/nodejs/@npmcli/config/lib', name: (n) => `conf-${n}.md`, toolchain: 'npm' },
];

/** One positive example per detector, rendered fresh, spread over PLANT_PLACES. */
async function plantLayer(path, toolchainNames) {
  const { loadRuleSet } = await import('../dist/detect/rules.js');
  const { renderTemplate, seededRandom } = await import('../dist/detect/template.js');
  const rand = seededRandom(seed);
  const places = PLANT_PLACES.filter((p) => !p.toolchain || toolchainNames.includes(p.toolchain));
  const rules = loadRuleSet().rules.filter((r) => !r.identifier);
  const planted = [];
  const files = [];
  const members = [];
  rules.forEach((rule, i) => {
    const template = rule.examples.positive[Math.floor(rand() * rule.examples.positive.length)];
    const { text, secret } = renderTemplate(template, rand);
    if (secret === null) return;
    const place = places[i % places.length];
    const name = place.name(String(i).padStart(3, '0'));
    const inJar = place.dir.includes('!/');
    planted.push({
      ruleId: rule.id,
      hash: sha256Text(secret),
      path: `/${place.dir}/${name}`,
      // A rule that names another it beats, or that beats it, reports the same value: either is right.
      accept: [...rule.overrides, ...rules.filter((r) => r.overrides.includes(rule.id)).map((r) => r.id)],
    });
    if (inJar) members.push({ name: `config/${name}`, content: `${text}\n` });
    else files.push({ name: `${place.dir}/${name}`, content: Buffer.from(`${text}\n`) });
  });
  files.push({ name: 'srv/app.jar', content: zipOf(members) });
  writeFileSync(path, await tarOf(files));
  return planted;
}

/**
 * The application's own files, with 5 secrets an engineer could leak: credentials in .env and a
 * config file, a token in .npmrc, a key in source, and a Clarifai key that a later layer deletes
 * (still in the image's history, so still reported).
 */
async function appSecretLayers(work) {
  const { renderTemplate, seededRandom } = await import('../dist/detect/template.js');
  const rand = seededRandom(seed + 1);
  const secrets = [];
  const file = (path, template, ruleId, accept = []) => {
    const { text, secret } = renderTemplate(template, rand);
    secrets.push({ ruleId, hash: sha256Text(secret), path: `/${path}`, accept });
    return { name: path, content: Buffer.from(text) };
  };
  const files = [
    file('app/.env', 'NODE_ENV=production\nPORT=8080\nAWS_REGION=eu-west-1\nAWS_ACCESS_KEY_ID=AKIA{{upper:16}}\nAWS_SECRET_ACCESS_KEY=[[{{b64:40}}]]\n', 'aws-secret-access-key'),
    file('app/config/production.json', '{\n  "db": {\n    "uri": "mongodb+srv://orders:[[{{alnum:20}}]]@cluster0.{{lower:5}}.mongodb.net/orders?retryWrites=true"\n  }\n}\n', 'mongodb-uri'),
    file('app/.npmrc', '@acme:registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=[[npm_{{alnum:36}}]]\n', 'npm-token', ['npmrc-auth']),
    file('app/src/payments.js', "const Stripe = require('stripe');\n\nmodule.exports = new Stripe('[[sk_live_{{alnum:99}}]]', { apiVersion: '2024-06-20' });\n", 'stripe-secret-key'),
  ];
  const vision = file('app/src/vision.js', "const { ClarifaiStub, grpc } = require('clarifai-nodejs-grpc');\n\nconst stub = ClarifaiStub.grpc();\nconst metadata = new grpc.Metadata();\nmetadata.set('authorization', 'Key [[{{hex:32}}]]');\nmodule.exports = { stub, metadata };\n", 'clarifai-api-key');
  writeFileSync(join(work, 'app-secrets.tar'), await tarOf([...files, vision]));
  writeFileSync(join(work, 'app-delete.tar'), await tarOf([{ name: 'app/src/.wh.vision.js', content: Buffer.alloc(0) }]));
  return secrets;
}

async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

/** A layer tar of `paths` (relative to `cwd`), no ownership, unreadable files skipped. */
function tarLayer(path, cwd, paths) {
  const tarred = run('tar', ['--ignore-failed-read', '--warning=none', '-cf', path, '--owner=0', '--group=0', ...paths], { cwd });
  if (!existsSync(path)) throw new Error(`tar failed: ${tarred.stderr}`);
}

/** A docker-archive image of the layer files in `work` (names), with one history line each. */
async function imageOf(work, tag, layers) {
  const diffIds = [];
  for (const l of layers) diffIds.push(`sha256:${await sha256File(join(work, l.file))}`);
  const history = layers.map((l) => ({ created_by: l.createdBy }));
  const config = { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds }, history };
  const configName = `${createHash('sha256').update(JSON.stringify(config)).digest('hex')}.json`;
  writeFileSync(join(work, configName), JSON.stringify(config));
  writeFileSync(join(work, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: layers.map((l) => l.file) }]));
  const image = join(work, `${tag.replace(/\W/g, '-')}.tar`);
  run('tar', ['-cf', image, '-C', work, 'manifest.json', configName, ...layers.map((l) => l.file)]);
  for (const l of layers) rmSync(join(work, l.file));
  return image;
}

/** Scans one image and prints its noise and misses; returns the summary. */
function scanAndReport(label, image, layers, planted) {
  const mb = statSync(image).size / 1e6;
  const started = Date.now();
  const scan = run(process.execPath, [join(here, 'dist/bin.js'), 'scan', image, '--format', 'json', '--no-cache'], { encoding: 'utf8' });
  const seconds = (Date.now() - started) / 1000;
  if (scan.status !== 0 && scan.status !== 1) throw new Error(`scan of ${label} failed (${scan.status}): ${scan.stderr}`);
  const report = JSON.parse(scan.stdout);
  const byHash = new Map((planted ?? []).map((p) => [p.hash, p]));
  const unplanted = report.findings.filter((f) => !byHash.has(f.secretHash));
  // Some examples hold a second credential (a session token beside its secret key): true secrets, not noise.
  const plantedLayers = new Set(layers.flatMap((l, i) => (l.planted ? [i] : [])));
  const beside = unplanted.filter((f) => plantedLayers.has(f.layer?.index));
  const extras = unplanted.filter((f) => !plantedLayers.has(f.layer?.index));
  for (const f of extras) console.log(`${label} noise\t${f.ruleId}\t${f.path ?? f.key}:${f.line}\t${f.redacted}`);
  for (const f of beside) console.log(`${label} beside a planted one\t${f.ruleId}\t${f.path}:${f.line}`);
  const perLayer = Object.fromEntries(layers.filter((l) => !l.planted).map((l) => [l.name, extras.filter((f) => layers[f.layer?.index]?.name === l.name).length]));
  const summary = {
    image: label,
    imageMB: Math.round(mb),
    files: report.stats.files,
    seconds: Number(seconds.toFixed(1)),
    findings: report.findings.length,
    noise: extras.length,
    noiseByLayer: perLayer,
    besidePlanted: beside.length,
    allowlisted: report.stats.allowlisted,
    skipped: report.stats.skipped,
  };
  if (planted) {
    const found = new Map(report.findings.map((f) => [f.secretHash, f]));
    const missed = planted.filter((p) => !found.has(p.hash));
    const wrong = planted.filter((p) => found.has(p.hash) && found.get(p.hash).ruleId !== p.ruleId && !p.accept.includes(found.get(p.hash).ruleId));
    for (const p of missed) console.log(`${label} missed\t${p.ruleId}\t${p.path}`);
    for (const p of wrong) console.log(`${label} other rule\t${p.ruleId}\t${p.path}\treported as ${found.get(p.hash).ruleId}`);
    const inToolchains = planted.filter((p) => !p.path.startsWith('/srv/') && !p.path.startsWith('/app/'));
    Object.assign(summary, {
      planted: planted.length,
      plantedFound: planted.length - missed.length,
      plantedInToolchainDirs: `${inToolchains.filter((p) => found.has(p.hash)).length}/${inToolchains.length}`,
      recall: Number(((planted.length - missed.length) / planted.length).toFixed(3)),
      rightRule: Number(((planted.length - missed.length - wrong.length) / planted.length).toFixed(3)),
    });
  }
  return summary;
}

async function toolchainImage(work, toolchains) {
  const layers = [{ name: 'base', file: 'base.tar', createdBy: `noise: ${dirs.join(' ')}` }];
  tarLayer(join(work, 'base.tar'), '/', dirs.map((d) => d.replace(/^\//, '')));
  for (const t of toolchains) {
    layers.push({ name: t.name, file: `${t.name}.tar`, createdBy: `toolchain ${t.name}: ${t.packages} Debian packages` });
    tarLayer(join(work, `${t.name}.tar`), t.root, ['.']);
  }
  let planted = null;
  if (plant) {
    planted = await plantLayer(join(work, 'planted.tar'), toolchains.map((t) => t.name));
    layers.push({ name: 'planted', file: 'planted.tar', createdBy: `planted: one fresh fake secret per detector (seed ${seed})`, planted: true });
  }
  return { image: await imageOf(work, 'stratascan/noise:toolchains', layers), layers, planted };
}

async function appImage(work, toolchains) {
  const debianLike = ['/etc', '/var/lib/dpkg', '/usr/lib/python3'].filter((d) => existsSync(d));
  const layers = [{ name: 'debian', file: 'debian.tar', createdBy: `debian-like: ${debianLike.join(' ')}` }];
  tarLayer(join(work, 'debian.tar'), '/', debianLike.map((d) => d.replace(/^\//, '')));
  const npm = toolchains.find((t) => t.name === 'npm');
  if (npm) {
    layers.push({ name: 'npm', file: 'npm.tar', createdBy: 'RUN apt-get install -y nodejs npm' });
    tarLayer(join(work, 'npm.tar'), npm.root, ['.']);
  }
  layers.push({ name: 'node_modules', file: 'node_modules.tar', createdBy: 'RUN npm ci --omit=dev' });
  tarLayer(join(work, 'node_modules.tar'), stageApp(console.error, wideApp ? WIDE_APP_DEPENDENCIES : APP_DEPENDENCIES), ['app']);
  const planted = await appSecretLayers(work);
  layers.push({ name: 'app', file: 'app-secrets.tar', createdBy: 'COPY . /app', planted: true });
  layers.push({ name: 'cleanup', file: 'app-delete.tar', createdBy: 'RUN rm /app/src/vision.js', planted: true });
  return { image: await imageOf(work, 'stratascan/noise:app', layers), layers, planted };
}

const work = mkdtempSync(join(tmpdir(), 'stratascan-noise-'));
try {
  const toolchains = withToolchains ? stageToolchains() : [];
  const summaries = [];
  const built = await toolchainImage(work, toolchains);
  summaries.push({ seed, dirs, ...scanAndReport('toolchains', built.image, built.layers, built.planted) });
  if (!keep) rmSync(built.image);
  if (withApp) {
    const app = await appImage(work, toolchains);
    summaries.push(scanAndReport(wideApp ? 'app-wide' : 'app', app.image, app.layers, app.planted));
    if (!keep) rmSync(app.image);
  }
  console.log(JSON.stringify(summaries, null, 2));
  if (keep) console.log(`images kept in ${work}`);
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
}
