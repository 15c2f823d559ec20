import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { buildImage } from '../fixtures/builder.mjs';
import { scanImage } from '../src/scan.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import { secretHash } from '../src/attribute.js';
import { WINDOW_BYTES } from '../src/layer/walk.js';
import { globToRegExp, isAllowlisted } from '../src/detect/allowlist.js';

const rand = seededRandom(Date.now() % 1e6);
const token = () => renderTemplate('ghp_{{alnum:36}}', rand).text;

describe('large files are scanned in windows with exact positions', () => {
  it('finds secrets deep in a log, at a window seam, and far along one long line', async () => {
    const deep = token();
    const seam = token();
    const wide = token();
    const lines: string[] = [];
    for (let i = 1; i < 200_000; i++) lines.push(`${i} INFO request served in 3ms`);
    const log = `${lines.join('\n')}\nauth token=${deep}\n`;
    // Place a token across the first window boundary of its file.
    const pad = 'a'.repeat(WINDOW_BYTES - 10);
    const seamFile = `${pad}\n${seam}\n`;
    const bundle = `var x="${'q'.repeat(1_200_000)}";var t="${wide}";`;
    const bytes = await buildImage(
      { steps: [{ createdBy: 'ADD logs', files: [
        { path: '/var/log/app.log', content: log },
        { path: '/srv/seam.txt', content: seamFile },
        { path: '/srv/bundle.min.js', content: bundle },
      ] }] },
      { layout: 'oci-archive', compression: 'gzip' },
    );
    const report = await scanImage('-', { stdin: Readable.from([bytes!]), jobs: 2 });
    const at = (s: string) => report.findings.find((f) => f.secretHash === secretHash(s));
    expect(at(deep)).toMatchObject({ path: '/var/log/app.log', line: 200_000, column: 12 });
    expect(at(seam)).toMatchObject({ path: '/srv/seam.txt', line: 2, column: 1 });
    expect(at(wide)).toMatchObject({ path: '/srv/bundle.min.js', line: 1, column: 1_200_000 + 17 });
    expect(report.findings).toHaveLength(3);
  });
});

describe('built-in allowlist', () => {
  it('matches globs by path segment', () => {
    expect(globToRegExp('/usr/share/doc/**/examples/**').test('/usr/share/doc/libx/examples/key.pem')).toBe(true);
    expect(globToRegExp('/usr/share/doc/**/examples/**').test('/usr/share/doc/examples/key.pem')).toBe(true);
    expect(globToRegExp('/usr/share/doc/*/x').test('/usr/share/doc/a/b/x')).toBe(false);
    const entries = [{ rules: ['private-key'], paths: [globToRegExp('/usr/share/doc/**/examples/**')], reason: 'docs' }];
    expect(isAllowlisted(entries, 'private-key', '/usr/share/doc/p/examples/k.pem')).toBe(true);
    expect(isAllowlisted(entries, 'github-token', '/usr/share/doc/p/examples/k.pem')).toBe(false);
    expect(isAllowlisted(entries, 'private-key', '/root/examples/k.pem')).toBe(false);
  });
});
