import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../fixtures/builder.mjs';
import { scanImage } from '../src/scan.js';
import { loadRuleSet } from '../src/detect/rules.js';
import { DetectionEngine } from '../src/detect/engine.js';
import { nameWords, serviceBefore, serviceOfName } from '../src/detect/naming.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import { attribute, betterRule, secretHash, sightingValue } from '../src/attribute.js';
import type { ScanReport } from '../src/types.js';

const rand = seededRandom(Date.now() % 100000);
const value = () => renderTemplate('{{alnum:28}}{{digits:4}}', rand).text;
const known = new Map([['sendgrid', 'SendGrid (Twilio)'], ['newrelic', 'New Relic'], ['huggingface', 'Hugging Face']]);

describe('the service a setting name points at', () => {
  it('splits names of every case style into words', () => {
    expect(nameWords('ZENDESK_API_KEY')).toEqual(['zendesk', 'api', 'key']);
    expect(nameWords('zendeskApiKey')).toEqual(['zendesk', 'api', 'key']);
    expect(nameWords('APIKeyForHTTPServer')).toEqual(['api', 'key', 'for', 'http', 'server']);
    expect(nameWords('$env:TWILIO_AUTH_TOKEN')).toEqual(['env', 'twilio', 'auth', 'token']);
  });

  it('names the service, spelt as the catalogue spells it when a rule has it', () => {
    expect(serviceOfName('ZENDESK_API_KEY', known)).toBe('Zendesk');
    expect(serviceOfName('prodZendeskToken', known)).toBe('Zendesk');
    expect(serviceOfName('SENDGRID_SECRET', known)).toBe('SendGrid (Twilio)');
    expect(serviceOfName('NEW_RELIC_LICENSE_KEY', known)).toBe('New Relic');
    expect(serviceOfName('hugging_face_token', known)).toBe('Hugging Face');
  });

  it('reads past the prefixes frontend build tools give their variables', () => {
    expect(serviceOfName('REACT_APP_ZENDESK_API_KEY', known)).toBe('Zendesk');
    expect(serviceOfName('VITE_SENDGRID_SECRET', known)).toBe('SendGrid (Twilio)');
    expect(serviceOfName('NEXT_PUBLIC_NEW_RELIC_LICENSE_KEY', known)).toBe('New Relic');
    expect(serviceOfName('REACT_APP_API_KEY', known)).toBeNull();
    expect(serviceOfName('REACT_APP_GUEST_PASSWORD', known)).toBeNull();
  });

  it('names nothing for settings made of scope, role and plumbing words, or without a credential word', () => {
    for (const name of ['API_KEY', 'MY_APP_SECRET', 'PROD_DB_PASSWORD', 'INTERNAL_SERVICE_TOKEN', 'x-api-key', 'v2_token', 'ZENDESK_URL', 'zendesk']) {
      expect(serviceOfName(name, known), name).toBeNull();
    }
  });

  it('reads the name just before a value, or the word before a bare credential word on the line', () => {
    expect(serviceBefore('export ZENDESK_TOKEN="', known)).toBe('Zendesk');
    expect(serviceBefore('System.setProperty("ZENDESK_TOKEN", "', known)).toBe('Zendesk');
    expect(serviceBefore('zendesk token = \'', known)).toBe('Zendesk');
    expect(serviceBefore('zendesk.\napi_key = "', known)).toBeNull();
    expect(serviceBefore('ZENDESK_URL=https://x\nAPI_KEY=', known)).toBeNull();
  });
});

describe('catch-all findings name the service of their setting', () => {
  const rules = loadRuleSet().rules;
  const engine = new DetectionEngine(rules);

  it('in the engine, for generic rules only', () => {
    const v = value();
    const [m] = engine.scan(Buffer.from(`var zendeskToken string = "${v}"\n`));
    expect(m?.ruleId).toBe('generic-api-key');
    expect(m?.provider).toBe('Zendesk');
    const [p] = engine.scan(Buffer.from(`DB_PASSWORD=${v}\n`));
    expect(p?.ruleId).toBe('generic-password');
    expect(p?.provider).toBeUndefined();
  });

  it('a frontend build variable is a catch-all: the rule of the service it names wins on its value', () => {
    // A Sirv client secret (the long-tail table's shape), in a variable that ships in the bundle.
    const sirv = renderTemplate('{{b64:86}}{{digits:2}}', rand).text;
    const found = engine.scan(Buffer.from(`REACT_APP_SIRV_API_SECRET='${sirv}'\n`)).filter((m) => m.secret === sirv);
    expect(found.map((m) => m.ruleId).sort()).toEqual(['frontend-bundle-secret', 'sirv-api-key']);
    const spec = (id: string) => rules.find((r) => r.id === id)!;
    expect(betterRule(spec('frontend-bundle-secret'), spec('sirv-api-key')).id).toBe('sirv-api-key');
    expect(betterRule(spec('sirv-api-key'), spec('frontend-bundle-secret')).id).toBe('sirv-api-key');
    const v = value();
    const [plain] = engine.scan(Buffer.from(`REACT_APP_ZENDESK_SECRET=${v}\n`));
    expect(plain?.ruleId).toBe('frontend-bundle-secret');
    expect(plain?.provider).toBe('Zendesk');
  });

  describe('in the report, scanned and served from the layer cache', () => {
    let dir: string;
    let reports: ScanReport[];
    const zendesk = value();
    const plain = value();
    const github = renderTemplate('ghp_{{alnum:36}}', rand).text;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'stratascan-naming-'));
      const image = join(dir, 'image.tar');
      const spec = {
        env: [`ZENDESK_API_KEY=${zendesk}`],
        steps: [{ createdBy: 'COPY . /srv', files: [{ path: '/srv/app.env', content: `INTERNAL_TOKEN=${plain}\nGITHUB_TOKEN=${github}\nZENDESK_SECRET=${zendesk}\n` }] }],
      };
      writeFileSync(image, (await buildImage(spec, { layout: 'docker-oci' }))!);
      const cacheDir = join(dir, 'cache');
      reports = [await scanImage(image, { jobs: 1, cacheDir }), await scanImage(image, { jobs: 1, cacheDir })];
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('spells the service as the catalogue does, the same on a worker thread and inline', async () => {
      const sendgrid = loadRuleSet().rules.find((r) => r.id === 'sendgrid-api-key')!.provider;
      expect(sendgrid.toLowerCase()).not.toBe('sendgrid');
      const image = join(dir, 'spelling.tar');
      writeFileSync(image, (await buildImage({ steps: [{ createdBy: 'COPY . /srv', files: [{ path: '/srv/mail.env', content: `SENDGRID_SECRET=${plain}\n` }] }] }, { layout: 'docker-oci' }))!);
      for (const jobs of [1, 0]) {
        const found = (await scanImage(image, { jobs, cache: false })).findings.find((f) => f.secretHash === secretHash(plain));
        expect(found?.ruleId, `jobs ${jobs}`).toBe('generic-api-key');
        expect(found?.provider, `jobs ${jobs}`).toBe(sendgrid);
      }
    });

    it('reports the provider named by the setting, on both runs', () => {
      for (const report of reports) {
        const find = (v: string) => report.findings.find((f) => f.secretHash === secretHash(v));
        expect(find(zendesk)?.ruleId).toBe('generic-api-key');
        expect(find(zendesk)?.provider).toBe('Zendesk');
        expect(find(zendesk)?.alsoIn).toHaveLength(1);
        expect(find(plain)?.ruleId).toBe('generic-api-key');
        expect(find(plain)?.provider).toBeUndefined();
        // A specific rule names its provider itself: no provider field beside it.
        expect(find(github)?.ruleId).toBe('github-token');
        expect(find(github)?.provider).toBeUndefined();
      }
      expect(reports[1]!.stats).toMatchObject({ cachedLayers: 1 });
    });
  });
});

describe('a provider rule wins over a catch-all one on the same credential', () => {
  const rules = new Map(loadRuleSet().rules.map((r) => [r.id, r]));
  const layer = { ref: { index: 0, diffId: 'sha256:0', createdBy: null }, changes: { entries: new Map([['/srv/app.env', 'file' as const]]), whiteouts: new Set<string>(), opaqueDirs: new Set<string>() } };
  const sighting = (ruleId: string, secret: string, column: number, line = 1) => ({
    ruleId, ...sightingValue(secret), source: 'file' as const, layerIndex: 0, path: '/srv/app.env', line, column, key: null, length: secret.length,
  });
  const hex = renderTemplate('{{hex:32}}', rand).text;

  it('drops a catch-all match that overlaps a provider match on the same line, even with another extent', () => {
    const found = attribute({ sightings: [sighting('generic-api-key', `key-${hex}`, 17), sighting('mailgun-api-key', hex, 21)], layers: [layer], rules, showSecrets: false });
    expect(found.map((f) => f.ruleId)).toEqual(['mailgun-api-key']);
  });

  it('keeps catch-all matches elsewhere on the line or on another line', () => {
    const other = renderTemplate('{{alnum:30}}{{digits:2}}', rand).text;
    const found = attribute({
      sightings: [sighting('mailgun-api-key', hex, 21), sighting('generic-api-key', other, 70), sighting('jwt', `eyJ${other}`, 21, 2)],
      layers: [layer], rules, showSecrets: false,
    });
    expect(found.map((f) => f.ruleId).sort()).toEqual(['generic-api-key', 'jwt', 'mailgun-api-key']);
  });
});
