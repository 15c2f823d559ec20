/**
 * Real toolchain content for the noise run (issue 14): the Go, JDK, Ruby, PHP, Perl, npm and
 * Python trees that popular base images install, taken from Debian's own packages without
 * installing them (`apt-get download` into a reused cache, `dpkg-deb -x` into a staging tree per
 * toolchain), and a realistic application's node_modules installed from the npm registry.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const cacheDir = process.env.STRATASCAN_NOISE_CACHE ?? join(homedir(), '.cache', 'stratascan-noise');

/**
 * Each toolchain: the packages named, and which of their (recursive, Depends-only) dependencies
 * belong to it too (npm's node-* libraries, Ruby's bundled gems), so that C libraries and the
 * rest of the base system are not fetched again per toolchain.
 */
export const TOOLCHAINS = [
  { name: 'go', packages: ['golang-1.19-src', 'golang-1.19-go'], deps: null },
  { name: 'jdk', packages: ['openjdk-17-jre-headless', 'openjdk-17-jdk-headless', 'openjdk-17-source'], deps: null },
  { name: 'ruby', packages: ['ruby3.1', 'libruby3.1', 'ruby-rubygems', 'rubygems-integration'], deps: /^(ruby-|rake$)/ },
  { name: 'php', packages: ['php8.2-cli', 'php8.2-common', 'php8.2-opcache', 'php8.2-readline', 'php-pear'], deps: null },
  { name: 'perl', packages: ['perl', 'perl-modules-5.36', 'libperl5.36'], deps: null },
  { name: 'npm', packages: ['npm', 'nodejs', 'libnode108'], deps: /^(node-|libjs-)/ },
  { name: 'python', packages: ['libpython3.11-minimal', 'libpython3.11-stdlib', 'libpython3.11-testsuite', 'python3.11-minimal'], deps: null },
];

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.error) throw new Error(`${cmd} ${argv.slice(0, 3).join(' ')}`, { cause: r.error });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.slice(0, 3).join(' ')} exited ${r.status}: ${String(r.stderr).trim().split('\n').slice(-3).join(' / ')}`);
  return r.stdout;
}

/** apt's package lists: `apt-get update` once when there are none (needs root). */
function ensureAptLists() {
  const lists = '/var/lib/apt/lists';
  const has = existsSync(lists) && readdirSync(lists).some((n) => n.endsWith('_Packages') || n.includes('_Packages.'));
  if (has) return;
  if (process.getuid?.() !== 0) throw new Error('apt has no package lists: run `apt-get update` as root, or run this script as root');
  console.error('noise: apt-get update (no package lists yet)');
  run('apt-get', ['update', '-qq']);
}

function packagesOf(toolchain) {
  if (toolchain.deps === null) return toolchain.packages;
  const out = run('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...toolchain.packages]);
  const deps = out.split('\n').filter((l) => /^[a-z0-9]/.test(l)).map((l) => l.trim()).filter((n) => toolchain.deps.test(n));
  return [...new Set([...toolchain.packages, ...deps])].sort();
}

/**
 * `name=version` of Debian's own newest build of each package: another repository configured
 * here (NodeSource's nodejs) may win apt's pinning, but the image measured is Debian's.
 */
function debianVersions(names) {
  if (names.length === 0) return [];
  const best = new Map();
  for (const line of run('apt-cache', ['madison', ...names]).split('\n')) {
    const [name, version, source] = line.split('|').map((s) => s.trim());
    if (name && version && source?.includes('debian.org') && !best.has(name)) best.set(name, version);
  }
  return names.map((n) => (best.has(n) ? `${n}=${best.get(n)}` : n));
}

/** The .deb of every package in the cache (downloaded once), by package name. */
function download(names, debs) {
  mkdirSync(debs, { recursive: true });
  const have = new Set(readdirSync(debs).filter((n) => n.endsWith('.deb')).map((n) => n.split('_')[0]));
  const missing = debianVersions(names.filter((n) => !have.has(n)));
  for (let i = 0; i < missing.length; i += 50) run('apt-get', ['download', '-qq', ...missing.slice(i, i + 50)], { cwd: debs });
  const files = readdirSync(debs).filter((n) => n.endsWith('.deb'));
  return names.map((n) => {
    const file = files.find((f) => f.split('_')[0] === n);
    if (!file) throw new Error(`apt-get download gave no .deb for ${n}`);
    return join(debs, file);
  });
}

/**
 * The staging root of each toolchain (a directory holding usr/…, etc/…), extracted once: a marker
 * names the .deb files it was made from, so a changed package list extracts again.
 */
export function stageToolchains(log = console.error) {
  ensureAptLists();
  const debs = join(cacheDir, 'debs');
  return TOOLCHAINS.map((toolchain) => {
    const files = download(packagesOf(toolchain), debs);
    const root = join(cacheDir, 'stage', toolchain.name);
    const marker = join(cacheDir, 'stage', `${toolchain.name}.done`);
    const wanted = files.map((f) => f.split('/').pop()).join('\n');
    const done = existsSync(marker) ? spawnSync('cat', [marker], { encoding: 'utf8' }).stdout : '';
    if (done !== wanted) {
      log(`noise: extracting ${files.length} packages of ${toolchain.name}`);
      spawnSync('rm', ['-rf', root]);
      mkdirSync(root, { recursive: true });
      for (const f of files) run('dpkg-deb', ['-x', f, root]);
      writeFileSync(marker, wanted);
    }
    return { name: toolchain.name, root, packages: files.length };
  });
}

/** A typical API service's dependencies, as an application image would ship them. */
export const APP_DEPENDENCIES = ['aws-sdk@2', '@aws-sdk/client-s3@3', '@aws-sdk/client-dynamodb@3', 'axios@1', 'mongoose@8', 'express@4', 'pg@8', 'jsonwebtoken@9', 'dotenv@16', 'winston@3', 'redis@4'];

/**
 * `--wide-app`: the dependencies of a larger service (~1,100 packages, ~2 GB installed): cloud and
 * SaaS SDKs (Google, Firebase, Azure, Stripe, Twilio, Slack, GitHub, OpenAI…), ORMs and drivers,
 * a web framework with its compiler. Third-party READMEs, typings and bundles full of sample keys.
 */
export const WIDE_APP_DEPENDENCIES = [
  ...APP_DEPENDENCIES,
  'googleapis', 'firebase-admin', 'firebase', 'stripe', 'twilio', '@sendgrid/mail', '@azure/storage-blob', '@azure/identity',
  '@azure/keyvault-secrets', '@azure/cosmos', '@google-cloud/storage', '@google-cloud/pubsub', 'openai', '@anthropic-ai/sdk',
  '@slack/web-api', '@slack/bolt', '@octokit/rest', 'next', 'react', 'react-dom', 'typescript', 'prisma', '@prisma/client',
  'sequelize', 'mysql2', 'passport', 'passport-google-oauth20', 'passport-jwt', 'bcryptjs', 'nodemailer', 'socket.io', 'graphql',
  '@apollo/server', 'knex', 'typeorm', 'discord.js', 'telegraf', 'algoliasearch', '@sentry/node', 'newrelic', 'dd-trace', 'auth0',
  'mongodb', 'ioredis', 'kafkajs', 'amqplib', '@elastic/elasticsearch', 'cloudinary', 'plaid', 'braintree',
  '@mailchimp/mailchimp_marketing', 'contentful', 'airtable', '@notionhq/client', '@supabase/supabase-js', 'mailgun.js', 'postmark',
  'jose', '@aws-sdk/client-secrets-manager', '@aws-sdk/client-sqs', '@aws-sdk/client-lambda', 'lodash', 'moment', 'dayjs', 'uuid',
  'zod', 'joi',
];

/** /app with node_modules installed from the npm registry once (reused while the list is unchanged). */
export function stageApp(log = console.error, dependencies = APP_DEPENDENCIES) {
  const root = join(cacheDir, dependencies === APP_DEPENDENCIES ? 'app' : 'app-wide');
  const app = join(root, 'app');
  const marker = join(root, 'installed.done');
  const wanted = dependencies.join('\n');
  const done = existsSync(marker) ? spawnSync('cat', [marker], { encoding: 'utf8' }).stdout : '';
  if (done !== wanted) {
    log('noise: npm install of the application image (once)');
    spawnSync('rm', ['-rf', root]);
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'orders-api', version: '1.4.2', private: true, main: 'src/server.js' }, null, 2));
    // The wide list's ORMs declare optional peers newer than the base list's pins (typeorm and redis@4).
    const peers = dependencies === APP_DEPENDENCIES ? [] : ['--legacy-peer-deps'];
    run('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--ignore-scripts', ...peers, ...dependencies], { cwd: app });
    writeFileSync(marker, wanted);
  }
  return root;
}
