// Proves the real-tools harness works end to end: private dockerd → busybox base →
// classic build → docker save → skopeo oci-archive (gzip, zstd). Later suites build on it.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeReal } from './support/describe-real.js';
import { DOCKERD_BINS, startDockerd, type Dockerd } from './support/dockerd.mjs';
import { SKOPEO_BINS, skopeoCopy } from './support/skopeo.mjs';
import { readDockerArchive, readOciArchive, readTarEntries } from './support/tarball.mjs';

const BASE = 'stratascan-harness/busybox:latest';
const IMAGE = 'stratascan-harness/sample:latest';

const DOCKERFILE = `FROM ${BASE}
ARG GREETING
RUN echo "greeting=$GREETING" > /root/greeting.txt
ENV HARNESS_MODE=on
LABEL org.example.harness="yes"
RUN printf 'second\\n' > /tmp/second.txt
`;

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** Wall-clock per phase, printed once so slow machines are easy to diagnose. */
const timings: Record<string, number> = {};
async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    timings[label] = Math.round(performance.now() - t0);
  }
}

describeReal('real-tools harness (dockerd 20.10 + skopeo)', [...DOCKERD_BINS, ...SKOPEO_BINS, 'busybox'], () => {
  let dockerd: Dockerd | undefined;
  let out: string;
  let savedTar: string;

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'stratascan-harness-'));
    savedTar = join(out, 'sample-docker-save.tar');
    dockerd = await timed('dockerd start', () => startDockerd());
    const d = dockerd;
    await timed('busybox import', () => d.importBusybox(BASE));
    await timed('build', () => d.build(IMAGE, DOCKERFILE, { buildArgs: { GREETING: 'hello-harness' } }));
    await timed('docker save', () => d.save([IMAGE], savedTar));
  }, 180_000);

  afterAll(async () => {
    const d = dockerd;
    if (d) {
      await timed('dockerd stop', () => d.stop());
      // The daemon must really be gone: a leaked dockerd would outlive the test run.
      expect(isAlive(d.pid)).toBe(false);
      expect(existsSync(d.dir)).toBe(false);
    }
    if (out) await rm(out, { recursive: true, force: true });
    console.info(`harness timings (ms): ${JSON.stringify(timings)}`);
  }, 60_000);

  it('answers the docker CLI on its private socket only', async () => {
    const d = dockerd!;
    expect(d.host).toBe(`unix://${d.socketPath}`);
    expect(d.socketPath.length).toBeLessThan(108);
    const { stdout } = await d.run(['info', '--format', '{{.Driver}} {{.DockerRootDir}}']);
    expect(stdout.toString().trim()).toBe(`vfs ${d.dir}/data`);
  });

  it('docker save writes manifest.json, a config and one layer per RUN', async () => {
    const { manifest, config, layerPaths } = await readDockerArchive(savedTar);
    expect(manifest[0]?.RepoTags).toEqual([IMAGE]);
    expect(layerPaths).toHaveLength(3); // busybox base + two RUNs
    expect(config.rootfs?.diff_ids).toHaveLength(3);
    expect(config.config?.Env).toContain('HARNESS_MODE=on');
    expect(config.config?.Labels).toMatchObject({ 'org.example.harness': 'yes' });
  });

  it('classic builder history: empty_layer for ARG/ENV/LABEL, build args prefixed on RUN', async () => {
    const { config } = await readDockerArchive(savedTar);
    const history = config.history ?? [];
    const rows = history.map((h) => ({ by: h.created_by ?? '', empty: h.empty_layer === true }));
    expect(rows.map((r) => r.empty)).toEqual([false, true, false, true, true, false]);
    expect(rows[1]?.by).toMatch(/#\(nop\)\s+ARG GREETING$/);
    // A build arg in scope is recorded on every later RUN as "|<count> K=V … /bin/sh -c …".
    expect(rows[2]?.by).toBe('|1 GREETING=hello-harness /bin/sh -c echo "greeting=$GREETING" > /root/greeting.txt');
    expect(rows[5]?.by).toMatch(/^\|1 GREETING=hello-harness \/bin\/sh -c printf/);
    expect(rows[3]?.by).toMatch(/#\(nop\)\s+ENV HARNESS_MODE=on$/);
    expect(rows[4]?.by).toMatch(/#\(nop\)\s+LABEL org\.example\.harness=yes$/);
  });

  it('the RUN layer holds the file it wrote, with the expanded build arg', async () => {
    const { layerPaths } = await readDockerArchive(savedTar);
    const layerName = layerPaths[1]!;
    const outer = await readTarEntries(savedTar, (name) => name === layerName);
    const inner = await readTarEntries(outer.get(layerName)!, (name) => name === 'root/greeting.txt');
    expect(inner.get('root/greeting.txt')?.toString()).toBe('greeting=hello-harness\n');
  });

  it.each([
    ['gzip', 'application/vnd.oci.image.layer.v1.tar+gzip', GZIP_MAGIC],
    ['zstd', 'application/vnd.oci.image.layer.v1.tar+zstd', ZSTD_MAGIC],
  ] as const)('skopeo docker-archive → oci-archive with %s layers', async (compress, mediaType, magic) => {
    const dest = join(out, `sample-oci-${compress}.tar`);
    await timed(`skopeo ${compress}`, () =>
      skopeoCopy(`docker-archive:${savedTar}`, `oci-archive:${dest}`, { compress }),
    );
    const oci = await readOciArchive(dest);
    expect(oci.layerMediaTypes).toEqual([mediaType, mediaType, mediaType]);
    // History (with empty_layer) survives the conversion; the scanner relies on it.
    expect(oci.config.history?.map((h) => h.empty_layer === true)).toEqual([false, true, false, true, true, false]);
    // The media type is not just a label: the blob really is in that format.
    const firstLayer = `blobs/${oci.manifest.layers[0]!.digest.replace(':', '/')}`;
    const blobs = await readTarEntries(dest, (name) => name === firstLayer);
    expect(blobs.get(firstLayer)?.subarray(0, magic.length)).toEqual(magic);
    expect((await stat(dest)).size).toBeLessThan(4 * 1024 * 1024);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
