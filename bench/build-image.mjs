// @ts-check
/**
 * Deterministic benchmark images, built by streaming (memory stays flat whatever the size) from
 * content available offline: the project's own node_modules, generated source trees and logs.
 *
 *   buildBenchImages({ outDir, targetMiB }) -> paths of three archives of the same image:
 *     gzip.tar          OCI archive, gzip layers
 *     docker.tar        docker save (legacy layout), uncompressed layers: the same diff_ids
 *     gzip-changed.tar  the gzip image with its last layer rebuilt (one changed layer)
 *
 * Layers (base-most first): node_modules split in two layers, generated source tree, generated
 * logs, and a small app layer with a few fake secrets (the one that changes). The generated parts
 * are sized so the whole image reaches targetMiB of uncompressed tar.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readdirSync, readFileSync, lstatSync, statSync, writeFileSync, mkdirSync, rmSync, renameSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { seededRandom } from '../dist/detect/template.js';

const EPOCH = new Date(0);
const MiB = 1024 * 1024;

// The project's seeded PRNG (mulberry32); the bench script builds the project first.
const prng = seededRandom;

const WORDS = 'request user order item account session cache index value result error config handler service client server token_count page limit offset status total queue worker retry timeout buffer stream parse render update delete create fetch load save build deploy'.split(' ');

/** @param {() => number} r */
const pick = (r, list) => list[Math.floor(r() * list.length)];
/** @param {() => number} r */
const ident = (r) => `${pick(r, WORDS)}${pick(r, WORDS).replace(/^./, (c) => c.toUpperCase())}${Math.floor(r() * 100)}`;
/** @param {() => number} r @param {number} n */
const alnum = (r, n) => {
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < n; i++) s += a[Math.floor(r() * a.length)];
  return s;
};

/** A JavaScript-ish source file of about `size` bytes. */
function sourceFile(r, size) {
  const parts = [`// generated module ${ident(r)}\n'use strict';\nconst { ${ident(r)}, ${ident(r)} } = require('./${pick(r, WORDS)}');\n\n`];
  let n = parts[0].length;
  while (n < size) {
    const fn = ident(r);
    const block =
      `/**\n * ${pick(r, WORDS)} the ${pick(r, WORDS)} for a ${pick(r, WORDS)}; see https://docs.example.com/${pick(r, WORDS)}/${ident(r)}\n */\n` +
      `async function ${fn}(${ident(r)}, options = {}) {\n` +
      `  const ${ident(r)} = options.${ident(r)} ?? ${Math.floor(r() * 1000)};\n` +
      `  if (!${ident(r)}) throw new Error('${pick(r, WORDS)} ${pick(r, WORDS)} failed: ' + ${ident(r)});\n` +
      `  for (let i = 0; i < ${ident(r)}.length; i++) await this.${ident(r)}(i, '${alnum(r, 8)}');\n` +
      `  return { ${ident(r)}: ${ident(r)}, api_version: 'v${Math.floor(r() * 9)}' };\n}\nmodule.exports.${fn} = ${fn};\n\n`;
    parts.push(block);
    n += block.length;
  }
  return Buffer.from(parts.join(''), 'utf8');
}

/** An application log of about `size` bytes. */
function logFile(r, size, day) {
  const parts = [];
  let n = 0;
  let t = Date.UTC(2024, 0, day);
  const levels = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
  while (n < size) {
    t += Math.floor(r() * 900);
    const line = `${new Date(t).toISOString()} ${pick(r, levels)} [req-${alnum(r, 10)}] ${pick(r, ['GET', 'POST', 'PUT'])} /api/v1/${pick(r, WORDS)}/${Math.floor(r() * 99999)} ${pick(r, [200, 200, 201, 204, 404, 500])} ${Math.floor(r() * 300)}ms user=${ident(r)} ref=https://app.example.com/${pick(r, WORDS)}\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join(''), 'utf8');
}

/** node_modules of this project, files in a stable order, split into `parts` groups by package. */
function nodeModulesFiles(root, parts) {
  const nm = join(root, 'node_modules');
  /** @type {string[]} */
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile()) files.push(path);
    }
  };
  walk(nm);
  const groups = Array.from({ length: parts }, () => /** @type {string[]} */ ([]));
  files.forEach((f) => {
    const pkg = relative(nm, f).split('/').slice(0, relative(nm, f).startsWith('@') ? 2 : 1).join('/');
    const h = createHash('sha1').update(pkg).digest()[0];
    groups[h % parts].push(f);
  });
  return { nm, groups };
}

/**
 * Writes one layer: the uncompressed tar and its gzip next to each other, in one pass.
 * @param {string} base path without extension
 * @param {(pack: import('tar-stream').Pack) => Promise<void>} fill
 */
async function writeLayer(base, fill) {
  const pack = tar.pack();
  const tarHash = createHash('sha256');
  const gzHash = createHash('sha256');
  let tarBytes = 0;
  let gzBytes = 0;
  const tapTar = new PassThrough();
  const raw = createWriteStream(`${base}.tar`);
  const gz = createGzip({ level: 6 });
  pack.on('data', (c) => {
    tarHash.update(c);
    tarBytes += c.length;
  });
  const toRaw = pipeline(tapTar, raw);
  const toGz = pipeline(
    gz,
    new PassThrough({
      transform(c, _e, cb) {
        gzHash.update(c);
        gzBytes += c.length;
        cb(null, c);
      },
    }),
    createWriteStream(`${base}.tar.gz`),
  );
  pack.on('data', (c) => {
    if (!tapTar.write(c) | !gz.write(c)) {
      pack.pause();
      let waiting = 2;
      const go = () => --waiting === 0 && pack.resume();
      if (tapTar.writableNeedDrain) tapTar.once('drain', go);
      else go();
      if (gz.writableNeedDrain) gz.once('drain', go);
      else go();
    }
  });
  const ended = new Promise((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  await fill(pack);
  pack.finalize();
  await ended;
  tapTar.end();
  gz.end();
  await Promise.all([toRaw, toGz]);
  return { diffId: `sha256:${tarHash.digest('hex')}`, digest: `sha256:${gzHash.digest('hex')}`, tarBytes, gzBytes };
}

/** Adds a file entry and waits for tar-stream to take it (back-pressure). */
function addFile(pack, name, content) {
  return new Promise((resolve, reject) => {
    pack.entry({ name, mtime: EPOCH, uid: 0, gid: 0, mode: 0o644, size: content.length }, content, (err) => (err ? reject(err) : resolve(undefined)));
  });
}

function addStreamed(pack, name, path, size) {
  return new Promise((resolve, reject) => {
    const entry = pack.entry({ name, mtime: EPOCH, uid: 0, gid: 0, mode: 0o644, size }, (err) => (err ? reject(err) : resolve(undefined)));
    pipeline(createReadStream(path), entry).catch(reject);
  });
}

/**
 * @param {{ outDir: string, targetMiB: number, root: string, log?: (s: string) => void }} options
 */
export async function buildBenchImages({ outDir, targetMiB, root, log = () => {} }) {
  const stamp = join(outDir, 'images.json');
  if (existsSync(stamp)) {
    const done = JSON.parse(readFileSync(stamp, 'utf8'));
    if (done.targetMiB === targetMiB && Object.values(done.archives).every((p) => existsSync(/** @type {string} */ (p)))) return done;
  }
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const { nm, groups } = nodeModulesFiles(root, 2);
  const nmBytes = groups.flat().reduce((n, f) => n + statSync(f).size, 0);
  const generated = Math.max(64 * MiB, targetMiB * MiB - nmBytes - 40 * MiB);
  const sourceBytes = Math.round(generated * 0.45);
  const logBytes = generated - sourceBytes;

  /** @type {{ name: string, createdBy: string, fill: (pack: any) => Promise<void> }[]} */
  const steps = [];
  groups.forEach((files, i) =>
    steps.push({
      name: `nm${i}`,
      createdBy: `/bin/sh -c npm ci # part ${i + 1}`,
      fill: async (pack) => {
        for (const f of files) await addStreamed(pack, `app/${relative(dirname(nm), f)}`, f, statSync(f).size);
      },
    }),
  );
  steps.push({
    name: 'src',
    createdBy: '/bin/sh -c #(nop) COPY dir:src in /app/src',
    fill: async (pack) => {
      const r = prng(1);
      let n = 0;
      for (let i = 0; n < sourceBytes; i++) {
        const size = 2000 + Math.floor(r() * 60000);
        const body = sourceFile(r, size);
        await addFile(pack, `app/src/${pick(r, WORDS)}/${pick(r, WORDS)}/${ident(r)}-${i}.js`, body);
        n += body.length;
      }
    },
  });
  steps.push({
    name: 'logs',
    createdBy: '/bin/sh -c ./collect-logs.sh > /var/log/app',
    fill: async (pack) => {
      const r = prng(2);
      let n = 0;
      for (let day = 1; n < logBytes; day++) {
        // Mostly a few MiB; one in six is large, so windows of big files are exercised too.
        const size = day % 6 === 0 ? 24 * MiB : 1 * MiB + Math.floor(r() * 3 * MiB);
        const body = logFile(r, Math.min(size, logBytes - n + 1024), day);
        await addFile(pack, `var/log/app/app-${String(day).padStart(4, '0')}.log`, body);
        n += body.length;
      }
    },
  });
  const appLayer = (seed) => ({
    name: `app${seed}`,
    createdBy: `/bin/sh -c #(nop) COPY dir:app-${seed} in /app/dist`,
    fill: async (pack) => {
      const r = prng(100 + seed);
      let n = 0;
      for (let i = 0; n < 24 * MiB; i++) {
        const body = sourceFile(r, 4000 + Math.floor(r() * 40000));
        await addFile(pack, `app/dist/chunk-${i}.js`, body);
        n += body.length;
      }
      // Fake secrets in real formats (random, never valid), so the scan has findings to attribute.
      await addFile(pack, 'app/.env', Buffer.from(`GITHUB_TOKEN=ghp_${alnum(r, 36)}\nAWS_ACCESS_KEY_ID=AKIA${alnum(r, 16).toUpperCase().replace(/[^A-Z2-7]/g, 'Q')}\nNPM_TOKEN=npm_${alnum(r, 36)}\n`));
    },
  });

  const layerDir = join(outDir, 'layers');
  mkdirSync(layerDir, { recursive: true });
  const built = new Map();
  for (const step of [...steps, appLayer(1), appLayer(2)]) {
    log(`building layer ${step.name}`);
    built.set(step.name, { ...(await writeLayer(join(layerDir, step.name), step.fill)), createdBy: step.createdBy, path: join(layerDir, step.name) });
  }
  const base = steps.map((s) => built.get(s.name));
  const images = {
    gzip: { layers: [...base, built.get('app1')], compression: 'gzip' },
    'gzip-changed': { layers: [...base, built.get('app2')], compression: 'gzip' },
    docker: { layers: [...base, built.get('app1')], compression: 'none' },
  };
  /** @type {Record<string, string>} */
  const archives = {};
  for (const [name, img] of Object.entries(images)) {
    log(`writing ${name}.tar`);
    archives[name] = join(outDir, `${name}.tar`);
    await writeArchive(archives[name], img.layers, img.compression === 'gzip' ? 'oci' : 'docker');
  }
  rmSync(layerDir, { recursive: true, force: true });
  const uncompressed = images.gzip.layers.reduce((n, l) => n + l.tarBytes, 0);
  const compressed = images.gzip.layers.reduce((n, l) => n + l.gzBytes, 0);
  const changedLayer = { index: images.gzip.layers.length - 1, tarBytes: built.get('app2').tarBytes, gzBytes: built.get('app2').gzBytes };
  const result = { targetMiB, archives, layers: images.gzip.layers.length, uncompressedBytes: uncompressed, gzipBytes: compressed, changedLayer };
  writeFileSync(stamp, JSON.stringify(result, null, 2));
  return result;
}

/** The outer tarball: OCI archive (gzip blobs) or legacy docker save (uncompressed layer.tar). */
async function writeArchive(path, layers, kind) {
  const history = layers.map((l) => ({ created: '1970-01-01T00:00:00Z', created_by: l.createdBy }));
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'], Cmd: ['node', '/app/dist/chunk-0.js'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history,
  }));
  const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  /** @type {{ name: string, content?: Buffer, file?: string, size: number }[]} */
  const members = [];
  if (kind === 'oci') {
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.gzBytes })),
    }));
    members.push({ name: 'oci-layout', content: Buffer.from('{"imageLayoutVersion":"1.0.0"}'), size: 30 });
    members.push({ name: `blobs/sha256/${sha(config).slice(7)}`, content: config, size: config.length });
    members.push({ name: `blobs/sha256/${sha(manifest).slice(7)}`, content: manifest, size: manifest.length });
    for (const l of layers) members.push({ name: `blobs/sha256/${l.digest.slice(7)}`, file: `${l.path}.tar.gz`, size: l.gzBytes });
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest', 'io.containerd.image.name': 'bench/app:latest' } }] }));
    members.push({ name: 'index.json', content: index, size: index.length });
  } else {
    const configName = `${sha(config).slice(7)}.json`;
    members.push({ name: configName, content: config, size: config.length });
    const paths = layers.map((l, i) => {
      const id = createHash('sha256').update(`${i}:${l.diffId}`).digest('hex');
      members.push({ name: `${id}/layer.tar`, file: `${l.path}.tar`, size: l.tarBytes });
      return `${id}/layer.tar`;
    });
    const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['bench/app:latest'], Layers: paths }]));
    members.push({ name: 'manifest.json', content: manifest, size: manifest.length });
  }
  const pack = tar.pack();
  const out = pipeline(pack, createWriteStream(`${path}.tmp`));
  for (const m of members) {
    if (m.content) await addFile(pack, m.name, m.content);
    else await addStreamed(pack, m.name, /** @type {string} */ (m.file), m.size);
  }
  pack.finalize();
  await out;
  renameSync(`${path}.tmp`, path);
}
