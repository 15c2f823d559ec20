// A single-layer copy of the real-content image (bench/build-real.mjs): its layers joined into one
// tar, gzip'd, as an OCI archive. One big layer is the case a layer-per-thread scan cannot spread
// over cores, so the bench measures it beside the four-layer image.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}`);
  return r;
}

async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Builds (once; kept beside the source) `<outDir>/gzip.tar` from the docker save at `dockerTar`.
 * @param {{ dockerTar: string, outDir: string, log?: (s: string) => void }} options
 */
export async function buildSingleLayerImage({ dockerTar, outDir, log = () => {} }) {
  const stamp = join(outDir, 'images.json');
  if (existsSync(stamp)) {
    const done = JSON.parse(readFileSync(stamp, 'utf8'));
    if (done.source === dockerTar && existsSync(done.archives.gzip)) return done;
  }
  rmSync(outDir, { recursive: true, force: true });
  const work = join(outDir, 'work');
  mkdirSync(work, { recursive: true });
  log(`joining the layers of ${dockerTar}`);
  run('tar', ['-xf', dockerTar, '-C', work, 'manifest.json']);
  const [{ Layers: layerPaths, Config: configName }] = JSON.parse(readFileSync(join(work, 'manifest.json'), 'utf8'));
  run('tar', ['-xf', dockerTar, '-C', work, configName, ...layerPaths]);
  const joined = join(work, 'layer.tar');
  renameSync(join(work, layerPaths[0]), joined);
  // GNU tar's --concatenate drops each archive's end-of-archive blocks, so one walk sees every entry.
  for (const p of layerPaths.slice(1)) run('tar', ['--concatenate', '-f', joined, join(work, p)]);
  log('compressing (gzip -6)');
  run('sh', ['-c', `gzip -6 -n -c '${joined}' > '${joined}.gz'`]);
  const diffId = await sha256File(joined);
  const tarBytes = statSync(joined).size;
  const gzipDigest = await sha256File(`${joined}.gz`);
  const gzipBytes = statSync(`${joined}.gz`).size;
  const original = JSON.parse(readFileSync(join(work, configName), 'utf8'));
  const config = Buffer.from(JSON.stringify({
    ...original,
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'the real-content layers, joined' }],
  }));
  const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: gzipDigest, size: gzipBytes }],
  }));
  const stage = join(work, 'stage');
  mkdirSync(join(stage, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(stage, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(stage, 'blobs', 'sha256', sha(config).slice(7)), config);
  writeFileSync(join(stage, 'blobs', 'sha256', sha(manifest).slice(7)), manifest);
  renameSync(`${joined}.gz`, join(stage, 'blobs', 'sha256', gzipDigest.slice(7)));
  writeFileSync(join(stage, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length }] }));
  const archive = join(outDir, 'gzip.tar');
  run('tar', ['-cf', `${archive}.tmp`, '-C', stage, '--owner=0', '--group=0', '--numeric-owner', 'oci-layout', 'index.json', 'blobs']);
  renameSync(`${archive}.tmp`, archive);
  rmSync(work, { recursive: true, force: true });
  const result = { source: dockerTar, archives: { gzip: archive }, layers: 1, uncompressedBytes: tarBytes, gzipBytes };
  writeFileSync(stamp, JSON.stringify(result, null, 2));
  return result;
}
