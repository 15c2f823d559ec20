import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../fixtures/builder.mjs';
import { scanImage } from '../src/scan.js';
import { DetectionEngine } from '../src/detect/engine.js';
import { loadRuleSet } from '../src/detect/rules.js';
import { decodesToProse, FLOOR_ALPHABETS, FLOOR_MAX_LENGTH, isDocumentationStandIn, isExampleJwt, isPlaceholder, meetsEntropy, isPlaceholderPem, isStandInPassword, looksLikeIdentifier, pemBody, randomForItsAlphabet, simulatedEntropyFloor } from '../src/detect/filters.js';
import { ENTROPY_FLOORS } from '../src/detect/entropy-floors.js';
import { keyFingerprint } from '../src/detect/public-keys.js';
import { fakePem, randomChars, seededRandom } from '../src/detect/template.js';
import { secretHash } from '../src/attribute.js';

const seed = Date.now() % 100000;
const rand = seededRandom(seed);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

describe(`precision filters (seed ${seed})`, () => {
  it('PEM blocks whose body cannot be a key are placeholders; random bodies are not', () => {
    expect(isPlaceholderPem('-----BEGIN PRIVATE KEY-----\\nXXXX\\nXXXX\\n-----END PRIVATE KEY-----')).toBe(true);
    expect(isPlaceholderPem(`-----BEGIN RSA PRIVATE KEY-----\n${'A'.repeat(64)}\n${'A'.repeat(64)}\n-----END RSA PRIVATE KEY-----`)).toBe(true);
    expect(isPlaceholderPem('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg...\n-----END PRIVATE KEY-----')).toBe(true);
    for (let i = 0; i < 50; i++) {
      expect(isPlaceholderPem(fakePem(rand, 'PRIVATE KEY'))).toBe(false);
      expect(isPlaceholderPem(fakePem(rand, 'EC PRIVATE KEY', 3, '\\n'))).toBe(false);
    }
  });

  it('base64 of an English sentence is prose; base64 of random bytes or user:password is not', () => {
    expect(decodesToProse(Buffer.from('not my real password').toString('base64'))).toBe(true);
    expect(decodesToProse(Buffer.from(`deploy:${randomChars(rand, ALNUM, 20)}`).toString('base64'))).toBe(false);
    for (let i = 0; i < 200; i++) expect(decodesToProse(Buffer.from(randomChars(rand, ALNUM, 32)).toString('base64'))).toBe(false);
  });

  it('short values need the entropy their length allows, long ones the rule\'s threshold', () => {
    // 8 characters, one repeated: 2.75 bits, above 85% of the 3.0 an 8-character value can reach.
    expect(meetsEntropy('4ian1234', 3.0)).toBe(true);
    expect(meetsEntropy('aaab1234', 3.0)).toBe(false);
    // Letters alone are words, not short random values: "string" keeps the flat bar.
    expect(meetsEntropy('string', 3.0)).toBe(false);
    // Under 8 characters the flat bar stays: test files' "pwd3" is not a password.
    expect(meetsEntropy('pwd3', 3.0)).toBe(false);
    expect(meetsEntropy('foo%40bar', 3.0)).toBe(false);
    expect(meetsEntropy('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab', 3.0)).toBe(false);
    // Long values keep the rule's bar: 40 characters of four letters do not pass 3.0.
    expect(meetsEntropy('abcd'.repeat(10), 3.0)).toBe(false);
    for (let i = 0; i < 200; i++) expect(meetsEntropy(randomChars(rand, ALNUM, 32), 3.5)).toBe(true);
  });

  it('interleaved counting runs (a1b2c3d4…) are placeholders; random hex is not', () => {
    expect(isPlaceholder('a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8NRAL')).toBe(true);
    // Digit first, in a UUID's groups, in either case (a config template's made-up secret).
    expect(isPlaceholder('1a2b3C4d-5E6f-7g8H-9i0J-k1l2M3n4o5p6')).toBe(true);
    expect(isPlaceholder('REPLACE_WITH_PASSWORD')).toBe(true);
    for (let i = 0; i < 2000; i++) expect(isPlaceholder(randomChars(rand, '0123456789abcdef', 40))).toBe(false);
  });

  it('stand-in passwords are recognised in their spellings, random values are not', () => {
    for (const v of ['pa%2Fssword', 'p%40ssword', 'pa%3Fsword', 'S3nsit1ve', 'V3ry_S3nsit1ve', 'psw', 'not-my-real-password', 'yourStrong(!)Password']) expect(isStandInPassword(v), v).toBe(true);
    for (const v of ['too-late-in-file', 'rapunz3l', 'Tr0ub4dor&3x9Q', 'D1fficultP%40ssw0rd', 'StrongHold42x']) expect(isStandInPassword(v), v).toBe(false);
    for (let i = 0; i < 2000; i++) expect(isStandInPassword(randomChars(rand, ALNUM, 12))).toBe(false);
  });

  it('in a credential context only bare or reader-addressed stand-ins are placeholders', () => {
    // Everywhere else these are dropped as stand-ins; in a connection string someone set them.
    for (const v of ['secret', 'myPassword', 'mypass', 'P@ssw0rd1']) {
      expect(isPlaceholder(v), v).toBe(true);
      expect(isPlaceholder(v, true), v).toBe(false);
    }
    for (const v of ['password', 'PWD', 'passwd', 'changeme', 'randompassword', 'yourStrong(!)Password', '${DB_PASSWORD}', '<password>', '****', 'xxxxxx']) {
      expect(isPlaceholder(v, true), v).toBe(true);
    }
    for (let i = 0; i < 200; i++) expect(isPlaceholder(randomChars(rand, ALNUM, 16), true)).toBe(false);
  });

  it('a stand-in in a credential syntax is documentation inside a Markdown fence only', () => {
    const fenced = '# pg\n\n```js\nconst url = ';
    expect(isDocumentationStandIn('secret', () => fenced)).toBe(true);
    expect(isDocumentationStandIn('secret', () => `${fenced}1\n\`\`\`\n\nDATABASE_URL=`)).toBe(false);
    expect(isDocumentationStandIn('secret', () => 'DATABASE_URL=')).toBe(false);
    expect(isDocumentationStandIn(randomChars(rand, ALNUM, 16), () => fenced)).toBe(false);
  });

  it('type names and unions are identifiers, random mixed-case values are not', () => {
    for (const v of ['SensitiveString2048', 'NonEmptySensitiveString1600', 'XmlStringMaxLen256', 'SignatureV4SignWithCredentials', 'Buffer|Uint8Array|Blob|string', 'base64EncodedKey', 'apiKeyValue']) {
      expect(looksLikeIdentifier(v), v).toBe(true);
    }
    let dropped = 0;
    for (let i = 0; i < 20000; i++) if (looksLikeIdentifier(`${randomChars(rand, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 1)}${randomChars(rand, ALNUM, 23)}`)) dropped++;
    for (let i = 0; i < 20000; i++) if (looksLikeIdentifier(`${randomChars(rand, 'abcdefghijklmnopqrstuvwxyz', 1)}${randomChars(rand, ALNUM, 23)}`)) dropped++;
    expect(dropped).toBe(0);
  });

  it('random keys pass as random for their alphabet and length; keys typed by hand do not', () => {
    const alphabets: [string, number][] = [['0123456789', 25], ['0123456789abcdef', 32], ['0123456789ABCDEF', 24], [ALNUM, 20], ['abcdefghijklmnopqrstuvwxyz0123456789', 40]];
    for (const [alphabet, length] of alphabets) {
      let rejected = 0;
      for (let i = 0; i < 5000; i++) if (!randomForItsAlphabet(randomChars(rand, alphabet, length))) rejected++;
      // About 1 in 5,000 by construction, a few in 5,000 once runs and periods are counted too.
      expect(rejected, alphabet).toBeLessThan(15);
    }
    for (const v of ['1111222233334444', '1234123412341234', '11112222333344445555666677', 'deadbeefcafebabe', 'aaaaaaaabbbbbbbbccccccccdddddddd', 'abcdabcdabcdabcdabcd', '0101010101010101']) {
      expect(randomForItsAlphabet(v), v).toBe(false);
    }
    // A UUID's dashes are layout; a catch-all rule only relaxes for values no word is spelt in.
    expect(randomForItsAlphabet('8e7b4c1d-2f3a-4b5c-9d8e-7f6a5b4c3d2e')).toBe(true);
    expect(randomForItsAlphabet(randomChars(rand, ALNUM, 24), 'digits-or-hex')).toBe(false);
  });

  it('the tabled entropy floors are what the simulation gives', () => {
    expect(Object.keys(ENTROPY_FLOORS)).toHaveLength(FLOOR_ALPHABETS.length * (FLOOR_MAX_LENGTH - 15));
    const keys = Object.keys(ENTROPY_FLOORS);
    for (let i = 0; i < 4; i++) {
      const key = keys[Math.floor(rand() * keys.length)]!;
      const [size, length] = key.split(':').map(Number);
      expect(simulatedEntropyFloor(size!, length!), key).toBe(ENTROPY_FLOORS[key]);
    }
  });

  it('a value padded out with eight zeros is a sample; random values of key alphabets are not', () => {
    for (const v of ['ghs_InstallallationOrActionToken00000000', 'ghp_PersonalAccessToken01245678900000000']) expect(isPlaceholder(v), v).toBe(true);
    for (const alphabet of [ALNUM, '0123456789abcdef', '0123456789']) {
      for (let i = 0; i < 2000; i++) expect(isPlaceholder(`ghp_${randomChars(rand, alphabet, 36)}`)).toBe(false);
    }
  });

  it('JWTs whose claims say EXAMPLE are examples; random claims are not', () => {
    const claims = Buffer.from('{"sub":"u-1","sts:audit_context":"EXAMPLEAUDITCONTEXT"}').toString('base64url');
    expect(isExampleJwt(`eyJhbGciOiJIUzI1NiJ9.${claims}.${randomChars(rand, ALNUM, 43)}`)).toBe(true);
    const real = Buffer.from('{"iss":"https://auth.example.com","email":"ops@example.com"}').toString('base64url');
    expect(isExampleJwt(`eyJhbGciOiJIUzI1NiJ9.${real}.${randomChars(rand, ALNUM, 43)}`)).toBe(false);
    expect(isExampleJwt(`eyJ${randomChars(rand, ALNUM, 36)}.eyJ${randomChars(rand, ALNUM, 120)}.${randomChars(rand, ALNUM, 43)}`)).toBe(false);
  });

  it('a catch-all rule skips type names that a provider-shaped value would not be', () => {
    const engine = new DetectionEngine(loadRuleSet().rules);
    const typed = engine.scan(Buffer.from('export interface AppFabric {\n    apiKey: SensitiveString2048;\n}\n'));
    expect(typed.filter((m) => m.ruleId.startsWith('generic-'))).toEqual([]);
  });

  it('a key has one fingerprint as PEM, as a JSON string and base64-encoded whole', () => {
    const pem = fakePem(rand, 'RSA PRIVATE KEY');
    const json = pem.replace(/\n/g, '\\n');
    const b64 = Buffer.from(`${pem}\n`).toString('base64');
    expect(pemBody(pem)).toMatch(/^[A-Za-z0-9+/=]{700,}$/);
    expect(keyFingerprint(json)).toBe(keyFingerprint(pem));
    expect(keyFingerprint(b64)).toBe(keyFingerprint(pem));
    expect(keyFingerprint(fakePem(rand, 'RSA PRIVATE KEY'))).not.toBe(keyFingerprint(pem));
    const concatenated = `"${pem.split('\n').join('" +\n    "')}"`;
    expect(keyFingerprint(concatenated)).toBe(keyFingerprint(pem));
  });
});

describe('known public keys (detectors/public-keys.json)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stratascan-public-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('drops a listed key in any encoding and counts it; an unlisted key in the same test folder is reported', async () => {
    const detectors = join(dir, 'detectors');
    cpSync(join(__dirname, '..', 'detectors'), detectors, { recursive: true });
    const listed = fakePem(rand, 'PRIVATE KEY');
    const other = fakePem(rand, 'PRIVATE KEY');
    writeFileSync(join(detectors, 'public-keys.json'), JSON.stringify({ keys: [{ sha256: keyFingerprint(listed), rule: 'private-key', source: 'test' }] }));
    const image = await buildImage({
      steps: [{
        createdBy: 'COPY . /',
        files: [
          { path: '/usr/lib/python3.11/test/keycert.pem', content: `${listed}\n` },
          { path: '/srv/sa.json', content: JSON.stringify({ type: 'service_account', private_key: `${listed}\n` }) },
          { path: '/usr/lib/python3.11/test/leaked.pem', content: `${other}\n` },
        ],
      }],
    }, { layout: 'docker-legacy' });
    writeFileSync(join(dir, 'image.tar'), image!);
    const cacheDir = join(dir, 'cache');
    // Scanned, then served from the layer cache, which keeps fingerprints and never the key.
    for (const expectCached of [0, 1]) {
      const report = await scanImage(join(dir, 'image.tar'), { jobs: 1, detectorsDir: detectors, cache: true, cacheDir });
      expect(report.stats.cachedLayers ?? 0).toBe(expectCached);
      expect(report.findings.map((f) => [f.ruleId, f.path])).toEqual([['private-key', '/usr/lib/python3.11/test/leaked.pem']]);
      expect(report.findings[0]!.secretHash).not.toBe(secretHash(listed));
      expect(report.stats.allowlisted).toBeGreaterThanOrEqual(2);
    }
  });

  it('the shipped list holds fingerprints only', async () => {
    const { readFileSync } = await import('node:fs');
    const list = JSON.parse(readFileSync(join(__dirname, '..', 'detectors', 'public-keys.json'), 'utf8')) as { keys: { sha256: string; rule: string; source: string }[] };
    expect(list.keys.length).toBeGreaterThan(10);
    for (const k of list.keys) {
      expect(Object.keys(k).sort()).toEqual(['rule', 'sha256', 'source']);
      expect(k.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(k.source).not.toMatch(/BEGIN|eyJ|AIza/);
    }
  });
});
