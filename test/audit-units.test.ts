// The audit's pure parts: its reporters (golden files), exit codes, source grammar, queue URLs and
// image lists. The real registry, Redis and workers are in audit.test.ts.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseQueueUrl } from '../src/audit/queue.js';
import { AUDIT_FORMATS, auditExitCode, renderAudit, type AuditFormat } from '../src/audit/render.js';
import { expandSources, readImageList, registryHostOf } from '../src/audit/sources.js';
import { goldenAudit } from './golden/audit.js';

const GOLDEN = join(__dirname, 'golden');

describe('audit reporters (UPDATE_GOLDEN=1 rewrites the golden files)', () => {
  const files: [string, AuditFormat][] = [['audit.txt', 'text'], ['audit.json', 'json'], ['audit.sarif', 'sarif'], ['audit.html', 'html']];
  for (const [file, format] of files) {
    it(`${format} matches test/golden/${file}`, () => {
      const out = renderAudit(goldenAudit, format);
      const path = join(GOLDEN, file);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) writeFileSync(path, out);
      expect(out).toBe(readFileSync(path, 'utf8'));
    });
  }

  it('covers every format, and is pure', () => {
    expect(new Set(files.map(([, f]) => f))).toEqual(new Set(AUDIT_FORMATS));
    const before = JSON.stringify(goldenAudit);
    for (const f of AUDIT_FORMATS) expect(renderAudit(goldenAudit, f)).toBe(renderAudit(goldenAudit, f));
    expect(JSON.stringify(goldenAudit)).toBe(before);
  });

  it('text: images ranked by critical findings, a shared base secret listed once with its images', () => {
    const text = renderAudit(goldenAudit, 'text');
    const ranking = text.split('Images by severity')[1]!.split('\n\n')[0]!;
    expect(ranking.indexOf('team/web:2')).toBeLessThan(ranking.indexOf('team/api:1'));
    expect(ranking).not.toContain('team/clean:1');
    const shared = text.split('Secrets shared through a common layer:')[1]!.split('\n\n')[0]!;
    expect(shared).toContain('in 2 images: docker://registry.example.com/team/api:1, docker://registry.example.com/team/web:2');
    // The shared one is not repeated under the images' own findings.
    const own = text.split('Findings of single images:')[1]!.split('\n\n')[0]!;
    expect(own).not.toContain('team/api:1');
    expect(text).toMatch(/Images that could not be scanned:\n {2}docker:\/\/registry\.example\.com\/team\/gone:1: .*404/);
  });

  it('sarif: one run per scanned image', () => {
    expect((JSON.parse(renderAudit(goldenAudit, 'sarif')) as { runs: unknown[] }).runs).toHaveLength(3);
  });

  it('exit codes: 2 with an unreadable image, else 1 with findings, else 0', () => {
    expect(auditExitCode(goldenAudit)).toBe(2);
    const readable = { ...goldenAudit, images: goldenAudit.images.filter((i) => i.status === 'scanned') };
    expect(auditExitCode(readable)).toBe(1);
    expect(auditExitCode({ ...readable, images: readable.images.map((i) => ({ ...i, findings: [] })) })).toBe(0);
  });
});

describe('audit sources', () => {
  it('registry:HOST[:PORT] is a whole registry; with a repository it is one image', () => {
    expect(registryHostOf('registry:127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(registryHostOf('registry:Registry.Example.com/')).toBe('registry.example.com');
    expect(registryHostOf('registry://localhost:5000')).toBe('localhost:5000');
    expect(registryHostOf('registry:127.0.0.1:5000/team/app:1')).toBeNull();
    expect(registryHostOf('docker://127.0.0.1:5000/team/app:1')).toBeNull();
    expect(registryHostOf('app.tar')).toBeNull();
  });

  it('image references pass through in order, duplicates folded', async () => {
    expect(await expandSources(['a:1', 'docker://h:5000/b:2', 'a:1', 'x.tar'], {})).toEqual(['a:1', 'docker://h:5000/b:2', 'x.tar']);
  });

  it('image lists: one a line or space-separated, blanks and comments skipped, duplicates folded; - is standard input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratascan-list-'));
    try {
      const file = join(dir, 'images.txt');
      writeFileSync(file, '# from kubectl\nnginx:1.27 redis:7\n\nnginx:1.27\n  ghcr.io/org/app@sha256:' + 'a'.repeat(64) + '\n');
      expect(await readImageList(file, Readable.from([]))).toEqual(['nginx:1.27', 'redis:7', `ghcr.io/org/app@sha256:${'a'.repeat(64)}`]);
      expect(await readImageList('-', Readable.from([Buffer.from('a:1\na:1\nb:2\n')]))).toEqual(['a:1', 'b:2']);
      await expect(readImageList(join(dir, 'missing.txt'), Readable.from([]))).rejects.toThrow(/reading the image list/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('queue URLs: redis://[USER:PASSWORD@]HOST[:PORT][/DB], never echoing a password', () => {
    expect(parseQueueUrl('redis://127.0.0.1:6380/2')).toMatchObject({ host: '127.0.0.1', port: 6380, db: 2, label: '127.0.0.1:6380/2' });
    expect(parseQueueUrl('redis://redis')).toMatchObject({ host: 'redis', port: 6379, db: 0 });
    const withAuth = parseQueueUrl('redis://:s3cret-pw@redis:6379/1');
    expect(withAuth.password).toBe('s3cret-pw');
    expect(withAuth.label).not.toContain('s3cret');
    expect(() => parseQueueUrl('http://redis')).toThrow(/--queue takes redis:\/\//);
    expect(() => parseQueueUrl('not a url')).toThrow(/--queue takes/);
    expect(() => parseQueueUrl('redis://redis/x')).toThrow(/not a number/);
  });
});
