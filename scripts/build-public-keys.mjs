#!/usr/bin/env node
/**
 * Builds detectors/public-keys.json: fingerprints (never the values) of keys and tokens that are
 * public knowledge because widely installed files ship them: the test keys of Python's, Go's and
 * the other toolchains' test suites, the Google API keys Debian publishes in its chromium package,
 * and values in the API examples of the npm packages the noise run installs. Reads the same
 * Debian packages and node_modules as `npm run noise` (bench/toolchains.mjs, cached).
 *
 *   npm run build && node scripts/build-public-keys.mjs
 */
import { readdirSync, readFileSync, lstatSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, relative, resolve } from 'node:path';
import { cacheDir, stageApp, stageToolchains } from '../bench/toolchains.mjs';

const here = resolve(new URL('..', import.meta.url).pathname);
const { loadRuleSet } = await import('../dist/detect/rules.js');
const { DetectionEngine } = await import('../dist/detect/engine.js');
const { keyFingerprint, PUBLIC_KEYS_FILE } = await import('../dist/detect/public-keys.js');

const KEYS = ['private-key', 'private-key-base64-pem'];
const TEST_PLACES = /(?:^|\/)(?:tests?|testdata|testcert|test_?data|examples?|fixtures?)\/|_test\.\w+$|(?:^|\/)test_[^/]*$/;

/**
 * Where public values live: a tree (a toolchain's staging root, the app), which files in it, and
 * which rules' matches there are public (null: every rule's).
 */
function sources(toolchains, app) {
  const root = (name) => toolchains.find((t) => t.name === name).root;
  return [
    { label: 'Python test suite', root: root('python'), files: /^usr\/lib\/python3\.\d+\/test\//, rules: KEYS },
    { label: 'Go test keys', root: root('go'), files: /^usr\/share\/go-[\d.]+\/src\//, where: TEST_PLACES, rules: KEYS },
    // Go's crypto/tls Example functions build a server from a fixed key.
    { label: 'Go crypto/tls examples', root: root('go'), files: /^usr\/share\/go-[\d.]+\/src\/crypto\/tls\/example_test\.go$/, rules: KEYS },
    ...['jdk', 'ruby', 'php', 'perl', 'npm'].map((name) => ({ label: `${name} test keys`, root: root(name), files: /./, where: TEST_PLACES, rules: KEYS })),
    { label: 'AWS SDK API examples', root: app, files: /^app\/node_modules\/aws-sdk\/apis\/[^/]+\.examples\.json$/, rules: null },
    { label: 'AWS SDK doc comments', root: app, files: /^app\/node_modules\/aws-sdk\/clients\/[^/]+\.d\.ts$/, rules: ['azure-sas-token'] },
    { label: 'AWS SDK CI config (public upload token)', root: app, files: /^app\/node_modules\/aws-sdk\/buildspec\.yml$/, rules: ['codecov-token'] },
    { label: 'debug package CI config (public repo token)', root: app, files: /^app\/node_modules\/debug\/\.coveralls\.yml$/, rules: null },
    { label: "Debian chromium's published Google API keys", root: chromium(), files: /^etc\/chromium\.d\/apikeys$/, rules: null },
  ];
}

/** Debian's chromium package, extracted: its /etc/chromium.d/apikeys names the keys Google assigned to Debian. */
function chromium() {
  const debs = join(cacheDir, 'debs');
  const root = join(cacheDir, 'stage', 'chromium');
  if (!existsSync(join(root, 'etc/chromium.d/apikeys'))) {
    mkdirSync(debs, { recursive: true });
    mkdirSync(root, { recursive: true });
    const madison = spawnSync('apt-cache', ['madison', 'chromium'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split('|').map((s) => s.trim()));
    const version = madison.find((f) => f[2]?.includes('debian.org'))?.[1];
    const got = spawnSync('apt-get', ['download', '-qq', version ? `chromium=${version}` : 'chromium'], { cwd: debs, encoding: 'utf8' });
    if (got.status !== 0) throw new Error(`apt-get download chromium: ${got.stderr}`);
    const deb = readdirSync(debs).find((n) => n.startsWith('chromium_'));
    spawnSync('dpkg-deb', ['-x', join(debs, deb), root]);
  }
  return root;
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) yield* walk(path);
    else if (st.isFile() && st.size < 16 * 1024 * 1024) yield path;
  }
}

const engine = new DetectionEngine(loadRuleSet().rules);
const keys = new Map();
for (const source of sources(stageToolchains(), stageApp())) {
  let count = 0;
  for (const path of walk(source.root)) {
    const rel = relative(source.root, path);
    if (!source.files.test(rel) || (source.where && !source.where.test(rel))) continue;
    for (const m of engine.scan(readFileSync(path))) {
      if (source.rules && !source.rules.includes(m.ruleId)) continue;
      const sha256 = keyFingerprint(m.secret);
      if (!keys.has(sha256)) count++;
      if (!keys.has(sha256)) keys.set(sha256, { sha256, rule: m.ruleId, source: `${source.label}: /${rel.replace(/^app\//, 'app/')}` });
    }
  }
  console.error(`${source.label}: ${count}`);
}
const out = {
  about: 'Fingerprints (keyFingerprint in src/detect/public-keys.ts) of keys and tokens that widely installed files publish; built by scripts/build-public-keys.mjs. Hashes only.',
  keys: [...keys.values()].sort((a, b) => a.source.localeCompare(b.source) || a.sha256.localeCompare(b.sha256)),
};
writeFileSync(join(here, 'detectors', PUBLIC_KEYS_FILE), `${JSON.stringify(out, null, 1)}\n`);
console.error(`${out.keys.length} fingerprints written to detectors/${PUBLIC_KEYS_FILE}`);
