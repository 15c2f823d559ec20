// The registry source: target grammar, the distribution API client against a scripted server
// (Bearer tokens, retries, resumed downloads, credentials from config.json and helpers), and
// against a real docker-registry 2.8 on 127.0.0.1 (anonymous and htpasswd basic auth), fed by
// the real skopeo: identical findings to the tarball, multi-platform indexes, a corrupted blob.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, expectOneLineError, type Run } from './support/cli-run.js';
import { buildImage } from '../fixtures/builder.mjs';
import { scanImage } from '../src/scan.js';
import { findCredentials, parseChallenge } from '../src/source/registry-auth.js';
import { isLoopbackHost, parseTarget } from '../src/source/target.js';
import type { ScanReport } from '../src/types.js';
import { describeReal } from './support/describe-real.js';
import { leakySpec, makeSecrets } from './support/leaky-spec.js';
import { REGISTRY_BINS, startRegistry, type Registry } from './support/registry.mjs';
import { SKOPEO_BINS, skopeoCopy } from './support/skopeo.mjs';

const secrets = makeSecrets((Date.now() % 100000) + 3);
const { spec, expected: planted } = leakySpec(secrets);
/** A second platform: the same image plus one clean layer, so a wrong pick shows. */
const armSpec = { ...spec, architecture: 'arm64', variant: 'v8', steps: [...spec.steps, { createdBy: '/bin/sh -c echo arm > /etc/arch', files: [{ path: '/etc/arch', content: 'arm64\n' }] }] };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-registry-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectNoSecrets(text: string) {
  for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), `${name} printed raw`).toBe(false);
}
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('target grammar', () => {
  const none = () => false;
  it('transports, references and paths', () => {
    expect(parseTarget('-')).toEqual({ kind: 'stdin' });
    expect(parseTarget('docker-archive:/x/app.tar', none)).toEqual({ kind: 'path', path: '/x/app.tar', transport: 'docker-archive' });
    expect(parseTarget('oci-archive:app.tar', none)).toMatchObject({ kind: 'path', path: 'app.tar' });
    expect(parseTarget('oci:./layout', none)).toMatchObject({ kind: 'path', path: './layout', transport: 'oci' });
    expect(parseTarget('docker-daemon:app:ci', none)).toEqual({ kind: 'daemon', name: 'app:ci' });
    expect(parseTarget('docker://ghcr.io/org/app:1.2', none)).toMatchObject({ kind: 'registry', ref: { registry: 'ghcr.io', repository: 'org/app', tag: '1.2', digest: null } });
    expect(parseTarget('registry:127.0.0.1:5000/team/app', none)).toMatchObject({ kind: 'registry', ref: { registry: '127.0.0.1:5000', repository: 'team/app', tag: 'latest', familiar: '127.0.0.1:5000/team/app:latest' } });
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(parseTarget(`ghcr.io/org/app@${digest}`, none)).toMatchObject({ kind: 'reference', ref: { registry: 'ghcr.io', repository: 'org/app', tag: null, digest } });
    expect(parseTarget('alpine:3.20', none)).toMatchObject({ kind: 'reference', ref: { registry: 'docker.io', repository: 'library/alpine', tag: '3.20', familiar: 'alpine:3.20' } });
    expect(parseTarget('bitnami/redis', none)).toMatchObject({ kind: 'reference', ref: { registry: 'docker.io', repository: 'bitnami/redis', familiar: 'bitnami/redis:latest' } });
    expect(parseTarget('localhost:5000/app', none)).toMatchObject({ kind: 'reference', ref: { registry: 'localhost:5000', repository: 'app' } });
    // Paths stay paths: existing ones always, and names no one means as an image.
    expect(parseTarget('alpine:3.20', () => true)).toMatchObject({ kind: 'path', path: 'alpine:3.20' });
    expect(parseTarget('/tmp/missing.tar', none)).toMatchObject({ kind: 'path' });
    expect(parseTarget('build/app.tar', none)).toMatchObject({ kind: 'path' });
    expect(parseTarget('My Image.TAR', none)).toMatchObject({ kind: 'path' });
    expect(() => parseTarget('docker://UPPER/Case', none)).toThrow(/not a valid image reference/);
    expect(() => parseTarget('docker-daemon:', none)).toThrow(/needs an image name/);
  });

  it('plain HTTP only for loopback hosts', () => {
    for (const h of ['127.0.0.1:5000', 'localhost', '[::1]:5000', '127.1.2.3']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['registry.example.com', '10.0.0.1:5000', 'docker.io', '127.0.0.1.nip.io']) expect(isLoopbackHost(h)).toBe(false);
  });

  it('parses WWW-Authenticate challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
    expect(parseChallenge('Basic realm="x"')).toEqual({ scheme: 'basic', params: { realm: 'x' } });
  });
});

describe('credentials', () => {
  it('explicit, then environment, then config.json auths, then helpers', async () => {
    const cfg = join(dir, 'docker-config');
    mkdirSync(cfg, { recursive: true });
    const auth = Buffer.from('cfg-user:cfg-pass-123').toString('base64');
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { 'reg.example.test:5000': { auth }, 'https://index.docker.io/v1/': { auth } } }));
    const env = { DOCKER_CONFIG: cfg, PATH: process.env.PATH };
    expect(await findCredentials('reg.example.test:5000', { username: 'a', password: 'b' }, env)).toMatchObject({ username: 'a', origin: '--username' });
    expect(await findCredentials('reg.example.test:5000', undefined, { ...env, STRATASCAN_REGISTRY_USERNAME: 'e', STRATASCAN_REGISTRY_PASSWORD: 'p' })).toMatchObject({ username: 'e', password: 'p' });
    expect(await findCredentials('reg.example.test:5000', undefined, env)).toMatchObject({ username: 'cfg-user', password: 'cfg-pass-123' });
    expect(await findCredentials('docker.io', undefined, env)).toMatchObject({ username: 'cfg-user' });
    expect(await findCredentials('other.example.test', undefined, env)).toBeNull();
    expect(await findCredentials('x.example.test', undefined, { DOCKER_CONFIG: join(dir, 'nowhere') })).toBeNull();
  });

  it('docker-credential-* helpers: credHelpers per registry and credsStore', async () => {
    const bin = join(dir, 'helpers');
    mkdirSync(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-stratascan-fake');
    // Answers for one server only, like a real keychain.
    writeFileSync(helper, '#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = "helped.example.test" ]; then\n  echo \'{"ServerURL":"helped.example.test","Username":"helper-user","Secret":"helper-secret-1"}\'\nelse\n  echo "credentials not found in native keychain"; exit 1\nfi\n');
    chmodSync(helper, 0o755);
    const cfg = join(dir, 'docker-config-helpers');
    mkdirSync(cfg, { recursive: true });
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ credHelpers: { 'helped.example.test': 'stratascan-fake' } }));
    const env = { DOCKER_CONFIG: cfg, PATH: `${bin}:${process.env.PATH}` };
    expect(await findCredentials('helped.example.test', undefined, env)).toEqual({ username: 'helper-user', password: 'helper-secret-1', origin: 'docker-credential-stratascan-fake' });
    expect(await findCredentials('unhelped.example.test', undefined, env)).toBeNull();
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ credsStore: 'stratascan-fake' }));
    expect(await findCredentials('helped.example.test', undefined, env)).toMatchObject({ username: 'helper-user' });
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ credsStore: 'stratascan-missing' }));
    // A helper that is not installed (issue 20: a Docker Desktop config in CI) is a note, and the
    // registry is tried without credentials; one that cannot be run for another reason is an error.
    const notes: string[] = [];
    expect(await findCredentials('helped.example.test', undefined, env, (n) => notes.push(n))).toBeNull();
    expect(notes).toEqual([expect.stringMatching(/docker-credential-stratascan-missing, which is not installed; trying helped\.example\.test without it/)]);
    const notExecutable = join(bin, 'docker-credential-stratascan-broken');
    writeFileSync(notExecutable, '#!/bin/sh\n');
    chmodSync(notExecutable, 0o644);
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ credsStore: 'stratascan-broken' }));
    await expect(findCredentials('helped.example.test', undefined, env)).rejects.toThrow(/docker-credential-stratascan-broken, which could not be run \(EACCES\)/);
  });
});

/**
 * A registry written for the test: Bearer token auth (the token service checks Basic
 * credentials and the scope), a 503 and a 429 before some answers, and one layer download
 * cut halfway (the client must resume it with a Range request). Serves an OCI layout.
 */
async function scriptedRegistry(layoutDir: string, user: string, password: string) {
  const token = randomBytes(12).toString('hex');
  const log = { tokenRequests: [] as string[], failures: 0, ranges: [] as string[], cut: 0, configCut: 0 };
  const configs = new Set<string>();
  const failedOnce = new Set<string>();
  const layers = new Set<string>();
  const walk = (doc: { manifests?: { digest: string }[]; layers?: { digest: string; size: number }[]; config?: { digest: string } }) => {
    for (const d of doc.manifests ?? []) walk(JSON.parse(readFileSync(join(layoutDir, 'blobs', 'sha256', d.digest.slice(7)), 'utf8')));
    for (const l of doc.layers ?? []) if (l.size > 100) layers.add(l.digest);
    if (doc.config) configs.add(doc.config.digest);
  };
  walk(JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/token') {
      const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      log.tokenRequests.push(`${url.searchParams.get('service')} ${url.searchParams.get('scope')}`);
      if (req.headers.authorization !== expected) {
        res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      const realm = `http://127.0.0.1:${(server.address() as { port: number }).port}/token`;
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="scripted",scope="repository:team/app:pull"`, 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (url.pathname === '/v2/') {
      res.writeHead(200).end('{}');
      return;
    }
    const m = /^\/v2\/team\/app\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    // Every path fails once first: alternately 503 and 429 (Retry-After: 0).
    if (!failedOnce.has(url.pathname)) {
      failedOnce.add(url.pathname);
      log.failures++;
      const status = log.failures % 2 ? 503 : 429;
      res.writeHead(status, status === 429 ? { 'retry-after': '0' } : {}).end();
      return;
    }
    const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8'));
    let digest = m[2]!;
    const blobFile = (d: string) => join(layoutDir, 'blobs', 'sha256', d.slice(7));
    if (digest.startsWith('sha256:') && !existsSync(blobFile(digest))) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(`{"errors":[{"code":"${m[1] === 'blobs' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN'}","message":"unknown"}]}`);
      return;
    }
    let mediaType = 'application/octet-stream';
    if (m[1] === 'manifests') {
      if (!digest.startsWith('sha256:')) {
        digest = index.manifests[0].digest;
        mediaType = index.manifests[0].mediaType;
      } else {
        mediaType = JSON.parse(readFileSync(join(layoutDir, 'blobs', 'sha256', digest.slice(7)), 'utf8')).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
      }
    }
    const file = blobFile(digest);
    const bytes = readFileSync(file);
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      log.ranges.push(`${digest.slice(7, 19)}@${range[1]}`);
      const from = Number(range[1]);
      res.writeHead(206, { 'content-length': String(bytes.length - from), 'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` }).end(bytes.subarray(from));
      return;
    }
    res.writeHead(200, { 'content-type': mediaType, 'content-length': String(bytes.length), 'docker-content-digest': digest });
    // The first layer download breaks off halfway; configs (read whole) are cut once too.
    if (m[1] === 'blobs' && layers.has(digest) && log.cut === 0) {
      log.cut++;
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (m[1] === 'blobs' && configs.has(digest) && log.configCut === 0) {
      log.configCut++;
      res.write(bytes.subarray(0, 100), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  return { host, log, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('registry client against a scripted server', () => {
  const user = 'robot$ci';
  const password = `pw-${randomBytes(8).toString('hex')}`;
  let layout: string;
  let baseline: ScanReport;
  let server: Awaited<ReturnType<typeof scriptedRegistry>>;
  beforeAll(async () => {
    layout = join(dir, 'scripted-layout');
    await buildImage([spec, armSpec], { layout: 'oci-layout', compression: 'gzip', dir: layout });
    baseline = await scanImage(layout, { jobs: 2, platform: 'linux/arm64' });
    server = await scriptedRegistry(layout, user, password);
  });
  afterAll(() => server?.close());

  it('Bearer token flow with Basic credentials, retries on 503/429, resumed download', async () => {
    const report = await scanImage(`docker://${server.host}/team/app:1`, { jobs: 2, platform: 'linux/arm64', registryAuth: { username: user, password } });
    expect(report.image.format).toBe('registry');
    expect(report.image.platform).toBe('linux/arm64/v8');
    expect(report.findings).toEqual(baseline.findings);
    expect(report.image.layers.map((l) => l.diffId)).toEqual(baseline.image.layers.map((l) => l.diffId));
    expect(server.log.tokenRequests[0]).toBe('scripted repository:team/app:pull');
    expect(server.log.failures).toBeGreaterThanOrEqual(4);
    expect(server.log.cut).toBe(1);
    expect(server.log.configCut).toBe(1);
    expect(server.log.ranges).toHaveLength(1);
  });

  it('a wrong password at the token service: one line, no password', async () => {
    const r = await cli(['scan', `docker://${server.host}/team/app:1`, '--username', user, '--password-stdin'], { input: 'not-the-password\n' });
    expectOneLineError(r, /rejected the credentials from --username \(token service answered 401\)/);
    expect(r.stderr).not.toContain('not-the-password');
    const anon = await cli(['scan', `docker://${server.host}/team/app:1`], { env: { DOCKER_CONFIG: join(dir, 'nowhere') } });
    expectOneLineError(anon, /requires authentication for team\/app/);
  });

  it('environment credentials; an unknown digest is a clean 404', async () => {
    const env = { STRATASCAN_REGISTRY_USERNAME: user, STRATASCAN_REGISTRY_PASSWORD: password };
    const r = await cli(['scan', `docker://${server.host}/team/app@sha256:${'0'.repeat(64)}`], { env });
    expectOneLineError(r, /not found in 127\.0\.0\.1:\d+\/team\/app \(404 Not Found\)/);
    expect(r.stderr).not.toContain(password);
  });
});

describe('bounded retries', () => {
  it('a registry that keeps failing gives up with one line', async () => {
    let hits = 0;
    const server = http.createServer((_req, res) => {
      hits++;
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await cli(['scan', `docker://127.0.0.1:${port}/a/b:1`]);
      expectOneLineError(r, /answered 503 for 127\.0\.0\.1:\d+\/a\/b:1 after 4 attempts/);
      expect(hits).toBeLessThanOrEqual(6);
    } finally {
      server.close();
    }
  });

  it('nothing listening: one line', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expectOneLineError(await cli(['scan', `docker://127.0.0.1:${port}/a/b:1`]), /cannot reach registry 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
  });
});

describeReal('registry source (docker-registry 2.8 + skopeo)', [...REGISTRY_BINS, ...SKOPEO_BINS], () => {
  let anon: Registry | undefined;
  let basic: Registry | undefined;
  const basicUser = 'ci-bot';
  const basicPassword = `pw-${randomBytes(10).toString('hex')}`;
  let singleTar: string;
  let multiTar: string;
  const tls = ['--dest-tls-verify=false'];

  beforeAll(async () => {
    [anon, basic] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic', users: { [basicUser]: basicPassword } })]);
    singleTar = join(dir, 'leaky-oci.tar');
    writeFileSync(singleTar, (await buildImage(spec, { layout: 'oci-archive', compression: 'gzip', reference: 'leaky:1' }))!);
    multiTar = join(dir, 'multi-oci.tar');
    writeFileSync(multiTar, (await buildImage([spec, armSpec], { layout: 'oci-archive', compression: 'gzip' }))!);
    const multiLayout = join(dir, 'multi-layout');
    await buildImage([spec, armSpec], { layout: 'oci-layout', compression: 'gzip', dir: multiLayout });
    await Promise.all([
      skopeoCopy(`oci-archive:${singleTar}`, `docker://${anon.host}/stratascan/leaky:1`, { extraArgs: tls }),
      skopeoCopy(`oci:${multiLayout}`, `docker://${anon.host}/stratascan/multi:1`, { extraArgs: ['--all', ...tls] }),
      skopeoCopy(`oci-archive:${singleTar}`, `docker://${basic.host}/private/leaky:1`, {
        extraArgs: [...tls, '--dest-creds', `${basicUser}:${basicPassword}`],
        redact: [basicPassword],
      }),
    ]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([anon?.stop(), basic?.stop()]);
    for (const r of [anon, basic]) if (r) expect(existsSync(r.dir)).toBe(false);
  }, 60_000);

  it('anonymous: the same findings as the tarball', async () => {
    const tarball = await scanImage(singleTar, { jobs: 2 });
    const target = `docker://${anon!.host}/stratascan/leaky:1`;
    const fromRegistry = await scanImage(target, { jobs: 2 });
    expect(fromRegistry.findings).toEqual(tarball.findings);
    expect(fromRegistry.findings.length).toBe(planted.length);
    expect(fromRegistry.target).toBe(target);
    expect(tarball.image.format).toBe('oci-archive');
    expect(fromRegistry.image.format).toBe('registry');
    // Only target and format differ: skopeo pushed the same blobs, so digests and sizes match too.
    expect({ ...fromRegistry.image, format: 'x', reference: null }).toEqual({ ...tarball.image, format: 'x', reference: null });
    expect(fromRegistry.image.reference).toBe(`${anon!.host}/stratascan/leaky:1`);
    expectNoSecrets(JSON.stringify(fromRegistry));
  });

  it('a multi-platform index pushed with skopeo --all: each platform as in the archive', async () => {
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const tarball = await scanImage(multiTar, { jobs: 2, platform });
      const fromRegistry = await scanImage(`registry:${anon!.host}/stratascan/multi:1`, { jobs: 2, platform });
      expect(fromRegistry.findings).toEqual(tarball.findings);
      expect(fromRegistry.image.platform).toBe(tarball.image.platform);
      expect(fromRegistry.image.digest).toBe(tarball.image.digest);
      expect(fromRegistry.image.layers).toEqual(tarball.image.layers);
    }
    const def = await scanImage(`docker://${anon!.host}/stratascan/multi:1`, { jobs: 1 });
    expect(def.image.platform).toBe('linux/amd64');
    expect(def.image.layers).toHaveLength(11);
    const r = await cli(['scan', `docker://${anon!.host}/stratascan/multi:1`, '--platform', 'linux/s390x']);
    expectOneLineError(r, /has no image for platform linux\/s390x; it has linux\/amd64, linux\/arm64\/v8/);
  });

  it('basic auth: --password-stdin, environment, config.json; a wrong password is one line without the password', async () => {
    const target = `docker://${basic!.host}/private/leaky:1`;
    const good = await cli(['scan', target, '--username', basicUser, '--password-stdin', '--format', 'json'], { input: `${basicPassword}\n` });
    expect(good.code, good.stderr).toBe(1);
    expect(JSON.parse(good.stdout).findings).toHaveLength(planted.length);
    const fromEnv = await cli(['scan', target], { env: { STRATASCAN_REGISTRY_USERNAME: basicUser, STRATASCAN_REGISTRY_PASSWORD: basicPassword } });
    expect(fromEnv.code, fromEnv.stderr).toBe(1);
    const cfg = join(dir, 'basic-config');
    mkdirSync(cfg, { recursive: true });
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { [basic!.host]: { auth: Buffer.from(`${basicUser}:${basicPassword}`).toString('base64') } } }));
    const fromConfig = await cli(['scan', target], { env: { DOCKER_CONFIG: cfg } });
    expect(fromConfig.code, fromConfig.stderr).toBe(1);
    for (const r of [good, fromEnv, fromConfig]) expect(r.stdout + r.stderr).not.toContain(basicPassword);

    const wrong = `${basicPassword}-wrong`;
    const bad = await cli(['scan', target, '--username', basicUser, '--password-stdin'], { input: `${wrong}\n` });
    expectOneLineError(bad, /rejected the credentials from --username for private\/leaky \(401 Unauthorized\)/);
    expect(bad.stderr).not.toContain(wrong);
    expect(bad.stderr).not.toContain(basicPassword);
    const anonymous = await cli(['scan', target], { env: { DOCKER_CONFIG: join(dir, 'nowhere') } });
    expectOneLineError(anonymous, /requires authentication for private\/leaky \(401 Unauthorized\)/);
  });

  it('unknown repository or tag: one line', async () => {
    expectOneLineError(await cli(['scan', `docker://${anon!.host}/stratascan/leaky:nope`]), /stratascan\/leaky:nope not found in .*\(404 Not Found\) \(MANIFEST_UNKNOWN/);
  });

  it('a corrupted blob in the registry storage is caught by digest verification', async () => {
    // An image of its own (unique content), so no other test shares the blob we corrupt.
    const unique = { steps: [{ createdBy: 'COPY creds', files: [{ path: '/srv/creds.env', content: `AWS_ACCESS_KEY_ID=${secrets.awsKeyId}\nnonce=${randomBytes(8).toString('hex')}\n` }] }] };
    const tar = join(dir, 'corrupt.tar');
    writeFileSync(tar, (await buildImage(unique, { layout: 'oci-archive', compression: 'gzip' }))!);
    await skopeoCopy(`oci-archive:${tar}`, `docker://${anon!.host}/stratascan/corrupt:1`, { extraArgs: tls });
    const target = `docker://${anon!.host}/stratascan/corrupt:1`;
    expect((await cli(['scan', target])).code).toBe(1);
    const layerDigest = (await scanImage(tar, { jobs: 0 })).image.layers[0]!.digest!;
    const path = anon!.blobPath(layerDigest);
    const bytes = readFileSync(path);
    expect(sha256(bytes)).toBe(layerDigest);
    // Change the gzip header's MTIME: the layer still decompresses to the same tar (same diff_id),
    // so only the blob digest can tell. Same length, so the registry serves it without complaint.
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    bytes.writeUInt32LE((bytes.readUInt32LE(4) + 12345) >>> 0, 4);
    writeFileSync(path, bytes);
    const r = await cli(['scan', target]);
    expectOneLineError(r, new RegExp(`blob ${layerDigest} does not match its digest \\(got sha256:[a-f0-9]{64}\\)`));
    expectNoSecrets(r.stderr);
  });

  it('keeps all traffic on 127.0.0.1', () => {
    for (const r of [anon!, basic!]) {
      expect(r.host).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(readFileSync(join(r.dir, 'config.yml'), 'utf8')).toContain(`addr: ${r.host}`);
    }
    expect(readdirSync(anon!.storageDir)).toContain('docker');
  });
});

describeReal('registry errors that say why (distribution with auth: token and a token issuer)', [...REGISTRY_BINS, ...SKOPEO_BINS], () => {
  let registry: Registry | undefined;
  const password = (name: string) => `${name}-pw-${randomBytes(8).toString('hex')}`;
  const users = { pusher: password('pusher'), reader: password('reader'), outsider: password('outsider') };
  const login = (user: keyof typeof users, secret = users[user]) => ({ args: ['--username', user, '--password-stdin'], input: `${secret}\n` });
  /** A config.json copied from Docker Desktop: it names a credential helper CI does not have. */
  let desktopConfig: string;

  beforeAll(async () => {
    registry = await startRegistry({
      auth: 'token',
      users,
      acl: { pusher: { '*': ['pull', 'push'] }, reader: { 'team/app': ['pull'] }, outsider: {}, '': { 'public/app': ['pull'] } },
    });
    const tar = join(dir, 'token-auth.tar');
    writeFileSync(tar, (await buildImage(spec, { layout: 'oci-archive', compression: 'gzip' }))!);
    const creds = ['--dest-tls-verify=false', '--dest-creds', `pusher:${users.pusher}`];
    for (const repo of ['team/app', 'public/app']) {
      await skopeoCopy(`oci-archive:${tar}`, `docker://${registry.host}/${repo}:1`, { extraArgs: creds, redact: [users.pusher] });
    }
    desktopConfig = join(dir, 'desktop-config');
    mkdirSync(desktopConfig, { recursive: true });
    writeFileSync(join(desktopConfig, 'config.json'), JSON.stringify({ auths: { [registry.host]: {} }, credsStore: 'desktop' }));
  }, 180_000);

  afterAll(async () => {
    await registry?.stop();
  }, 60_000);

  const scan = (repo: string, opts: { args?: string[]; input?: string; env?: Record<string, string> } = {}) =>
    cli(['scan', `docker://${registry!.host}/${repo}:1`, '--format', 'json', ...(opts.args ?? [])], {
      input: opts.input,
      env: { DOCKER_CONFIG: join(dir, 'no-docker-config'), ...opts.env },
    });

  function expectNoPasswords(r: Run) {
    for (const p of Object.values(users)) expect(r.stdout + r.stderr).not.toContain(p);
  }

  it('a login with pull access scans; a wrong password says the credentials were rejected', async () => {
    const ok = await scan('team/app', login('reader'));
    expect(ok.code, ok.stderr).toBe(1);
    expect(JSON.parse(ok.stdout).findings).toHaveLength(planted.length);
    const bad = await scan('team/app', login('reader', `${users.reader}x`));
    expectOneLineError(bad, /rejected the credentials from --username \(token service answered 401\)/);
    expectNoPasswords(ok);
    expectNoPasswords(bad);
  });

  it('a valid login without pull access, or a mistyped repository, is insufficient scope, not a bad password', async () => {
    const outsider = await scan('team/app', login('outsider'));
    expectOneLineError(outsider, /accepted the credentials from --username, but they do not grant pull access to team\/app \(scope repository:team\/app:pull\): check the repository name/);
    const typo = await scan('team/ap', login('reader'));
    expectOneLineError(typo, /do not grant pull access to team\/ap .*a repository that does not exist is answered the same way/);
    for (const r of [outsider, typo]) {
      expect(r.stderr).not.toMatch(/rejected/);
      expectNoPasswords(r);
    }
  });

  it('anonymous: a public repository scans; a private one says anonymous pulls are not allowed', async () => {
    const pub = await scan('public/app');
    expect(pub.code, pub.stderr).toBe(1);
    expect(pub.stderr).toBe('');
    expectOneLineError(await scan('team/app'), /does not let anonymous users pull team\/app \(scope repository:team\/app:pull\).*or log in/);
  });

  it('a credential helper that is not installed: one note, then anonymous access; private images still fail with the cause', async () => {
    const env = { DOCKER_CONFIG: desktopConfig, PATH: '/usr/bin:/bin' };
    const pub = await scan('public/app', { env });
    expect(pub.code, pub.stderr).toBe(1);
    expect(pub.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^stratascan: note: the Docker config names credential helper docker-credential-desktop, which is not installed; trying 127\.0\.0\.1:\d+ without it \(install docker-credential-desktop, or remove "credsStore"\/"credHelpers" from .*config\.json\)$/),
    ]);
    const quiet = await scan('public/app', { env, args: ['--quiet'] });
    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toBe('');
    const priv = await scan('team/app', { env, args: ['--quiet'] });
    expectOneLineError(priv, /does not let anonymous users pull team\/app/);
  });
});

/**
 * A forward proxy on loopback, the way corporate networks route registry traffic: absolute-form
 * requests for plain HTTP and CONNECT tunnels for HTTPS. It alone knows where `registry.test`
 * is (127.0.0.1), so a scan of registry.test can only succeed through it.
 */
async function forwardProxy(names: Record<string, string>) {
  const seen: string[] = [];
  const resolveHost = (host: string) => names[host] ?? host;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!);
    seen.push(`${req.method} ${url.host}`);
    const upstream = http.request({ host: resolveHost(url.hostname), port: url.port, path: `${url.pathname}${url.search}`, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  server.on('connect', (req, client, head) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = req.url!.split(':');
    const upstream = net.connect(Number(port), resolveHost(host!), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

describeReal('registry scans through an HTTP proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)', [...REGISTRY_BINS, ...SKOPEO_BINS], () => {
  let registry: Registry | undefined;
  let proxy: Awaited<ReturnType<typeof forwardProxy>> | undefined;
  let tar: string;

  beforeAll(async () => {
    registry = await startRegistry();
    tar = join(dir, 'proxied.tar');
    writeFileSync(tar, (await buildImage(spec, { layout: 'oci-archive', compression: 'gzip' }))!);
    await skopeoCopy(`oci-archive:${tar}`, `docker://${registry.host}/team/app:1`, { extraArgs: ['--dest-tls-verify=false'] });
    proxy = await forwardProxy({ 'registry.test': '127.0.0.1' });
  }, 180_000);

  afterAll(async () => {
    await Promise.all([registry?.stop(), proxy?.close()]);
  }, 60_000);

  const target = () => `docker://registry.test:${registry!.port}/team/app:1`;
  const proxyEnv = () => ({ HTTPS_PROXY: proxy!.url, HTTP_PROXY: proxy!.url, https_proxy: '', http_proxy: '', NO_PROXY: '', no_proxy: '' });

  it('goes through the proxy: the same findings as the tarball', async () => {
    const r = await cli(['scan', target(), '--insecure-registry', `registry.test:${registry!.port}`, '--format', 'json'], { env: proxyEnv() });
    expect(r.code, r.stderr).toBe(1);
    const direct = await scanImage(tar, { jobs: 1 });
    expect(JSON.parse(r.stdout).findings).toEqual(direct.findings);
    // HTTPS first (a CONNECT tunnel, which this plain-HTTP registry cannot answer), then plain HTTP.
    expect(proxy!.seen[0]).toBe(`CONNECT registry.test:${registry!.port}`);
    expect(proxy!.seen).toContain(`GET registry.test:${registry!.port}`);
  });

  it('not for hosts in NO_PROXY, and never for loopback hosts', async () => {
    const before = proxy!.seen.length;
    const bypassed = await cli(['scan', target(), '--insecure-registry', `registry.test:${registry!.port}`], { env: { ...proxyEnv(), NO_PROXY: 'example.com,.test' } });
    expectOneLineError(bypassed, /cannot reach registry registry\.test:\d+/);
    const loopback = await cli(['scan', `docker://${registry!.host}/team/app:1`, '--format', 'json'], { env: proxyEnv() });
    expect(loopback.code, loopback.stderr).toBe(1);
    expect(proxy!.seen.length).toBe(before);
  });
});
