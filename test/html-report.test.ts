import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { buildImage } from '../fixtures/builder.mjs';
import { loadRuleSet } from '../src/detect/rules.js';
import { fingerprintOf } from '../src/policy/index.js';
import { HTML_CLIENT_SCRIPT } from '../src/report/html-assets.js';
import { auditView, renderAuditHtml, renderHtml, scanView, scriptHash, scriptJson, type AuditReport } from '../src/report/html.js';
import { renderReport } from '../src/report/index.js';
import { scanImage } from '../src/scan.js';
import type { Finding, ScanReport } from '../src/types.js';
import { goldenReport } from './golden/report.js';
import { launchChromium, VIEWPORTS } from './support/chromium.mjs';
import { describeReal } from './support/describe-real.js';
import { makeSecrets, type Secrets } from './support/leaky-spec.js';

const ROOT = join(__dirname, '..');
// A real browser on a shared machine: full-page screenshots of long pages take seconds each.
const BROWSER_TIMEOUT = 120_000;
const ARTIFACTS = join(__dirname, 'artifacts');
const providers = Object.fromEntries(loadRuleSet().rules.map((r) => [r.id, r.provider]));

// What an image author could put in paths, labels and build steps to attack the report's reader.
const PAYLOADS = {
  img: `<img src=x onerror="window.__pwned='img';alert(1)">`,
  script: `</script><script>window.__pwned='script'</script>`,
  svg: `"><svg onload="window.__pwned='svg'"></svg>`,
  comment: `<!--<script>window.__pwned='comment'</script>`,
};

function hostileSpec(s: Secrets) {
  return {
    steps: [
      { createdBy: `/bin/sh -c #(nop) ADD file:${PAYLOADS.script} in / `, files: [{ path: '/etc', type: 'dir' as const }, { path: '/etc/os-release', content: 'ID=fixture\n' }] },
      { createdBy: `/bin/sh -c echo '${PAYLOADS.img}' > /srv/x`, files: [{ path: `/srv/${PAYLOADS.img}.env`, content: `GITHUB_TOKEN=${s.ghConfig}\n` }] },
      { createdBy: `/bin/sh -c rm -f '/srv/${PAYLOADS.svg}'`, files: [{ path: `/srv/${PAYLOADS.img}.env`, type: 'whiteout' as const }] },
      { createdBy: `/bin/sh -c #(nop) COPY ${PAYLOADS.comment} in /opt`, files: [{ path: `/opt/${PAYLOADS.svg}.cfg`, content: `token: ${s.opaqueToken}\n` }] },
    ],
    env: ['PATH=/usr/bin:/bin', `GH_OAUTH=${s.ghEnv}`],
    labels: { [`${PAYLOADS.img}.clarifai-key`]: s.clarifaiLabel, [`org.example.${PAYLOADS.script}`]: PAYLOADS.svg },
    cmd: ['/bin/sh'],
  };
}

const withVerification = (report: ScanReport): ScanReport => ({
  ...report,
  findings: report.findings.map((f, i): Finding => (i === 0 ? { ...f, verification: { status: 'valid', detail: 'the provider accepted it' } } : i === 3 ? { ...f, verification: { status: 'invalid', detail: 'revoked' } } : f)),
});

describe('HTML report, rendered', () => {
  it('admits only its own script: the CSP hash is that of the inline script, computed from its text', () => {
    const html = renderHtml(goldenReport);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!;
    expect(csp).toBe(`default-src 'none'; style-src 'unsafe-inline'; script-src ${scriptHash(HTML_CLIENT_SCRIPT)}; base-uri 'none'; form-action 'none'`);
    expect(html).toContain(`<script>${HTML_CLIENT_SCRIPT}</script>`);
    expect(scriptHash('alert(1)')).toBe("'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='");
    expect(html).not.toMatch(/\b(?:src|href)="(?:https?:)?\/\//);
  });

  it('embeds the data as JSON that cannot end its script element', () => {
    const json = scriptJson({ a: '</script><script>x()</script>', b: '<!-- \u2028' });
    expect(json).not.toContain('<');
    expect(json).not.toContain('\u2028');
    expect(JSON.parse(json)).toEqual({ a: '</script><script>x()</script>', b: '<!-- \u2028' });
    const hostile = structuredClone(goldenReport);
    hostile.findings[2]!.path = PAYLOADS.script;
    hostile.image.layers[1]!.createdBy = PAYLOADS.comment;
    hostile.target = PAYLOADS.img;
    hostile.image.reference = null;
    const html = renderHtml(hostile);
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    expect(html.match(/<script\b/g)).toHaveLength(2);
    expect(html).not.toContain('<img');
    expect(html).toContain('<title>stratascan: &lt;img src=x onerror=&quot;window.__pwned=&#39;img&#39;;alert(1)&quot;&gt;</title>');
  });

  it('orders findings most severe first and keeps every fact the page draws', () => {
    const view = scanView(goldenReport, { providers });
    expect(view.findings.map((f) => f.severity)).toEqual(['critical', 'critical', 'critical', 'critical', 'high', 'medium']);
    expect(view.findings.map((f) => f.n)).toEqual([1, 2, 3, 4, 5, 6]);
    const aws = view.findings.find((f) => f.ruleId === 'aws-secret-access-key')!;
    expect(aws).toMatchObject({ lane: 'layers', layer: 1, inFinalImage: false, removedBy: { index: 2 }, provider: 'AWS', fingerprint: `aws-secret-access-key:${'sha256:'}${(4).toString(16).padStart(64, '0')}` });
    expect(aws.pairedWith).toEqual({ title: 'AWS access key ID', redacted: 'AKIA************', at: 'line 2' });
    expect(aws.alsoIn).toEqual([{ source: 'file', layer: 4, where: '/srv/app/backup/aws.env:1', inFinalImage: true }]);
    expect(view.findings.filter((f) => f.lane === 'config').map((f) => f.source).sort()).toEqual(['env', 'history', 'label']);
    expect(view.layers.map((l) => l.base)).toEqual([true, false, false, false, false]);
    expect(view.verified).toBe(false);
    expect(scanView(withVerification(goldenReport)).verified).toBe(true);
  });

  it('links only to http(s) pages', () => {
    const report = structuredClone(goldenReport);
    report.findings[0]!.url = 'javascript:alert(1)';
    report.findings[1]!.url = 'https://example.com/revoke"onmouseover="x';
    const view = scanView(report);
    expect(view.findings.map((f) => f.url)).not.toContain('javascript:alert(1)');
    expect(view.findings.every((f) => f.url === null || /^https:\/\/[^"]+$/.test(f.url))).toBe(true);
  });

  it('bidi and control characters in image text are shown, not obeyed', () => {
    const report = structuredClone(goldenReport);
    report.findings[5]!.path = '/srv/\u202Egfc.exe\u0007';
    const f = scanView(report).findings.find((x) => x.ruleId === 'aws-access-key-id')!;
    expect(f.where).toBe('/srv/\\u202egfc.exe\\x07:7');
  });
});

describe('HTML audit page', () => {
  const byRule = (id: string) => goldenReport.findings.find((f) => f.ruleId === id)!;
  const audit: AuditReport = {
    schemaVersion: 1,
    kind: 'audit',
    images: [
      { reference: 'example.com/low:1', digest: null, platform: 'linux/amd64', status: 'scanned', error: null, findings: [byRule('aws-access-key-id')] },
      { reference: 'example.com/golden:1', digest: null, platform: 'linux/amd64', status: 'scanned', error: null, findings: goldenReport.findings },
      { reference: 'example.com/broken:1', digest: null, platform: null, status: 'error', error: 'reading layer sha256:abc: unexpected end of file', findings: [] },
      { reference: 'example.com/sibling:2', digest: null, platform: 'linux/amd64', status: 'cached', error: null, findings: [byRule('private-key'), byRule('aws-secret-access-key'), { ...byRule('aws-access-key-id'), secret: 'AKIA-raw-value-never-shown' }] },
    ],
    layers: { unique: 9, scanned: 6, fromCache: 3 },
  };

  it('ranks images by severity (errors last) and lists each shared secret once with its images', () => {
    const view = auditView(audit, { providers });
    expect(view.images.map((i) => i.reference)).toEqual(['example.com/golden:1', 'example.com/sibling:2', 'example.com/low:1', 'example.com/broken:1']);
    expect(view.images[1]!.counts).toEqual({ critical: 1, high: 1, medium: 1, low: 0 });
    expect(view.shared.map((s) => [s.fingerprint.split(':')[0], s.images])).toEqual([
      ['aws-secret-access-key', [1, 2]],
      ['private-key', [1, 2]],
      ['aws-access-key-id', [1, 2, 3]],
    ]);
    // One base layer shared by both images gives one place.
    expect(view.shared.find((s) => s.fingerprint.startsWith('private-key'))!.places).toEqual([`layer ${'sha256:aaaaaaaaaaaa'} /etc/ssl/private/base.key:1`]);
    const html = renderAuditHtml(audit);
    expect(html).not.toContain('AKIA-raw-value-never-shown');
    expect(html.match(/<\/script>/g)).toHaveLength(2);
  });
});

describeReal('HTML report in chromium (headless, no network)', ['chromium'], () => {
  let context: BrowserContext;
  let close: () => Promise<void>;
  let dir: string;
  const secrets = makeSecrets((Date.now() % 100000) + 77);
  let hostile: ScanReport;
  let demo: ScanReport;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stratascan-html-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    const image = join(dir, 'hostile.tar');
    writeFileSync(image, (await buildImage(hostileSpec(secrets), { layout: 'docker-legacy', reference: 'example.com/hostile:1' }))!);
    hostile = await scanImage(image, { jobs: 0, cache: false, showSecrets: true });
    demo = await scanImage(join(ROOT, 'fixtures', 'demo', 'leaky-demo.tar'), { jobs: 0, cache: false });
    ({ context, close } = await launchChromium());
  });
  afterAll(async () => {
    await close?.();
    rmSync(dir, { recursive: true, force: true });
  });

  interface Opened {
    page: Page;
    url: string;
    requests: string[];
    errors: string[];
    dialogs: string[];
  }

  async function open(name: string, html: string, viewport = VIEWPORTS.desktop, colorScheme: 'light' | 'dark' = 'light'): Promise<Opened> {
    const path = join(dir, `${name}.html`);
    writeFileSync(path, html);
    const url = pathToFileURL(path).href;
    const page = await context.newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    const dialogs: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.setViewportSize(viewport);
    await page.emulateMedia({ colorScheme });
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForSelector('html[data-ready="true"]', { timeout: 10_000 });
    return { page, url, requests, errors, dialogs };
  }

  const visible = (page: Page, selector: string) => page.locator(selector).filter({ visible: true }).count();

  it('draws every finding in the timeline and in the list, with no console error and no request but the file', async () => {
    const report = demo;
    const { page, url, requests, errors } = await open('demo', renderReport(report, 'html', { providers }));
    expect(errors).toEqual([]);
    expect(requests).toEqual([url]);
    expect(await page.locator('.tl-row[data-n]').count()).toBe(report.findings.length);
    expect(await page.locator('.findings > .finding').count()).toBe(report.findings.length);
    for (const f of report.findings) {
      const card = page.locator('.finding', { has: page.locator('.fingerprint', { hasText: fingerprintOf(f) }) });
      expect(await card.count(), fingerprintOf(f)).toBe(1);
      const n = await card.getAttribute('data-n');
      const row = page.locator(`.tl-row[data-n="${n}"]`);
      expect(await row.locator('.tl-title').textContent()).toBe(`#${n} ${f.title}`);
      if (f.layer && f.source === 'file') expect(await row.locator('.tl-start').getAttribute('title')).toBe(`Introduced in layer ${f.layer.index}`);
      if (!f.inFinalImage) expect(await row.locator('.tl-state').textContent()).toContain(`still recoverable from layer ${f.layer!.index}`);
      expect(await card.textContent()).toContain(f.redacted);
    }
    // Links from the timeline land on the list and on the layers.
    await page.locator('.tl-row[data-n="2"] .tl-title').click();
    expect(new URL(page.url()).hash).toBe('#finding-2');
    expect(await page.locator(`#layer-${report.image.layers.length - 1}`).count()).toBe(1);
    await page.close();
  }, BROWSER_TIMEOUT);

  it('filters by severity, provider, final image and live, from the keyboard too', async () => {
    const { page, errors } = await open('golden-filters', renderReport(withVerification(goldenReport), 'html', { providers }));
    const counts = async () => [await visible(page, '.findings > .finding'), await visible(page, '.tl-row[data-n]')];
    expect(await counts()).toEqual([6, 6]);
    await page.locator('input[name=severity][value=critical]').uncheck();
    expect(await counts()).toEqual([2, 2]);
    expect(await page.locator('.filters .status').textContent()).toBe('Showing 2 of 6 findings');
    await page.locator('input[value=critical]').focus();
    await page.keyboard.press('Space');
    expect(await counts()).toEqual([6, 6]);
    await page.locator('select[name=provider]').selectOption('AWS');
    expect(await counts()).toEqual([2, 2]);
    await page.locator('input[name=final]').check();
    expect(await counts()).toEqual([1, 1]);
    await page.locator('select[name=provider]').selectOption('');
    expect(await counts()).toEqual([5, 5]);
    await page.locator('input[name=final]').uncheck();
    await page.locator('input[name=live]').check();
    expect(await counts()).toEqual([1, 1]);
    expect(await page.locator('.findings > .finding').filter({ visible: true }).locator('.badge.live').count()).toBe(1);
    // Nothing left: the lanes go and the list says so.
    await page.locator('input[name=severity][value=critical]').uncheck();
    expect(await counts()).toEqual([0, 0]);
    expect(await visible(page, '.tl-lane')).toBe(0);
    expect(await visible(page, '.empty')).toBe(1);
    expect(errors).toEqual([]);
    await page.close();

    const unverifiedPage = await open('golden-plain', renderReport(goldenReport, 'html', { providers }));
    expect(await unverifiedPage.page.locator('input[name=live]').count()).toBe(0);
    await unverifiedPage.page.close();
  }, BROWSER_TIMEOUT);

  it('a hostile image (markup and script in paths, labels, createdBy) runs nothing and shows the text as text', async () => {
    const paths = hostile.findings.map((f) => f.path ?? '').join('\n');
    expect(paths).toContain(PAYLOADS.img);
    expect(paths).toContain(PAYLOADS.svg);
    expect(hostile.findings.some((f) => f.source === 'label' && f.key?.includes(PAYLOADS.img))).toBe(true);
    expect(hostile.image.layers.map((l) => l.createdBy).join('\n')).toContain(PAYLOADS.script);
    expect(hostile.findings.some((f) => !f.inFinalImage)).toBe(true);
    const html = renderReport(hostile, 'html', { providers });
    for (const [name, value] of Object.entries(secrets)) expect(html.includes(value), name).toBe(false);
    const { page, requests, url, errors, dialogs } = await open('hostile', html);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    expect(requests).toEqual([url]);
    expect(await page.locator('img, svg, iframe, object, embed').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(2);
    const text = await page.locator('body').innerText();
    expect(text).toContain(PAYLOADS.img);
    await page.locator('details.layer-step').first().locator('summary').click();
    expect(await page.locator('details.layer-step pre').first().textContent()).toContain(PAYLOADS.script);
    for (const [scheme, viewport] of [['light', VIEWPORTS.desktop], ['dark', VIEWPORTS.phone]] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize(viewport);
      await page.screenshot({ path: join(ARTIFACTS, `html-hostile-${viewport.width}-${scheme}.png`), fullPage: true });
    }
    expect(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
    await page.close();
  }, BROWSER_TIMEOUT);

  it('a clean image: the layers, a clear "no secrets" and no filters', async () => {
    const { page, errors } = await open('clean', renderHtml({ ...goldenReport, findings: [] }));
    expect(errors).toEqual([]);
    expect(await page.locator('.clean').textContent()).toBe('No secrets found in 5 layers and the image config.');
    expect(await page.locator('form.filters, #timeline').count()).toBe(0);
    expect(await page.locator('.layers > .layer').count()).toBe(5);
    await page.close();
  }, BROWSER_TIMEOUT);

  it('the CSP holds: a script the page did not ship is refused', async () => {
    const { page } = await open('csp', renderHtml(goldenReport));
    await page.addScriptTag({ content: 'window.__injected = 1' }).catch(() => undefined);
    expect(await page.evaluate(() => (window as unknown as { __injected?: number }).__injected)).toBeUndefined();
    await page.close();
  }, BROWSER_TIMEOUT);

  it('the audit page renders: ranking, shared secrets once, no errors', async () => {
    const report: AuditReport = {
      schemaVersion: 1,
      kind: 'audit',
      images: [
        { reference: 'example.com/golden:1', digest: null, platform: 'linux/amd64', status: 'scanned', error: null, findings: goldenReport.findings },
        { reference: hostile.image.reference!, digest: hostile.image.digest, platform: 'linux/amd64', status: 'scanned', error: null, findings: hostile.findings },
        { reference: 'example.com/sibling:2', digest: null, platform: 'linux/amd64', status: 'scanned', error: null, findings: goldenReport.findings.slice(2, 4) },
      ],
      layers: { unique: 12, scanned: 10, fromCache: 2 },
    };
    const { page, errors, requests, url } = await open('audit', renderAuditHtml(report, { providers }));
    expect(errors).toEqual([]);
    expect(requests).toEqual([url]);
    expect(await page.locator('.ranking tbody tr').count()).toBe(3);
    expect(await page.locator('.ranking tbody tr th').first().textContent()).toBe('example.com/golden:1');
    expect(await page.locator('[aria-labelledby=shared-h] .finding').count()).toBe(2);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
    await page.screenshot({ path: join(ARTIFACTS, 'html-audit-1280-light.png'), fullPage: true });
    await page.close();
  }, BROWSER_TIMEOUT);

  it('screenshots at desktop and phone widths, light and dark (test/artifacts/)', async () => {
    for (const [name, report] of [['demo', demo], ['golden', goldenReport]] as const) {
      for (const [width, viewport] of Object.entries(VIEWPORTS)) {
        for (const scheme of ['light', 'dark'] as const) {
          const { page, errors } = await open(`${name}-${width}-${scheme}`, renderReport(report, 'html', { providers }), viewport, scheme);
          expect(errors).toEqual([]);
          // Nothing sticks out sideways except the timeline, which scrolls in its own box.
          expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
          await page.screenshot({ path: join(ARTIFACTS, `html-${name}-${width}-${scheme}.png`), fullPage: true });
          await page.close();
        }
      }
    }
  }, BROWSER_TIMEOUT);
});
