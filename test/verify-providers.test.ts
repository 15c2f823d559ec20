import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type AddressInfo } from 'node:net';
import { secretHash } from '../src/attribute.js';
import { redact } from '../src/redact.js';
import type { Finding, VerificationStatus } from '../src/types.js';
import { sigV4Parts, signV4 } from '../src/verify/sigv4.js';
import { check, parseVerifyEndpoints, verificationEndpoints, verifyFindings } from '../src/verify/run.js';
import { VERIFIERS, verifierFor } from '../src/verify/providers.js';
import { PROVIDERS, type Candidate, type ProviderId } from '../src/verify/types.js';
import { CASES, checkSigV4, gen, startStandIn, type Mode, type ProviderCase, type StandIn } from './support/verify-stand-in.js';

let stand: StandIn;
beforeAll(async () => {
  stand = await startStandIn();
});
afterAll(() => stand.close());

function findingFor(c: ProviderCase['ruleId'], secret: string, partner?: { ruleId: string; secret: string }): Finding {
  return {
    ruleId: c, title: c, severity: 'critical', source: 'file', layer: null, path: '/x', line: 1, column: 1, key: null,
    inFinalImage: true, removedBy: null,
    pairedWith: partner ? { ruleId: partner.ruleId, title: partner.ruleId, redacted: redact(partner.secret), secretHash: secretHash(partner.secret), line: 1, key: null } : null,
    redacted: redact(secret), secretHash: secretHash(secret), alsoIn: [], remediation: '', url: null,
  };
}

function rawOf(secret: string, partner?: { secret: string }): Map<string, string> {
  const raw = new Map([[secretHash(secret), secret]]);
  if (partner) raw.set(secretHash(partner.secret), partner.secret);
  return raw;
}

const EXPECTED: Record<Exclude<Mode, 'slow'>, VerificationStatus> = { valid: 'valid', invalid: 'invalid', '429': 'unknown', '500': 'unknown', hang: 'unknown', redirect: 'unknown' };
const DETAIL: Record<Exclude<Mode, 'slow'>, RegExp> = {
  valid: /accepted|recognised/, invalid: /rejected/, '429': /rate limiting \(HTTP 429\)/, '500': /failed \(HTTP 500\)/,
  hang: /no answer within 0\.4 s/, redirect: /redirect \(HTTP 302\), which is not followed/,
};

describe('each provider against its loopback stand-in', () => {
  it('every provider has a stand-in case, and every verifier one rule at least', () => {
    expect(CASES.map((c) => c.provider).sort()).toEqual([...PROVIDERS].sort());
    expect(VERIFIERS.map((v) => v.provider).sort()).toEqual([...PROVIDERS].sort());
    for (const c of CASES) expect(verifierFor(c.ruleId)?.provider).toBe(c.provider);
  });

  for (const c of CASES) {
    for (const mode of Object.keys(EXPECTED) as (keyof typeof EXPECTED)[]) {
      it(`${c.provider}: ${mode} → ${EXPECTED[mode]}`, async () => {
        const { secret, partner } = c.make();
        stand.expect.set(c.provider, { secret, partner: partner?.secret });
        stand.mode.set(c.provider, mode);
        const before = stand.seen.length;
        const finding = findingFor(c.ruleId, secret, partner);
        await verifyFindings([finding], rawOf(secret, partner), {
          endpoints: parseVerifyEndpoints({ [c.provider]: stand.base(c.provider) }),
          // Short only where the stand-in hangs: a loaded CI machine may take a while to answer.
          timeoutMs: mode === 'hang' ? 400 : 5000,
        });
        const requests = stand.seen.slice(before);
        expect(requests, 'one request, never a followed redirect').toHaveLength(1);
        expect(requests[0]!.mismatch).toBeNull();
        expect(finding.verification?.status, finding.verification?.detail).toBe(EXPECTED[mode]);
        expect(finding.verification?.detail).toMatch(DETAIL[mode]);
        for (const raw of [secret, partner?.secret].filter(Boolean) as string[]) {
          expect(finding.verification!.detail).not.toContain(raw);
          // Only identifiers go into URLs (a Twilio account SID); secrets travel in headers.
          if (raw !== partner?.secret) expect(requests[0]!.url).not.toContain(raw);
        }
      });
    }
  }

  it('a request of the wrong shape is never read as valid', async () => {
    const c = CASES.find((x) => x.provider === 'github')!;
    const { secret } = c.make();
    stand.expect.set('github', { secret: gen('ghp_{{alnum:36}}') });
    stand.mode.set('github', 'valid');
    const f = findingFor(c.ruleId, secret);
    await verifyFindings([f], rawOf(secret), { endpoints: parseVerifyEndpoints({ github: stand.base('github') }) });
    expect(f.verification?.status).toBe('unknown');
  });

  it('a refused connection is unknown, and its detail names no secret or URL path', async () => {
    const { secret } = CASES[0]!.make();
    const f = findingFor('clarifai-api-key', secret);
    // A port that was just free: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await verifyFindings([f], rawOf(secret), { endpoints: parseVerifyEndpoints({ clarifai: `http://127.0.0.1:${port}` }), timeoutMs: 5000 });
    expect(f.verification).toEqual({ status: 'unknown', detail: `network error ECONNREFUSED (127.0.0.1:${port})` });
    expect(f.verification!.detail).not.toContain(secret);
  });

  it('a provider that echoes the key back in its error does not get it into the detail', async () => {
    const c = CASES.find((x) => x.provider === 'slack')!;
    const { secret } = c.make();
    stand.expect.set('slack', { secret });
    stand.mode.set('slack', 'valid');
    const original = c.valid;
    c.valid = { status: 200, body: JSON.stringify({ ok: false, error: secret }) };
    try {
      const f = findingFor(c.ruleId, secret);
      await verifyFindings([f], rawOf(secret), { endpoints: parseVerifyEndpoints({ slack: stand.base('slack') }) });
      expect(f.verification?.status).toBe('unknown');
      expect(f.verification!.detail).not.toContain(secret);
    } finally {
      c.valid = original;
    }
  });

  it('a finding that cannot be checked is unknown without a request: AWS secret without key id, Twilio token without SID, refresh tokens', async () => {
    const before = stand.seen.length;
    const cases: [string, string][] = [
      ['aws-secret-access-key', gen('{{b64:40}}')],
      ['twilio-auth-token', gen('{{hex:32}}')],
      ['github-token', gen('ghr_{{alnum:40}}')],
      ['datadog-api-key', gen('{{hex:40}}')],
      ['private-key', gen('{{alnum:40}}')],
    ];
    const findings = cases.map(([rule, secret]) => findingFor(rule, secret));
    const raw = new Map(cases.map(([, s]) => [secretHash(s), s] as const));
    const endpoints = parseVerifyEndpoints(Object.fromEntries(PROVIDERS.map((p) => [p, stand.base(p)])));
    await verifyFindings(findings, raw, { endpoints, timeoutMs: 300 });
    expect(stand.seen.length).toBe(before);
    expect(findings.map((f) => f.verification?.status)).toEqual(['unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
    expect(findings[4]!.verification!.detail).toBe('no live check exists for this kind of secret');
  });

  it('each distinct secret is asked about once, however many findings carry it; concurrency stays bounded', async () => {
    const c = CASES.find((x) => x.provider === 'npm')!;
    const { secret } = c.make();
    stand.expect.set('npm', { secret });
    stand.mode.set('npm', 'valid');
    const before = stand.seen.length;
    const findings = [findingFor(c.ruleId, secret), findingFor(c.ruleId, secret), findingFor(c.ruleId, secret)];
    await verifyFindings(findings, rawOf(secret), { endpoints: parseVerifyEndpoints({ npm: stand.base('npm') }) });
    expect(stand.seen.length - before).toBe(1);
    expect(findings.every((f) => f.verification?.status === 'valid')).toBe(true);
  });
});

describe('providers with several sites (Datadog, Mailgun)', () => {
  const twoSites = () => ({ ...verifierFor('datadog-api-key')!, bases: [stand.base('datadog'), stand.base('datadog')] });
  const ask = async (...modes: Mode[]) => {
    const { secret } = CASES.find((x) => x.provider === 'datadog')!.make();
    stand.expect.set('datadog', { secret });
    stand.queue.set('datadog', modes);
    const before = stand.seen.length;
    const result = await check(twoSites(), { ruleId: 'datadog-api-key', secret, partner: null }, { timeoutMs: modes.includes('hang') ? 400 : 5000 });
    return { result, requests: stand.seen.length - before };
  };

  it('invalid only when every site rejects the key', async () => {
    expect(await ask('invalid', 'invalid')).toEqual({ result: { status: 'invalid', detail: expect.stringMatching(/at each of its 2 sites$/) }, requests: 2 });
  });

  it('valid at the first site that accepts it, without asking the rest', async () => {
    expect(await ask('valid', 'valid')).toMatchObject({ result: { status: 'valid' }, requests: 1 });
    expect(await ask('invalid', 'valid')).toMatchObject({ result: { status: 'valid' }, requests: 2 });
  });

  it('one rejection and one failure is unknown, not invalid', async () => {
    expect(await ask('invalid', '500')).toMatchObject({ result: { status: 'unknown' }, requests: 2 });
    expect(await ask('hang', 'invalid')).toMatchObject({ result: { status: 'unknown' }, requests: 2 });
  });
});

describe('concurrency', () => {
  it('at most N checks per provider are open at once', async () => {
    const c = CASES.find((x) => x.provider === 'huggingface')!;
    const made = Array.from({ length: 9 }, () => c.make().secret);
    stand.expect.set('huggingface', made.map((secret) => ({ secret })));
    stand.mode.set('huggingface', 'slow');
    stand.maxInFlight.delete('huggingface');
    const findings = made.map((secret) => findingFor(c.ruleId, secret));
    const raw = new Map(made.map((s) => [secretHash(s), s] as const));
    await verifyFindings(findings, raw, { endpoints: parseVerifyEndpoints({ huggingface: stand.base('huggingface') }), timeoutMs: 3000, concurrency: 3 });
    expect(stand.maxInFlight.get('huggingface')).toBe(3);
    expect(findings.every((f) => f.verification?.status === 'valid')).toBe(true);
  });
});

describe('--verify-endpoint', () => {
  it('takes https anywhere, plain http only to loopback, and known providers only', () => {
    expect(parseVerifyEndpoints(['github=https://ghe.example.com/api/v3']).get('github')?.href).toBe('https://ghe.example.com/api/v3');
    expect(parseVerifyEndpoints(['gitlab=http://127.0.0.1:8080/api/v4', 'npm=http://localhost:4873', 'slack=http://[::1]:9/api']).size).toBe(3);
    expect(() => parseVerifyEndpoints(['github=http://ghe.example.com/api/v3'])).toThrow(/only https/);
    expect(() => parseVerifyEndpoints(['github=ftp://127.0.0.1/'])).toThrow(/only https/);
    expect(() => parseVerifyEndpoints(['github=https://user:pw@ghe.example.com'])).toThrow(/credentials/);
    expect(() => parseVerifyEndpoints(['github=https://ghe.example.com/?x=1'])).toThrow(/query/);
    expect(() => parseVerifyEndpoints(['bitbucket=https://x.example'])).toThrow(/unknown provider "bitbucket"/);
    expect(() => parseVerifyEndpoints(['https://x.example'])).toThrow(/PROVIDER=URL/);
  });

  it('the host list covers every documented base and shows overrides instead', () => {
    const list = verificationEndpoints();
    expect(list.map((e) => e.provider)).toEqual([...PROVIDERS]);
    for (const v of VERIFIERS) {
      expect(list.find((e) => e.provider === v.provider)!.hosts).toEqual(v.bases.map((b) => new URL(b).host));
      for (const b of v.bases) expect(b.startsWith('https://')).toBe(true);
    }
    const overridden = verificationEndpoints(parseVerifyEndpoints(['github=https://ghe.example.com/api/v3']));
    expect(overridden.find((e) => e.provider === 'github')!.hosts).toEqual(['ghe.example.com']);
  });
});

describe('SigV4 signer', () => {
  // AWS's published examples use its documentation key; assembled here, not stored as one literal.
  const DOC_SECRET = ['wJalrXUtnFEMI', 'K7MDENG+bPxRfiCYEXAMPLEKEY'].join('/');
  const DOC_SECRET_S3 = ['wJalrXUtnFEMI', 'K7MDENG', 'bPxRfiCYEXAMPLEKEY'].join('/');

  it('matches the SigV4 test suite vector get-vanilla', () => {
    const parts = sigV4Parts(
      { method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {}, body: '' },
      { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: DOC_SECRET },
      { region: 'us-east-1', service: 'service', now: new Date('2015-08-30T12:36:00Z') },
    );
    expect(parts.canonicalRequest).toBe('GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(parts.signature).toBe('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  });

  it("matches the S3 documentation's GET Object example (signed range and payload-hash headers)", () => {
    const parts = sigV4Parts(
      {
        method: 'GET', url: new URL('https://examplebucket.s3.amazonaws.com/test.txt'), body: '',
        headers: { Range: 'bytes=0-9', 'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
      },
      { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: DOC_SECRET_S3 },
      { region: 'us-east-1', service: 's3', now: new Date('2013-05-24T00:00:00Z') },
    );
    expect(parts.stringToSign).toBe('AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972');
    expect(parts.signature).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  it('the stand-in check recomputes it from the wire and notices a wrong secret', () => {
    const id = gen('AKIA{{base32:16}}');
    const secret = gen('{{b64:40}}');
    const body = 'Action=GetCallerIdentity&Version=2011-06-15';
    const headers = signV4({ method: 'POST', url: new URL('http://127.0.0.1:9/aws/'), headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body }, { accessKeyId: id, secretAccessKey: secret }, { region: 'us-east-1', service: 'sts', now: new Date() });
    const seen = { provider: 'aws', method: 'POST', path: '/', url: '/aws/', headers, body, mismatch: null };
    expect(checkSigV4(seen, id, secret)).toBeNull();
    expect(checkSigV4(seen, id, gen('{{b64:40}}'))).toBe('signature does not match');
    expect(checkSigV4({ ...seen, body: `${body}&x=1` }, id, secret)).toBe('signature does not match');
  });
});

describe('provider table', () => {
  it('every base is https on the provider\'s own domain', () => {
    const domains: Record<ProviderId, RegExp> = {
      clarifai: /\.clarifai\.com$/, aws: /\.amazonaws\.com$/, github: /^api\.github\.com$/, gitlab: /^gitlab\.com$/, slack: /^slack\.com$/,
      stripe: /^api\.stripe\.com$/, openai: /^api\.openai\.com$/, anthropic: /^api\.anthropic\.com$/, huggingface: /^huggingface\.co$/,
      npm: /^registry\.npmjs\.org$/, sendgrid: /^api\.sendgrid\.com$/, twilio: /^api\.twilio\.com$/, mailgun: /\.mailgun\.net$/,
      datadog: /\.(datadoghq\.(com|eu)|ddog-gov\.com)$/, google: /\.googleapis\.com$/,
    };
    for (const v of VERIFIERS) for (const b of v.bases) {
      const url = new URL(b);
      expect(url.protocol).toBe('https:');
      expect(url.hostname).toMatch(domains[v.provider]);
    }
  });
});

describe('reading answers: the documented cases beyond plain accept/reject', () => {
  const answer = (status: number, body: unknown) => ({ status, body: typeof body === 'string' ? body : JSON.stringify(body), headers: new Headers() });
  const judge = (ruleId: string, status: number, body: unknown) => verifierFor(ruleId)!.judge(answer(status, body), { ruleId, secret: 'x', partner: null }).status;
  const rows: [string, number, unknown, VerificationStatus][] = [
    ['stripe-secret-key', 403, { error: { type: 'invalid_request_error' } }, 'valid'], // a restricted key without balance access
    ['mailgun-api-key', 403, 'Forbidden', 'valid'], // documented: valid credentials, access denied
    ['gcp-api-key', 403, { error: { details: [{ reason: 'SERVICE_DISABLED' }] } }, 'valid'],
    ['gcp-api-key', 403, { error: { details: [{ reason: 'API_KEY_HTTP_REFERRER_BLOCKED' }] } }, 'valid'],
    ['gcp-api-key', 400, { error: { details: [{ reason: 'BAD_REQUEST' }] } }, 'unknown'],
    ['gcp-api-key', 403, { error: { message: 'no reason given' } }, 'unknown'],
    ['gitlab-pat', 200, { active: false, revoked: true }, 'invalid'],
    ['gitlab-pat', 403, { message: '403 Forbidden' }, 'unknown'],
    ['slack-token', 200, { ok: false, error: 'token_revoked' }, 'invalid'],
    ['slack-token', 200, { ok: false, error: 'not_allowed_token_type' }, 'unknown'],
    ['slack-token', 401, '<html>proxy login</html>', 'unknown'],
    ['github-token', 403, { message: 'API rate limit exceeded' }, 'unknown'],
    ['aws-secret-access-key', 403, '<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>', 'invalid'],
    ['aws-secret-access-key', 403, '<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>', 'unknown'],
    ['aws-secret-access-key', 400, '<ErrorResponse><Error><Code>InvalidClientTokenId</Code></Error></ErrorResponse>', 'unknown'],
    ['clarifai-api-key', 200, { status: { code: 11102, description: 'Invalid request' } }, 'unknown'],
    ['clarifai-api-key', 403, { status: { code: 11007 } }, 'unknown'],
    ['datadog-api-key', 401, { errors: ['Unauthorized'] }, 'unknown'], // Datadog documents 403 for a bad key
    ['openai-api-key', 403, { error: { code: 'unsupported_country_region_territory' } }, 'unknown'],
  ];
  for (const [rule, status, body, expected] of rows) {
    it(`${rule}: HTTP ${status} ${typeof body === 'string' ? body.slice(0, 40) : JSON.stringify(body).slice(0, 60)} → ${expected}`, () => {
      expect(judge(rule, status, body)).toBe(expected);
    });
  }

  it('probes that depend on the key: Anthropic Admin keys, temporary AWS keys, Datadog application keys', () => {
    const ctx = { base: new URL('https://example.test'), now: new Date() };
    const probe = (ruleId: string, secret: string, partner: Candidate['partner'] = null) => verifierFor(ruleId)!.probe({ ruleId, secret, partner }, ctx);
    expect(probe('anthropic-api-key', gen('sk-ant-admin01-{{b64url:93}}AA'))).toMatchObject({ method: 'GET', path: '/v1/organizations/me' });
    expect(probe('anthropic-api-key', gen('sk-ant-api03-{{b64url:93}}AA'))).toMatchObject({ method: 'GET', path: '/v1/models' });
    expect(probe('aws-secret-access-key', gen('{{b64:40}}'), { ruleId: 'aws-access-key-id', secret: gen('ASIA{{base32:16}}') })).toMatch(/session token/);
    expect(probe('datadog-api-key', gen('{{hex:40}}'))).toMatch(/application key/);
    expect(probe('slack-token', gen('xoxe.xoxp-1-{{alnum:80}}'))).toMatch(/refresh token/);
  });
});
