// The daemon source against a real private dockerd 20.10, and the registry source against the
// same image pushed by that dockerd to a loopback docker-registry: one image, three ways in
// (docker save tarball, the daemon's /images/{name}/get stream, the registry API), identical
// findings. Also: the CLI's one-line errors for a daemon that is down, a socket we may not
// open, an unknown image, and the "scan before push" CI gate from the README.
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN as CLI_BIN, cli, expectOneLineError } from './support/cli-run.js';
import { scanImage } from '../src/scan.js';
import type { ScanReport } from '../src/types.js';
import { daemonError } from '../src/source/daemon.js';
import { describeReal } from './support/describe-real.js';
import { DOCKERD_BINS, startDockerd, type Dockerd } from './support/dockerd.mjs';
import { REGISTRY_BINS, startRegistry, type Registry } from './support/registry.mjs';
// The leaky recipe the committed real fixtures are built from: deleted and overwritten secrets,
// ENV, LABEL, a build arg in history. A fresh seed per run: no value is ever stored.
import { BASE_TAG, makeFakeSecrets, renderBuild } from '../scripts/regen-real-fixtures.mjs';

const BIN = CLI_BIN;
const IMAGE = 'stratascan-daemon/leaky:1';
const secrets: Record<string, string> = makeFakeSecrets((Date.now() % 1_000_000) + 11);
const secretValues = Object.values(secrets);




function expectNoSecrets(text: string) {
  for (const value of secretValues) expect(text.includes(value), 'a raw secret was printed').toBe(false);
}

describe('daemon errors are one actionable line', () => {
  it('maps connection, permission and 404 errors', () => {
    const where = 'unix:///var/run/docker.sock';
    expect(daemonError(Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' }), where, 'a').message).toMatch(/cannot connect to the Docker daemon at unix:.*is it running/);
    expect(daemonError(Object.assign(new Error('connect EACCES'), { code: 'EACCES' }), where, 'a').message).toMatch(/permission denied on the Docker daemon socket/);
    expect(daemonError({ statusCode: 404, json: { message: 'No such image: a' } }, where, 'a:1').message).toBe(`the Docker daemon at ${where} has no image a:1`);
    expect(daemonError({ statusCode: 500, json: { message: 'boom' } }, where, 'a').message).toMatch(/failed for a: boom$/);
  });
});

describeReal('daemon and registry sources (dockerd 20.10 + docker-registry 2.8)', [...DOCKERD_BINS, ...REGISTRY_BINS, 'busybox'], () => {
  let dockerd: Dockerd | undefined;
  let registry: Registry | undefined;
  let out: string;
  let savedTar: string;
  let pushed: string;
  let onlyInRegistry: string;
  let env: Record<string, string>;
  const reports: Record<string, ScanReport> = {};

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'stratascan-daemon-'));
    savedTar = join(out, 'leaky.tar');
    [dockerd, registry] = await Promise.all([startDockerd(), startRegistry()]);
    const d = dockerd;
    env = { DOCKER_HOST: d.host };
    pushed = `${registry.host}/stratascan/leaky:1`;
    onlyInRegistry = `${registry.host}/stratascan/elsewhere:2`;
    await d.importBusybox(BASE_TAG);
    const { dockerfile, files, buildArgs } = renderBuild(secrets);
    await d.build(IMAGE, dockerfile, { files, buildArgs, redact: secretValues });
    await d.save([IMAGE], savedTar);
    // dockerd 20.10 pushes to a loopback registry over plain HTTP without configuration.
    await d.run(['tag', IMAGE, pushed]);
    await d.run(['push', pushed]);
    await d.run(['tag', IMAGE, onlyInRegistry]);
    await d.run(['push', onlyInRegistry]);
    await d.run(['rmi', onlyInRegistry]);
  }, 300_000);

  afterAll(async () => {
    const d = dockerd;
    const r = registry;
    await Promise.all([d?.stop(), r?.stop()]);
    if (d) expect(existsSync(d.dir)).toBe(false);
    if (r) expect(existsSync(r.dir)).toBe(false);
    if (out) await rm(out, { recursive: true, force: true });
  }, 60_000);

  async function scanWithDaemon(target: string, options: Parameters<typeof scanImage>[1] = {}): Promise<ScanReport> {
    const before = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = dockerd!.host;
    try {
      return await scanImage(target, { jobs: 2, ...options });
    } finally {
      if (before === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = before;
    }
  }

  it('a tarball, the daemon and the registry give identical findings', async () => {
    reports.tarball = await scanImage(savedTar, { jobs: 2 });
    reports.daemon = await scanWithDaemon(`docker-daemon:${IMAGE}`);
    reports.registry = await scanImage(`docker://${pushed}`, { jobs: 2 });
    const { tarball, daemon, registry: fromRegistry } = reports as Required<typeof reports>;
    // The image really has deleted and overwritten secrets, attributed to their layers.
    expect(tarball.findings.length).toBeGreaterThanOrEqual(6);
    expect(tarball.findings.some((f) => f.inFinalImage === false && f.removedBy !== null)).toBe(true);
    expect(tarball.findings.some((f) => f.source === 'history')).toBe(true);

    expect(daemon.findings).toEqual(tarball.findings);
    expect(fromRegistry.findings).toEqual(tarball.findings);
    expect(tarball.image.format).toBe('docker-archive');
    expect(daemon.image.format).toBe('docker-daemon');
    expect(fromRegistry.image.format).toBe('registry');
    expect(daemon.target).toBe(`docker-daemon:${IMAGE}`);
    // Same image: the daemon's stream is the docker save tarball byte for byte.
    expect({ ...daemon.image, format: 'x' }).toEqual({ ...tarball.image, format: 'x' });
    // The registry stores compressed blobs: same layers by diff_id and build step, its own digests.
    const layerView = (r: ScanReport) => r.image.layers.map((l) => ({ index: l.index, diffId: l.diffId, createdBy: l.createdBy }));
    expect(layerView(fromRegistry)).toEqual(layerView(tarball));
    expect(fromRegistry.image.platform).toBe(tarball.image.platform);
    expect(fromRegistry.image.reference).toBe(pushed);
    expect(fromRegistry.image.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(fromRegistry.image.layers.every((l) => l.digest !== null && l.digest !== l.diffId)).toBe(true);
    expectNoSecrets(JSON.stringify(reports));
  }, 120_000);

  it('a bare reference is read from the daemon when it has the image', async () => {
    const report = await scanWithDaemon(IMAGE);
    expect(report.image.format).toBe('docker-daemon');
    expect(report.findings).toEqual(reports.tarball!.findings);
  });

  it('a bare reference the daemon lacks is fetched from the registry, unless --pull never', async () => {
    const report = await scanWithDaemon(onlyInRegistry);
    expect(report.image.format).toBe('registry');
    expect(report.findings).toEqual(reports.tarball!.findings);
    const always = await scanWithDaemon(pushed, { pull: 'always' });
    expect(always.image.format).toBe('registry');
    expectOneLineError(await cli(['scan', onlyInRegistry, '--pull', 'never'], { env }), /has no image .*--pull never/);
  });

  it('the CLI scans docker-daemon: and exits 1 on findings', async () => {
    const r = await cli(['scan', `docker-daemon:${IMAGE}`, '--format', 'json'], { env });
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout) as ScanReport;
    expect(report.image.format).toBe('docker-daemon');
    expect(report.findings).toEqual(reports.tarball!.findings);
    expectNoSecrets(r.stdout + r.stderr);
  });

  it('daemon down: exit 2, one line', async () => {
    const dead = `unix://${join(out, 'no-daemon.sock')}`;
    expectOneLineError(await cli(['scan', `docker-daemon:${IMAGE}`], { env: { DOCKER_HOST: dead } }), /cannot connect to the Docker daemon at unix:.*no-daemon\.sock: is it running/);
    expectOneLineError(await cli(['scan', IMAGE, '--pull', 'never'], { env: { DOCKER_HOST: dead } }), /cannot connect to the Docker daemon/);
    expectOneLineError(await cli(['scan', `docker-daemon:${IMAGE}`], { env: { DOCKER_HOST: 'tcp://127.0.0.1:1' } }), /cannot connect to the Docker daemon at tcp:\/\/127\.0\.0\.1:1/);
  });

  it('unknown image: exit 2, one line', async () => {
    expectOneLineError(await cli(['scan', 'docker-daemon:stratascan/never-built:1'], { env }), /the Docker daemon at unix:.* has no image stratascan\/never-built:1$/);
  });

  it('a socket we may not open: exit 2, one line', async () => {
    // The private daemon's socket lives in a 0700 dir of root's; uid 65534 may not connect.
    // (Root itself is never refused by a socket's mode, hence another user.)
    const canRun = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(BIN)}, require('fs').constants.R_OK)`], { uid: 65534, gid: 65534, cwd: '/' });
    if (canRun.status !== 0) {
      console.warn(`*** permission test limited to the error mapping: uid 65534 cannot read ${BIN} ***`);
      return;
    }
    // That user gets a home of its own: caches under root's HOME are not its business.
    const home = join(out, 'nobody-home');
    await mkdir(home, { recursive: true });
    await chown(home, 65534, 65534);
    await chmod(out, 0o755);
    const r = await cli(['scan', `docker-daemon:${IMAGE}`], { env: { ...env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') }, uid: 65534, gid: 65534 });
    expectOneLineError(r, /permission denied on the Docker daemon socket/);
  });

  it('scan before push: the CI gate stops a leaky image and lets a clean one through', async () => {
    const d = dockerd!;
    const r = registry!;
    const gate = async (name: string, dockerfile: string, files: Record<string, string>) => {
      const ctx = join(out, `ctx-${name}`);
      await mkdir(ctx, { recursive: true });
      await writeFile(join(ctx, 'Dockerfile'), dockerfile);
      for (const [rel, text] of Object.entries(files)) await writeFile(join(ctx, rel), text);
      const tag = `${r.host}/stratascan/${name}:ci`;
      // The README's recipe, verbatim apart from paths: build, scan (fail the job on findings), push.
      const script = `set -e\ndocker build -q --network=none -t ${tag} ${ctx} >/dev/null\nnode ${BIN} scan ${tag}\ndocker push ${tag} >/dev/null\n`;
      const result = spawnSync('sh', ['-c', script], {
        encoding: 'utf8',
        env: { ...process.env, DOCKER_HOST: d.host, DOCKER_API_VERSION: '1.41', DOCKER_BUILDKIT: '0', DOCKER_CONFIG: join(d.dir, 'cli'), NO_COLOR: '1' },
      });
      const manifest = await fetch(`${r.url}/v2/stratascan/${name}/manifests/ci`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr, pushed: manifest.status === 200 };
    };
    const leaky = await gate('gate-leaky', `FROM ${BASE_TAG}\nCOPY creds.env /srv/creds.env\n`, { 'creds.env': `AWS_ACCESS_KEY_ID=${secrets.awsKeyId}\n` });
    expect(leaky.status, leaky.stderr).toBe(1);
    expect(leaky.stdout).toMatch(/AWS access key ID/);
    expect(leaky.pushed).toBe(false);
    expectNoSecrets(leaky.stdout + leaky.stderr);
    const clean = await gate('gate-clean', `FROM ${BASE_TAG}\nRUN echo hello > /srv-hello\n`, {});
    expect(clean.status, clean.stderr + clean.stdout).toBe(0);
    expect(clean.pushed).toBe(true);
  }, 120_000);
});
