// Podman through its Docker-compatible API socket (`podman system service`, vfs storage, all in
// a temp dir): the daemon source reads an image from it exactly as from dockerd, so the findings
// equal those of the same image's `docker save` tarball (the committed real fixture).
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cli, expectOneLineError } from './support/cli-run.js';
import { scanImage } from '../src/scan.js';
import { describeReal } from './support/describe-real.js';
import { PODMAN_BINS, startPodman, type Podman } from './support/podman.mjs';

const FIXTURE = join(__dirname, '..', 'fixtures', 'real', 'leaky-docker-save.tar');

describeReal('daemon source through the Podman socket (podman system service, vfs)', PODMAN_BINS, () => {
  let podman: Podman | undefined;

  beforeAll(async () => {
    podman = await startPodman();
    await podman.podman(['load', '-i', FIXTURE]);
  }, 180_000);

  afterAll(async () => {
    await podman?.stop();
  }, 60_000);

  it('the same findings as the docker save tarball, from DOCKER_HOST=unix://…/podman.sock', async () => {
    const tarball = await scanImage(FIXTURE, { jobs: 1, cache: false });
    expect(tarball.findings.length).toBeGreaterThan(3);
    const r = await cli(['scan', 'docker-daemon:localhost/stratascan-fixture/leaky:1', '--format', 'json', '--no-cache'], { env: { DOCKER_HOST: podman!.host } });
    expect(r.code, r.stderr).toBe(1);
    const fromPodman = JSON.parse(r.stdout);
    expect(fromPodman.image.format).toBe('docker-daemon');
    expect(fromPodman.findings).toEqual(tarball.findings);
    expect(fromPodman.image.layers.map((l: { diffId: string }) => l.diffId)).toEqual(tarball.image.layers.map((l) => l.diffId));
  });

  it('an image Podman does not have is one line', async () => {
    const r = await cli(['scan', 'docker-daemon:localhost/nothing-here:1'], { env: { DOCKER_HOST: podman!.host } });
    expectOneLineError(r, /has no image localhost\/nothing-here:1|no image/);
  });
});
