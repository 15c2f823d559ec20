import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../fixtures/builder.mjs';
import { scanImage } from '../src/scan.js';
import { loadRuleSet } from '../src/detect/rules.js';
import { DetectionEngine } from '../src/detect/engine.js';
import { decodesToStandInLogin, holdsSampleJwt, isBlockchainAddress, isDocumentationPassword, isPlaceholder, meetsEntropy } from '../src/detect/filters.js';
import { randomChars, renderTemplate, seededRandom } from '../src/detect/template.js';
import { betterRule, secretHash } from '../src/attribute.js';

// PROMOTE_SEED=N reruns a failure's seed (the describe titles print it).
const seed = Number(process.env.PROMOTE_SEED ?? Date.now() % 100000);
const rand = seededRandom(seed);
const fill = (template: string) => renderTemplate(template, rand).text;
const rules = loadRuleSet().rules;
const rule = (id: string) => rules.find((r) => r.id === id)!;
const engine = new DetectionEngine(rules);
const scan = (text: string) => engine.scan(Buffer.from(text));

describe(`a catch-all match is reported under the provider rule its context names (seed ${seed})`, () => {
  it('by the setting: a Heroku key (a UUID) named by its section is heroku-api-key', () => {
    const key = fill('{{uuid}}');
    const found = scan(`{\n  "name": "orders",\n  "heroku": {\n    "apiKey": "${key}",\n    "region": "eu"\n  }\n}\n`);
    expect(found.filter((m) => m.secret === key).map((m) => m.ruleId)).toEqual(['heroku-api-key']);
  });

  it("by the text around it: an SDK import, or the API's host after an Authorization header", () => {
    const key = fill('{{alnum:14}}{{digits:4}}{{alnum:6}}');
    const sdk = scan(`const Razorpay = require('razorpay');\n\nconst client = new Razorpay({\n  key_secret: '${key}',\n});\n`);
    expect(sdk.filter((m) => m.secret === key).map((m) => m.ruleId)).toEqual(['razorpay-key']);
    // The Authorization-header rule reports a value only above its entropy floor (~2% of random
    // 32-hex values fall under it); which rule names a value it reports is the point here.
    let hex = fill('{{hex:32}}');
    while (!meetsEntropy(hex, rule('authorization-header').entropy!)) hex = fill('{{hex:32}}');
    const curl = scan(`#!/bin/sh\ncurl -sS -H "Authorization: Bearer ${hex}" https://api.datadoghq.com/api/v1/validate\n`);
    expect(curl.filter((m) => m.secret === hex).map((m) => m.ruleId)).toEqual(['datadog-api-key']);
  });

  it("keeps the catch-all rule when the value does not have the provider rule's shape", () => {
    const value = fill('{{alnum:28}}{{digits:4}}');
    // SendGrid keys start SG.: a value of another shape stays generic, named after the setting.
    const [named] = scan(`SENDGRID_API_KEY=${value}\n`);
    expect(named).toMatchObject({ ruleId: 'generic-api-key', provider: rule('sendgrid-api-key').provider });
    // A Datadog key is 32 hex digits: the host names Datadog, the value is not one.
    const curl = scan(`curl -H "Authorization: Bearer ${value}" https://api.datadoghq.com/api/v1/validate\n`);
    expect(curl.map((m) => m.ruleId)).toEqual(['authorization-header']);
  });

  it("drops a catch-all value that is a provider's prefixed token in the wrong case", () => {
    const spu = fill('spu-{{hex:32}}');
    expect(scan(`api_token = '${spu}'\n`).map((m) => m.ruleId)).toContain('spectralops-api-key');
    // Written in capitals: a mangled copy of a known token format, not a credential.
    expect(scan(`api_token = '${spu.toUpperCase()}'\n`).map((m) => m.ruleId)).toEqual([]);
    // Of another length, or with a shared prefix, it may be a format the rule does not know yet.
    expect(scan(`api_token = '${fill('spu-{{hex:38}}')}'\n`).map((m) => m.ruleId)).toEqual(['generic-api-key']);
    // An everyday word is no token prefix: a value that merely starts with one stays generic.
    const other = fill('live_{{alnum:24}}{{digits:4}}');
    expect(scan(`api_token = '${other}'\n`).map((m) => m.ruleId)).toEqual(['generic-api-key']);
  });

  it("drops a key named for a long-tail provider when the value has none of that provider's one shape", () => {
    // AccuWeather keys are 32 letters and digits: a value with a character no key holds, or of
    // another length, next to its name is not one of its keys, whether the setting or the line
    // before names it.
    const odd = fill('{{alnum:12}}_{{alnum:12}}{{digits:4}}');
    expect(scan(`ACCUWEATHER_API_KEY=${odd}\n`)).toEqual([]);
    expect(scan(`[INFO] Sending request to the accuweather API\n[DEBUG] Using API_KEY=${odd}\n`)).toEqual([]);
    // The same value named for no provider, or for one with several key shapes, stays reported.
    expect(scan(`SHELFWATCH_API_KEY=${odd}\n`).map((m) => m.ruleId)).toEqual(['generic-api-key']);
    expect(scan(`[INFO] Sending request to the API\n[DEBUG] Using API_KEY=${odd}\n`).map((m) => m.ruleId)).toEqual(['generic-api-key']);
    // A value of the shape in another case still counts (other tables match these shapes in any
    // case): Adzuna keys are 32 lower-case letters and digits.
    const upper = fill('{{upper:28}}{{digits:4}}');
    expect(scan(`ADZUNA_API_KEY=${upper}\n`)).toMatchObject([{ ruleId: 'generic-api-key', secret: upper, provider: rule('adzuna-api-key').provider }]);
    // Nor is a value of the right length whose letters go past the documented alphabet (Todoist
    // keys are 40 hex digits; other scanners take any lower-case letter).
    const wide = fill('ghijk{{lower:31}}{{digits:4}}');
    expect(scan(`TODOIST_API_KEY=${wide}\n`)).toMatchObject([{ ruleId: 'generic-api-key', secret: wide, provider: rule('todoist-api-key').provider }]);
  });

  it('drops a hex key with a stray letter or two, and a prefixed token shorter than every form of it', () => {
    // Billomat keys are 32 hex digits: one or two letters past f make a typed or made-up key,
    // named or not; random letters and digits (another table's wider alphabet) stay reported.
    const stray = (hex: string, letter: string) => hex.slice(0, 9) + letter + hex.slice(10);
    expect(scan(`req.Header.Set("X-BillomatApiKey", "${stray(fill('{{hex:32}}'), 'h')}")\n`)).toEqual([]);
    expect(scan(`[DEBUG] token=${stray(fill('spu-{{hex:32}}'), 'w')}\n`)).toEqual([]);
    const wide = fill('{{alnum:28}}{{digits:4}}');
    expect(scan(`BILLOMAT_API_KEY=${wide}\n`)).toMatchObject([{ ruleId: 'generic-api-key', secret: wide }]);
    // Hex digits of a length no hex key of the provider has (W&B's are 40, beside its wandb_v1_ keys).
    expect(scan(`WANDB_API_KEY = '${fill('{{hex:34}}')}'\n`)).toEqual([]);
    // xAI keys are xai- and 80 characters: a named xai- value far shorter is none; a longer one
    // may be a format the rule has yet to learn.
    expect(scan(`xai_token = '${fill('xai-{{alnum:37}}{{digits:4}}')}'\n`)).toEqual([]);
    const longer = fill('xai-{{alnum:86}}{{digits:4}}');
    expect(scan(`xai_token = '${longer}'\n`)).toMatchObject([{ ruleId: 'generic-api-key', secret: longer }]);
    // A symbol that no form of the token holds: bkua_ tokens are lower-case letters and digits.
    expect(scan(`buildkite_secret := "${fill('bkua_{{lower:30}}{{digits:2}}-{{lower:4}}-{{lower:4}}')}"\n`)).toEqual([]);
  });

  it('drops a prefixed token one character short or long of the fixed length its issuer documents', () => {
    // Adafruit IO keys are aio_ and 28 letters and digits; Heroku's HRKU-AA and 58 URL-safe ones.
    expect(scan(`API_KEY=${fill('aio_{{alnum:25}}{{digits:4}}')}\n`)).toEqual([]);
    expect(scan(`API_KEY=${fill('aio_{{alnum:23}}{{digits:4}}')}\n`)).toEqual([]);
    expect(scan(`api_token = '${fill('HRKU-AA{{alnum:53}}{{digits:4}}')}'\n`)).toEqual([]);
    expect(scan(`API_KEY=${fill('aio_{{alnum:24}}{{digits:4}}')}\n`).map((m) => m.ruleId)).toContain('adafruit-io-key');
    // Farther off, it may be another generation of the format: kept.
    const longer = fill('aio_{{alnum:32}}{{digits:4}}');
    expect(scan(`API_KEY=${longer}\n`)).toMatchObject([{ ruleId: 'generic-api-key', secret: longer }]);
  });

  it("drops a value laid out as a provider's key with a symbol typed into its hex, named for the provider", () => {
    // Airtable tokens are pat, 14 letters and digits, a dot and 64 hex digits.
    const typo = fill('tok{{alnum:10}}{{digits:4}}.{{hex:30}}-{{hex:33}}');
    expect(scan(`airtable token = '${typo}'\n`)).toEqual([]);
    // Letters past f all through the body are another table's wider alphabet: kept.
    const wide = fill('tok{{alnum:10}}{{digits:4}}.{{lower:30}}-{{lower:33}}');
    expect(scan(`airtable token = '${wide}'\n`)).toMatchObject([{ ruleId: 'generic-api-key', secret: wide }]);
  });

  it("takes git& as a token prefix: an API Management Git password one character off is a mangled copy", () => {
    const password = fill('git&2025{{digits:8}}&{{b64:86}}==');
    expect(scan(`AZURE_URL=https://shop.scm.azure-api.net\nPASSWORD=${password}\n`).map((m) => m.ruleId)).toContain('azure-apim-git-credential');
    expect(scan(`AZURE_URL=https://shop.scm.azure-api.net\nPASSWORD=${password.slice(0, -1)}\n`)).toEqual([]);
  });

  it("names the provider of a Jenkins credential by its name or id when the value has the provider's shape", () => {
    const key = fill('{{lower:28}}{{digits:4}}');
    const inline = scan(`<com.cloudbees.plugins.credentials.impl.StringCredentialsImpl>\n  <id>ci-speech</id>\n  <secret>{assemblyai AQAAABAAA ${key}}</secret>\n</com.cloudbees.plugins.credentials.impl.StringCredentialsImpl>\n`);
    expect(inline.filter((m) => m.secret === key).map((m) => m.ruleId)).toEqual(['assemblyai-api-key']);
    const byId = scan(`<com.cloudbees.plugins.credentials.impl.StringCredentialsImpl>\n  <id>assemblyai-prod</id>\n  <secret>{AQAAABAAA ${key}}</secret>\n</com.cloudbees.plugins.credentials.impl.StringCredentialsImpl>\n`);
    expect(byId.filter((m) => m.secret === key).map((m) => m.ruleId)).toEqual(['assemblyai-api-key']);
    // Of another shape, or named for no provider, it stays a Jenkins credential.
    const other = fill('{{alnum:20}}{{digits:4}}');
    expect(scan(`<id>assemblyai-prod</id>\n<secret>{AQAAABAAA ${other}}</secret>\n`).map((m) => m.ruleId)).toEqual(['jenkins-credential']);
    expect(scan(`<id>deploy-prod</id>\n<secret>{AQAAABAAA ${key}}</secret>\n`).map((m) => m.ruleId)).toEqual(['jenkins-credential']);
  });

  it('a setting may name a provider by another of its names (its keywords: roninApiKey, clientary)', () => {
    const odd = fill('{{alnum:10}}-{{alnum:11}}{{digits:4}}');
    expect(scan(`roninAPIKey := ${odd}\n`)).toEqual([]);
    expect(scan(`shelfwatchAPIKey := ${odd}\n`).map((m) => m.ruleId)).toEqual(['generic-api-key']);
  });

  it("a long-tail rule can win over another provider's rule of the same shape (Apideck's sk_live_ keys)", () => {
    const key = fill('sk_live_{{alnum:89}}{{digits:4}}');
    const found = scan(`[INFO] Sending request to the apideck API\n[DEBUG] Using Key=${key}\n`);
    expect(found.map((m) => m.ruleId).sort()).toEqual(['apideck-api-key', 'stripe-secret-key']);
    expect(betterRule(rule('apideck-api-key'), rule('stripe-secret-key')).id).toBe('apideck-api-key');
    expect(betterRule(rule('stripe-secret-key'), rule('apideck-api-key')).id).toBe('apideck-api-key');
  });

  it("a comment heading a block of settings names the service they configure; another line's first word does not", () => {
    const key = fill('{{lower:30}}7q');
    const file = (heading: string) => scan(`# ${heading}\n# Organization details\nORG_NAME=my_organization\n\n# API keys\nSECRET_KEY=${key}\n`);
    expect(file('Adzuna Secret Configuration File').filter((m) => m.secret === key).map((m) => m.ruleId)).toEqual(['adzuna-api-key']);
    expect(file('Adzuna was dropped in 2023, see the wiki').filter((m) => m.secret === key).map((m) => m.ruleId)).toEqual(['generic-api-key']);
  });

  it('a setting that names one service is not overruled by another named nearby', () => {
    const hex = fill('{{hex:32}}');
    // Datadog takes 32 hex digits too, but the setting names an in-house service.
    const found = scan(`SHELFWATCH_API_KEY=${hex}\n# the datadog agent runs beside us\n`);
    expect(found).toMatchObject([{ ruleId: 'generic-api-key', provider: 'Shelfwatch' }]);
  });

  it('technologies and everyday words that a file mentions name no key', () => {
    const value = fill('{{alnum:28}}{{digits:4}}');
    const env = scan(`NODE_ENV=production\nREDIS_HOST=redis\n# npm ci, then node server.js\nSERVICE_TOKEN=${value}\n`);
    expect(env.map((m) => m.ruleId)).toEqual(['generic-api-key']);
    const pw = fill('{{alnum:16}}{{digits:2}}');
    const mysql = scan(`MYSQL_ROOT_PASSWORD=${pw}\n`);
    expect(mysql.map((m) => m.ruleId)).toEqual(['generic-password']);
  });

  it("format rules are not promoted: netrc keeps its own finding beside the host's rule", () => {
    const token = fill('ghp_{{alnum:36}}');
    const found = scan(`machine github.com\n  login ci-bot\n  password ${token}\n`);
    expect(found.map((m) => m.ruleId).sort()).toEqual(['github-token', 'netrc-credentials']);
  });

  describe('in the report, on a worker thread and inline', () => {
    let dir: string;
    const hex = fill('{{hex:32}}');
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'stratascan-promote-'));
      const content = `const config = {\n  datadog: {\n    apiKey: '${hex}',\n  },\n};\nmodule.exports = config;\n`;
      writeFileSync(join(dir, 'image.tar'), (await buildImage({ steps: [{ createdBy: 'COPY . /srv', files: [{ path: '/srv/config.js', content }] }] }, { layout: 'docker-oci' }))!);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("carries the provider rule's id, severity and remediation, and no separate provider name", async () => {
      const datadog = rule('datadog-api-key');
      for (const jobs of [1, 0]) {
        const report = await scanImage(join(dir, 'image.tar'), { jobs, cache: false });
        const found = report.findings.filter((f) => f.secretHash === secretHash(hex));
        expect(found, `jobs ${jobs}`).toHaveLength(1);
        expect(found[0], `jobs ${jobs}`).toMatchObject({ ruleId: datadog.id, severity: datadog.severity, remediation: datadog.remediation, line: 3 });
        expect(found[0]!.provider, `jobs ${jobs}`).toBeUndefined();
      }
    });
  });
});

describe(`look-alikes that are not secrets (seed ${seed})`, () => {
  const JWT_IO = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ';
  const b64url = (s: string) => Buffer.from(s).toString('base64url');

  it("jwt.io's sample token, whatever its algorithm, extra claims or signature, and inside a header value", () => {
    const admin = `${b64url('{"alg":"RS256","typ":"JWT"}')}.${b64url('{"sub":"1234567890","name":"John Doe","admin":true,"iat":1516239022}')}`;
    for (const token of [`${JWT_IO}.${fill('{{b64url:43}}')}`, `${admin}.${fill('{{b64url:342}}')}`]) {
      expect(holdsSampleJwt(token)).toBe(true);
      expect(holdsSampleJwt(`Bearer ${token}`)).toBe(true);
      expect(scan(`## Auth\n\n\`\`\`http\nAuthorization: Bearer ${token}\n\`\`\`\n\n    token: ${token}\n`)).toEqual([]);
    }
    const real = `${b64url('{"alg":"HS256"}')}.${b64url(`{"sub":"${fill('{{digits:10}}')}","name":"Jane Roe","iat":${fill('{{digits:10}}')}}`)}.${fill('{{b64url:43}}')}`;
    expect(holdsSampleJwt(real)).toBe(false);
    expect(scan(`ACCESS_TOKEN=${real}\n`).length).toBeGreaterThan(0);
  });

  it("the JWT RFCs' example token", () => {
    const rfc = 'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    expect(holdsSampleJwt(rfc)).toBe(true);
    expect(scan(`Authorization: Bearer ${rfc}\n`)).toEqual([]);
  });

  it('base64 stand-in logins and counting UUIDs are placeholders; generated ones are not', () => {
    for (const login of ['username:password', 'user:pass', 'admin:secret', 'deploy:p@ssw0rd']) expect(decodesToStandInLogin(Buffer.from(login).toString('base64')), login).toBe(true);
    expect(scan(`{"auths": {"https://index.docker.io/v1/": {"auth": "${Buffer.from('username:password').toString('base64')}"}}}\n`)).toEqual([]);
    for (let i = 0; i < 200; i++) expect(decodesToStandInLogin(Buffer.from(`deploy:${randomChars(rand, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 16)}`).toString('base64'))).toBe(false);
    expect(isPlaceholder('01234567-89ab-cdef-0123-456789abcdef')).toBe(true);
    for (let i = 0; i < 200; i++) expect(isPlaceholder(fill('{{uuid}}'))).toBe(false);
  });

  it('standard base64 with padding no encoder writes is a mangled copy; valid padding, or = spread through another alphabet, is not', () => {
    const bytes = Buffer.from(randomChars(rand, 'abcdefghijklmnopqrstuvwxyz0123456789', 30)).toString('base64');
    const body = `${fill('{{b64:20}}')}/${bytes.replace(/=+$/, '')}`;
    expect(isPlaceholder(`${body}==`)).toBe(false);
    expect(isPlaceholder(`${body.slice(0, 25)}=${body.slice(26)}`)).toBe(true);
    expect(isPlaceholder(`${body}===`)).toBe(true);
    // Other scanners' random test keys use = as one more character: five of them spread out.
    const spread = [0, 1, 2, 3, 4, 5].map(() => fill('{{b64:12}}')).join('=');
    expect(isPlaceholder(`${spread}/a`)).toBe(false);
  });

  it('a JWT whose header or claims decode to text that is not JSON was never issued', () => {
    const part = (text: string) => Buffer.from(text).toString('base64url');
    const claims = part(`{"sub":"${fill('{{hex:16}}')}","iat":${1_700_000_000 + Math.floor(rand() * 1e6)}}`);
    const signature = fill('{{b64url:43}}');
    expect(isPlaceholder(`${part('{"alg":"HS256","typ":"JWT"}')}.${claims}.${signature}`)).toBe(false);
    expect(isPlaceholder(`${part('{"alg":"HS256","typ%B\'')}.${claims}.${signature}`)).toBe(true);
    expect(isPlaceholder(`${part('{"alg":"HS256","typ":"JWT"}')}.${part(`{"sub":"${fill('{{hex:16}}')}","iat":17`)}.${signature}`)).toBe(true);
    // Random parts decode to binary: not judged.
    expect(isPlaceholder(fill('eyJ{{b64url:36}}.eyJ{{b64url:120}}.{{b64url:43}}'))).toBe(false);
  });

  it('chain addresses are public; a 64-hex private key is not an address', () => {
    const address = `0x${fill('{{hex:40}}')}`;
    expect(isBlockchainAddress(address)).toBe(true);
    expect(isBlockchainAddress(`0x${fill('{{hex:64}}')}`)).toBe(false);
    const deployments = `{\n  "contracts": {\n    "RewardToken": "${address}",\n    "Treasury": { "address": "0x${fill('{{HEX:40}}')}" }\n  }\n}\n`;
    expect(scan(deployments)).toEqual([]);
    const key = fill('{{hex:64}}');
    expect(scan(`WALLET_SECRET=0x${key}\n`).map((m) => m.secret)).toEqual([`0x${key}`]);
  });

  it('a short typed password in a fenced Markdown sample is documentation; outside a sample, or random, it is reported', () => {
    const sample = "```js\naxios.get('/user', {\n  proxy: { auth: { username: 'mikeymike', password: 'rapunz3l' } }\n});\n```\n";
    expect(isDocumentationPassword('rapunz3l', () => sample.slice(0, sample.indexOf('rapunz3l')))).toBe(true);
    // A long sample: the fence opens far above the value.
    const long = sample.replace('{\n', `{\n${'  // an option described at length\n'.repeat(200)}`);
    expect(scan(long)).toEqual([]);
    expect(scan(sample)).toEqual([]);
    // After the block closes, or in a config file, the same value is a password.
    expect(scan(`${sample}\nDB_PASSWORD=rapunz3l\n`).map((m) => m.ruleId)).toEqual(['generic-password']);
    expect(scan("auth:\n  password: 'rapunz3l'\n").map((m) => m.ruleId)).toEqual(['generic-password']);
    // A generated password in the same sample is not typed for an illustration.
    // A digit inside: letters alone then two digits read as a camelCase name about 1 run in 500
    // (`pnlXxfBrthjDml85`), which the catch-alls leave alone on purpose.
    const generated = fill('{{alnum:7}}{{digits:1}}{{alnum:6}}{{digits:2}}');
    expect(scan(sample.replace('rapunz3l', generated)).map((m) => m.secret)).toEqual([generated]);
    for (let i = 0; i < 200; i++) expect(isDocumentationPassword(randomChars(rand, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 12), () => '```\n')).toBe(false);
  });

  it("AWS's lifecycle action handle is not a credential", () => {
    expect(scan(`{"LifecycleActionResult": "CONTINUE", "LifecycleActionToken": "${fill('{{uuid}}')}"}\n`)).toEqual([]);
  });
});
