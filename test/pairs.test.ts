import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../fixtures/builder.mjs';
import { scanImage } from '../src/scan.js';
import { renderReport } from '../src/report/index.js';
import { renderTemplate, seededRandom } from '../src/detect/template.js';
import { secretHash } from '../src/attribute.js';
import type { Finding, ScanReport } from '../src/types.js';

const rand = seededRandom(Date.now() % 100000);
const gen = (t: string) => renderTemplate(t, rand).text;
const v = {
  awsId: gen('AKIA{{base32:16}}'),
  awsSecret: gen('{{b64:40}}'),
  loneAwsId: gen('AKIA{{base32:16}}'),
  twilioSid: gen('AC{{hex:32}}'),
  twilioToken: gen('{{hex:32}}'),
  loneSid: gen('AC{{hex:32}}'),
  gcpId: gen('{{digits:12}}-{{lower:32}}.apps.googleusercontent.com'),
  gcpSecret: gen('GOCSPX-{{b64url:28}}'),
};

let dir: string;
let image: string;
let report: ScanReport;
const find = (value: string): Finding | undefined => report.findings.find((f) => f.secretHash === secretHash(value));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stratascan-pairs-'));
  const spec = {
    env: ['PATH=/usr/bin:/bin', `TWILIO_ACCOUNT_SID=${v.twilioSid}`, `TWILIO_AUTH_TOKEN=${v.twilioToken}`],
    steps: [
      {
        createdBy: 'COPY . /srv/app',
        files: [
          { path: '/srv/app/.env', content: `# deploy\nAWS_REGION=eu-west-1\nAWS_ACCESS_KEY_ID=${v.awsId}\nAWS_SECRET_ACCESS_KEY=${v.awsSecret}\n` },
          { path: '/srv/app/docs/iam.md', content: `The deploy user is ${v.loneAwsId}; its secret lives in the vault.\n` },
          { path: '/srv/app/twilio.txt', content: `twilio account ${v.loneSid} (no token here)\n` },
          { path: '/srv/app/client_secret.json', content: JSON.stringify({ web: { client_id: v.gcpId, client_secret: v.gcpSecret } }, null, 2) },
        ],
      },
    ],
  };
  image = join(dir, 'pairs.tar');
  writeFileSync(image, (await buildImage(spec, { layout: 'docker-oci' }))!);
  report = await scanImage(image, { jobs: 1, cacheDir: join(dir, 'cache') });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('secrets reported with the identifier they are used with', () => {
  it('an AWS secret key carries the key id from the same file, which is not reported again', () => {
    const f = find(v.awsSecret);
    expect(f?.ruleId).toBe('aws-secret-access-key');
    expect(f?.pairedWith).toMatchObject({ ruleId: 'aws-access-key-id', secretHash: secretHash(v.awsId), line: 3 });
    expect(f?.pairedWith?.redacted.startsWith(v.awsId.slice(0, 4))).toBe(true);
    expect(find(v.awsId)).toBeUndefined();
  });

  it('a key id with no secret beside it is still reported on its own', () => {
    expect(find(v.loneAwsId)?.pairedWith).toBeNull();
  });

  it('pairs across the image config (ENV) and inside JSON files', () => {
    expect(find(v.twilioToken)?.pairedWith).toMatchObject({ ruleId: 'twilio-account-sid', secretHash: secretHash(v.twilioSid), key: 'TWILIO_ACCOUNT_SID' });
    expect(find(v.gcpSecret)?.pairedWith).toMatchObject({ ruleId: 'gcp-oauth-client-id', secretHash: secretHash(v.gcpId) });
  });

  it('an identifier-only rule never reports on its own', () => {
    expect(find(v.loneSid)).toBeUndefined();
    expect(find(v.twilioSid)).toBeUndefined();
  });

  it('the pair survives the layer cache, and reports show it redacted', async () => {
    const again = await scanImage(image, { jobs: 1, cacheDir: join(dir, 'cache') });
    expect(again.stats.cachedLayers).toBe(1);
    expect(again.findings.map((f) => f.pairedWith)).toEqual(report.findings.map((f) => f.pairedWith));
    const text = renderReport(report, 'text', {});
    expect(text).toMatch(/with AWS access key ID AKIA\S* \(line 3\): one credential, revoke it as a pair/);
    for (const format of ['text', 'json', 'sarif', 'gitlab', 'github'] as const) {
      const out = renderReport(report, format, {});
      for (const [name, value] of Object.entries(v)) {
        expect(out.includes(value), `${format} holds the raw ${name}`).toBe(false);
      }
    }
  });
});
