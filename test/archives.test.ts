import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { buildImage, tarOf } from '../fixtures/builder.mjs';
import { scanImage } from '../src/scan.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import { secretHash } from '../src/attribute.js';
import type { Finding, ScanOptions, ScanReport } from '../src/types.js';
import { zipOf } from '../fixtures/zip.mjs';

const rand = seededRandom(Date.now() % 100000);
const token = () => renderTemplate('ghp_{{alnum:36}}', rand).text;
const secrets = {
  jar: token(),
  jarClass: token(),
  war: token(),
  tgz: token(),
  gz: token(),
  whl: token(),
  depth3: token(),
  depth4: token(),
  descriptor: token(),
  prefixed: token(),
  besideBomb: token(),
  deleted: token(),
  tar: token(),
  notZip: token(),
};
type Name = keyof typeof secrets;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-archives-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function byHash(report: ScanReport, name: Name): Finding | undefined {
  return report.findings.find((f) => f.secretHash === secretHash(secrets[name]));
}

async function scan(files: { path: string; content: Buffer | string }[], options: ScanOptions = {}, more: { path: string; type: 'whiteout' }[] = []) {
  const steps = [{ createdBy: 'COPY app /', files }];
  if (more.length > 0) steps.push({ createdBy: 'RUN rm', files: more as never });
  const bytes = await buildImage({ steps }, { layout: 'oci-archive', compression: 'gzip' });
  const path = join(dir, `image-${Math.random().toString(36).slice(2)}.tar`);
  writeFileSync(path, bytes!);
  return scanImage(path, { jobs: 1, cache: false, ...options });
}

const zip = (name: string, content: string | Buffer) => zipOf([{ name, content }]);

describe('archives inside layers', () => {
  let report: ScanReport;
  beforeAll(async () => {
    const inner = zipOf([{ name: 'config.yml', content: `github:\n  token: ${secrets.war}\n` }]);
    // /opt/deep/a.zip is level 1, so b.zip is 2, c.zip 3 and d.zip would be 4.
    const depth3 = zip('b.zip', zip('c.zip', zip('secret.txt', `token=${secrets.depth3}\n`)));
    const depth4 = zip('b.zip', zip('c.zip', zip('d.zip', zip('deep.txt', `token=${secrets.depth4}\n`))));
    report = await scan([
      {
        path: '/opt/app.jar',
        content: zipOf([
          { name: 'META-INF/MANIFEST.MF', content: 'Manifest-Version: 1.0\n' },
          { name: 'BOOT-INF/classes/application.properties', content: `server.port=8080\nspring.application.name=demo\ngithub.token=${secrets.jar}\n` },
          { name: 'BOOT-INF/classes/App.class', content: Buffer.concat([Buffer.from([0xca, 0xfe, 0xba, 0xbe, 0, 0]), Buffer.from(secrets.jarClass)]) },
        ]),
      },
      { path: '/srv/app.war', content: zipOf([{ name: 'WEB-INF/lib/inner.jar', content: inner, method: 'store' }]) },
      { path: '/var/backup/conf.tar.gz', content: gzipSync(await tarOf([{ name: 'etc/app.env', content: Buffer.from(`GITHUB_TOKEN=${secrets.tgz}\n`) }])) },
      { path: '/var/log/app.log.gz', content: gzipSync(`${'INFO started\n'.repeat(1000)}WARN using token ${secrets.gz}\n`) },
      { path: '/usr/lib/python3/site-packages/pkg-1.0-py3-none-any.whl', content: zipOf([{ name: 'pkg/settings.py', content: `GITHUB_TOKEN = "${secrets.whl}"\n` }]) },
      { path: '/opt/deep/a.zip', content: depth3 },
      { path: '/opt/deep/too-deep.zip', content: depth4 },
      { path: '/opt/streamed.jar', content: zipOf([{ name: 'app.conf', content: `token=${secrets.descriptor}\n`, descriptor: true }]) },
      { path: '/opt/launcher.jar', content: zipOf([{ name: 'run.conf', content: `token=${secrets.prefixed}\n` }], { prefix: Buffer.from('#!/bin/sh\nexec java -jar "$0" "$@"\n') }) },
      { path: '/opt/notes.jar', content: `not a zip at all\ntoken=${secrets.notZip}\n` },
      { path: '/opt/bundle.tar', content: await tarOf([{ name: 'conf/token.txt', content: Buffer.from(`token=${secrets.tar}\n`) }]) },
    ]);
  });

  it('reports a member of a jar under archive!/member with its line', () => {
    const f = byHash(report, 'jar');
    expect(f?.path).toBe('/opt/app.jar!/BOOT-INF/classes/application.properties');
    expect(f?.line).toBe(3);
    expect(f?.layer?.index).toBe(0);
    expect(f?.inFinalImage).toBe(true);
  });

  it('opens a jar inside a war, a tar.gz, a .gz log, a wheel and a plain tar', () => {
    expect(byHash(report, 'war')?.path).toBe('/srv/app.war!/WEB-INF/lib/inner.jar!/config.yml');
    expect(byHash(report, 'tgz')?.path).toBe('/var/backup/conf.tar.gz!/etc/app.env');
    const gz = byHash(report, 'gz');
    expect(gz?.path).toBe('/var/log/app.log.gz!/app.log');
    expect(gz?.line).toBe(1001);
    expect(byHash(report, 'whl')?.path).toBe('/usr/lib/python3/site-packages/pkg-1.0-py3-none-any.whl!/pkg/settings.py');
    expect(byHash(report, 'tar')?.path).toBe('/opt/bundle.tar!/conf/token.txt');
  });

  it('reads zips written with data descriptors and zips behind a launch script', () => {
    expect(byHash(report, 'descriptor')?.path).toBe('/opt/streamed.jar!/app.conf');
    expect(byHash(report, 'prefixed')?.path).toBe('/opt/launcher.jar!/run.conf');
    // Named like one but not a zip: scanned as the text file it is.
    expect(byHash(report, 'notZip')?.path).toBe('/opt/notes.jar');
  });

  it('opens three levels deep and notes the fourth as skipped', () => {
    expect(byHash(report, 'depth3')?.path).toBe('/opt/deep/a.zip!/b.zip!/c.zip!/secret.txt');
    expect(byHash(report, 'depth4')).toBeUndefined();
    expect(report.stats.skipped['archive-too-deep']).toBe(1);
  });

  it('skips binary members without expanding them', () => {
    expect(byHash(report, 'jarClass')).toBeUndefined();
    expect(report.stats.skipped.binary).toBeGreaterThanOrEqual(1);
  });
});

describe('bounds on archives', () => {
  it('skips a zip bomb, a lying zip and a gzip bomb with a note, and scans what is beside them', async () => {
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    const honest = zipOf([{ name: 'zeros.txt', content: zeros }]);
    // Declares 100 bytes but inflates to 64 MiB: only the bounded inflate can tell.
    const lying = zipOf([{ name: 'small.txt', content: zeros, declaredSize: 100 }]);
    const started = performance.now();
    const report = await scan([
      { path: '/bombs/honest.zip', content: honest },
      { path: '/bombs/lying.zip', content: lying },
      // Zeros inflate to binary and stop at once; repeated text is what a gzip bomb must be caught by ratio.
      { path: '/bombs/text.gz', content: gzipSync(Buffer.alloc(64 * 1024 * 1024, 'a')) },
      { path: '/app/.env', content: `GITHUB_TOKEN=${secrets.besideBomb}\n` },
    ]);
    const seconds = (performance.now() - started) / 1000;
    expect(report.stats.skipped['archive-bomb']).toBe(3);
    expect(byHash(report, 'besideBomb')?.path).toBe('/app/.env');
    // A bound, not a benchmark: expanding 192 MiB of zeros would take far longer than this.
    expect(seconds).toBeLessThan(30);
  });

  it('refuses a zip whose directory lists the same data twice (the overlapping-entry bomb)', async () => {
    const one = zipOf([{ name: 'a.txt', content: `token=${secrets.besideBomb}\n` }]);
    // Split the single-entry zip into local part, central entry and end record, then list the entry twice.
    const endAt = one.length - 22;
    const centralAt = one.readUInt32LE(endAt + 16);
    const central = one.subarray(centralAt, endAt);
    const end = Buffer.from(one.subarray(endAt));
    end.writeUInt16LE(2, 8);
    end.writeUInt16LE(2, 10);
    end.writeUInt32LE(central.length * 2, 12);
    const overlapping = Buffer.concat([one.subarray(0, centralAt), central, central, end]);
    const report = await scan([{ path: '/o/overlap.zip', content: overlapping }]);
    expect(report.stats.skipped['archive-bomb']).toBe(1);
  });

  it('stops at the entry limit and notes corrupt and encrypted archives', async () => {
    const many = zipOf(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}.txt`, content: `line ${i}\n` })));
    const corrupt = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(9000, 7)]);
    const encrypted = zipOf([{ name: 'secret.txt', content: 'ciphertext', encrypted: true, method: 'store' }]);
    const report = await scan(
      [
        { path: '/a/many.zip', content: many },
        { path: '/a/corrupt.zip', content: corrupt },
        { path: '/a/encrypted.zip', content: encrypted },
      ],
      { archives: { maxEntries: 10 } },
    );
    expect(report.stats.skipped['archive-too-many-entries']).toBe(1);
    expect(report.stats.skipped['archive-corrupt']).toBe(1);
    expect(report.stats.skipped['archive-encrypted']).toBe(1);
  });

  it('streams a .gz larger than the member bound, finding a secret at its end on the right line', async () => {
    // Request ids keep the compression ratio of a real log (a few to one), far from a bomb's.
    const lines = 700_000;
    const ids = randomBytes(lines * 8).toString('hex');
    const body = Array.from({ length: lines }, (_, i) => `GET /health 200 0.4ms request_id=${ids.slice(i * 16, i * 16 + 16)}\n`).join('');
    const log = Buffer.from(`${body}retrying with token ${secrets.gz}\n`);
    expect(log.length).toBeGreaterThan(32 * 1024 * 1024);
    const report = await scan([{ path: '/var/log/big.log.gz', content: gzipSync(log) }], { archives: { maxEntryBytes: 8 * 1024 * 1024 } });
    const f = byHash(report, 'gz');
    expect(f?.path).toBe('/var/log/big.log.gz!/big.log');
    expect(f?.line).toBe(lines + 1);
    expect(report.stats.skipped['archive-bomb']).toBeUndefined();
  }, 60_000);

  it('leaves archives closed with archives: false', async () => {
    const report = await scan([{ path: '/opt/app.jar', content: zip('app.properties', `github.token=${secrets.jar}\n`) }], { archives: false });
    expect(byHash(report, 'jar')).toBeUndefined();
  });

  it('a deleted archive still reports its members, marked removed', async () => {
    const report = await scan(
      [{ path: '/opt/old.jar', content: zip('app.properties', `github.token=${secrets.deleted}\n`) }],
      {},
      [{ path: '/opt/old.jar', type: 'whiteout' }],
    );
    const f = byHash(report, 'deleted');
    expect(f?.path).toBe('/opt/old.jar!/app.properties');
    expect(f?.inFinalImage).toBe(false);
    expect(f?.removedBy?.index).toBe(1);
  });
});
