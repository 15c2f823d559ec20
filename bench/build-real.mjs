// @ts-check
/**
 * Benchmark images of real files from this machine (issue 15), the way `bench/noise.mjs` packs
 * them: Debian's /usr/share (man pages and changelogs as thousands of small .gz files), Python's
 * standard library (the system's and pyenv's), node_modules trees, a toolchain with binaries and
 * the C headers. Four layers, each cut at a byte budget from its directories in sorted order
 * (content repeated under another prefix when the machine has too little), a few fake secrets
 * planted in them (some inside .gz members), and three archives of the same image:
 *
 *   gzip.tar     OCI archive, gzip layers (`gzip -6 -n`)
 *   zstd.tar     OCI archive, zstd layers (`zstd -3`, as skopeo --dest-compress-format zstd)
 *   docker.tar   docker save, uncompressed layers: the same diff_ids
 *
 * The images depend on what is installed here, so they are not comparable across machines: the
 * bench reports each against floors measured in the same run, on the same files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { seededRandom } from '../dist/detect/template.js';

const MiB = 1024 * 1024;

/** Existing directories among `paths`, in that order (each glob expanded by the shell, sorted). */
function dirs(...paths) {
  return paths.flatMap((pattern) => {
    const r = spawnSync('sh', ['-c', `ls -d ${pattern} 2>/dev/null`], { encoding: 'utf8' });
    return r.stdout.split('\n').filter((d) => d && existsSync(d) && lstatSync(d).isDirectory());
  });
}

/** The four layers: what each is made of, and its share of the image. */
function layerPlan(root) {
  return [
    { name: 'debian-share', createdBy: '/bin/sh -c apt-get install -y man-db manpages …', share: 0.3, dirs: dirs('/usr/share/man', '/usr/share/doc', '/usr/share') },
    {
      name: 'python',
      createdBy: '/bin/sh -c pyenv install 3.10 3.11 3.12',
      share: 0.3,
      dirs: dirs('/usr/lib/python3*', '/root/.pyenv/versions/3.10*/lib', '/root/.pyenv/versions/3.12*/lib', '/root/.pyenv/versions/3.11*/lib', '/root/.pyenv/versions/*/lib'),
    },
    { name: 'node', createdBy: '/bin/sh -c npm ci', share: 0.15, dirs: dirs(join(root, 'node_modules'), '/usr/lib/node_modules', '/usr/local/lib/node_modules') },
    { name: 'toolchain', createdBy: '/bin/sh -c apt-get install -y build-essential default-jdk', share: 0.25, dirs: dirs('/usr/include', '/usr/lib/gcc', '/usr/lib/jvm', '/usr/libexec/gcc', '/usr/lib/x86_64-linux-gnu') },
  ];
}

/**
 * Regular files, directories and symlinks under `roots` in sorted order, until `budget` bytes of
 * file content; every path once (the roots may nest). Unreadable files are left out.
 */
function listFiles(roots, budget) {
  const seen = new Set();
  const out = [];
  let bytes = 0;
  const walk = (dir) => {
    if (bytes >= budget || seen.has(dir)) return;
    seen.add(dir);
    out.push(dir);
    let names;
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (bytes >= budget) return;
      const p = join(dir, name);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) {
        if (!seen.has(p)) out.push(p), seen.add(p);
      } else if (st.isFile() && !seen.has(p)) {
        try {
          // Readable at all (a root-only file in a container is fine; a socket-like one is not).
          if (st.mode & 0o444) {
            seen.add(p);
            out.push(p);
            bytes += st.size;
          }
        } catch {
          continue;
        }
      }
    }
  };
  for (const root of roots) walk(root);
  return { paths: out, bytes };
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * MiB, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} …: exit ${r.status}: ${String(r.stderr).slice(0, 500)}`);
  return r;
}

function runAsync(command) {
  return new Promise((resolve, reject) => {
    const p = spawn('sh', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`${command}: exit ${code}`))));
  });
}

/**
 * A few fake secrets in real formats (random each build of the image, never valid): as plain
 * files, and inside single-file .gz members like Debian's changelogs and man pages.
 */
function plantFiles(dir, seed) {
  const r = seededRandom(seed);
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const alnum = (n) => Array.from({ length: n }, () => a[Math.floor(r() * a.length)]).join('');
  const upper = (n) => Array.from({ length: n }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[Math.floor(r() * 32)]).join('');
  const files = [
    ['srv/planted/app/.env', `GITHUB_TOKEN=ghp_${alnum(36)}\nNPM_TOKEN=npm_${alnum(36)}\n`, false],
    ['srv/planted/app/settings.py', `AWS_ACCESS_KEY_ID = "AKIA${upper(16)}"\nSTRIPE_KEY = "sk_live_${alnum(24)}"\n`, false],
    ['srv/planted/doc/changelog.Debian.gz', `planted (1.0) unstable; urgency=low\n\n  * token: glpat-${alnum(20)}\n\n -- Planted <p@example.com>  Mon, 1 Jan 2024 00:00:00 +0000\n`, true],
    ['srv/planted/man/man1/planted.1.gz', `.TH PLANTED 1\n.SH EXAMPLE\nexport SLACK_TOKEN=xoxb-${String(Math.floor(r() * 1e12)).padStart(12, '1')}-${String(Math.floor(r() * 1e12)).padStart(12, '2')}-${alnum(24)}\n`, true],
    ['srv/planted/log/app.log.gz', `${'2024-01-01T00:00:00Z INFO ok\n'.repeat(2000)}url=https://deploy:${alnum(20)}@git.example.com/repo.git\n`, true],
  ];
  for (const [name, text, gz] of files) {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, gz ? gzipSync(Buffer.from(text), { level: 9 }) : text);
  }
  return files.map(([name]) => name);
}

async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

const TAR_FLAGS = ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--warning=none', '--ignore-failed-read', '--no-recursion'];

/** One layer's uncompressed tar: its files (repeated under copyN/ until the budget), and the planted ones. */
function writeLayerTar(path, layer, budget, work, plantDir, planted) {
  const { paths, bytes } = listFiles(layer.dirs, budget);
  const list = join(work, `${layer.name}.list`);
  writeFileSync(list, paths.map((p) => p.replace(/^\//, '')).join('\n') + '\n');
  run('tar', ['-cf', path, '-C', '/', ...TAR_FLAGS, '-T', list]);
  // Too little content here for the budget: the same files again under another root.
  for (let copy = 2, total = bytes; bytes > 0 && total + bytes / 2 < budget; copy++, total += bytes) {
    run('tar', ['-rf', path, '-C', '/', ...TAR_FLAGS, `--transform=s,^,copy${copy}/,`, '-T', list]);
  }
  if (planted.length > 0) run('tar', ['-rf', path, '-C', plantDir, ...TAR_FLAGS, ...planted]);
}

/**
 * @param {{ outDir: string, targetMiB: number, root: string, log?: (s: string) => void }} options
 */
export async function buildRealImages({ outDir, targetMiB, root, log = () => {} }) {
  const stamp = join(outDir, 'images.json');
  if (existsSync(stamp)) {
    const done = JSON.parse(readFileSync(stamp, 'utf8'));
    if (done.targetMiB === targetMiB && Object.values(done.archives).every((p) => existsSync(/** @type {string} */ (p)))) return done;
  }
  rmSync(outDir, { recursive: true, force: true });
  const work = join(outDir, 'work');
  mkdirSync(work, { recursive: true });
  const plantDir = join(work, 'plant');
  const plantedNames = plantFiles(plantDir, 15);
  const plan = layerPlan(root);
  const layers = [];
  for (const [i, layer] of plan.entries()) {
    log(`layer ${layer.name}: ${layer.dirs.join(' ')}`);
    const tarPath = join(work, `${layer.name}.tar`);
    // Planted secrets go in the first and the last layer: one path each kind.
    const planted = i === 0 ? plantedNames.filter((n) => n.endsWith('.gz')) : i === plan.length - 1 ? plantedNames.filter((n) => !n.endsWith('.gz')) : [];
    writeLayerTar(tarPath, layer, Math.round(targetMiB * MiB * layer.share), work, plantDir, planted);
    layers.push({ ...layer, tarPath, tarBytes: statSync(tarPath).size });
  }
  // Compress each layer both ways, the layers two at a time (gzip is single-threaded).
  log('compressing (gzip -6, zstd -3)');
  const commands = layers.flatMap((l) => [`gzip -6 -n -c '${l.tarPath}' > '${l.tarPath}.gz'`, `zstd -q -3 -T1 -c '${l.tarPath}' > '${l.tarPath}.zst'`]);
  await Promise.all([0, 1].map(async () => {
    for (let c = commands.shift(); c !== undefined; c = commands.shift()) await runAsync(c);
  }));
  for (const l of layers) {
    l.diffId = await sha256File(l.tarPath);
    l.gzipDigest = await sha256File(`${l.tarPath}.gz`);
    l.gzipBytes = statSync(`${l.tarPath}.gz`).size;
    l.zstdDigest = await sha256File(`${l.tarPath}.zst`);
    l.zstdBytes = statSync(`${l.tarPath}.zst`).size;
  }
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '1970-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({ created: '1970-01-01T00:00:00Z', created_by: l.createdBy })),
  }));
  const archives = {};
  for (const kind of ['gzip', 'zstd', 'docker']) {
    log(`writing ${kind}.tar`);
    archives[kind] = join(outDir, `${kind}.tar`);
    writeArchive(archives[kind], join(work, `stage-${kind}`), layers, config, kind);
  }
  rmSync(work, { recursive: true, force: true });
  const result = {
    targetMiB,
    archives,
    layers: layers.length,
    files: null,
    uncompressedBytes: layers.reduce((n, l) => n + l.tarBytes, 0),
    gzipBytes: layers.reduce((n, l) => n + l.gzipBytes, 0),
    zstdBytes: layers.reduce((n, l) => n + l.zstdBytes, 0),
    planted: plantedNames.map((n) => `/${n}`),
    sources: plan.map((l) => ({ name: l.name, dirs: l.dirs })),
  };
  writeFileSync(stamp, JSON.stringify(result, null, 2));
  return result;
}

/** Moves the layer files into a staging tree laid out as the archive, then tars it (no copy in between). */
function writeArchive(path, stage, layers, config, kind) {
  const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  mkdirSync(join(stage, 'blobs', 'sha256'), { recursive: true });
  const put = (name, content) => writeFileSync(join(stage, name), content);
  const names = [];
  if (kind === 'docker') {
    const configName = `${sha(config).slice(7)}.json`;
    put(configName, config);
    const paths = layers.map((l, i) => {
      const id = createHash('sha256').update(`${i}:${l.diffId}`).digest('hex');
      mkdirSync(join(stage, id));
      renameSync(l.tarPath, join(stage, id, 'layer.tar'));
      return `${id}/layer.tar`;
    });
    put('manifest.json', JSON.stringify([{ Config: configName, RepoTags: ['bench/real:latest'], Layers: paths }]));
    names.push(configName, ...paths, 'manifest.json');
  } else {
    const ext = kind === 'gzip' ? 'gz' : 'zst';
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar+${kind}`, digest: l[`${kind}Digest`], size: l[`${kind}Bytes`] })),
    }));
    put('oci-layout', '{"imageLayoutVersion":"1.0.0"}');
    put(`blobs/sha256/${sha(config).slice(7)}`, config);
    put(`blobs/sha256/${sha(manifest).slice(7)}`, manifest);
    for (const l of layers) renameSync(`${l.tarPath}.${ext}`, join(stage, 'blobs', 'sha256', l[`${kind}Digest`].slice(7)));
    put('index.json', JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
    names.push('oci-layout', 'index.json', 'blobs');
  }
  run('tar', ['-cf', `${path}.tmp`, '-C', stage, '--owner=0', '--group=0', '--numeric-owner', ...names]);
  renameSync(`${path}.tmp`, path);
  rmSync(stage, { recursive: true, force: true });
}
