import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderTemplate, seededRandom } from '../../src/detect/template.js';
import type { ProviderId } from '../../src/verify/types.js';

/**
 * A loopback stand-in for every provider's verification endpoint. Each provider lives under
 * `/<provider>` on one server; the stand-in checks the request's real shape (method, path,
 * headers, SigV4 signature for AWS) and answers as the test tells it to.
 */
export type Mode = 'valid' | 'invalid' | '429' | '500' | 'hang' | 'redirect' | 'slow';

export interface Seen {
  provider: string;
  method: string;
  /** The path below `/<provider>`, as the provider would see it. */
  path: string;
  /** The path and query as they went over the wire (what SigV4 signed). */
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Why the request is not what the provider expects, or null. */
  mismatch: string | null;
}

export interface Reply {
  status: number;
  body: string;
}

export interface ProviderCase {
  provider: ProviderId;
  ruleId: string;
  /** Fresh fake values in the provider's format, made at test time. */
  make(): { secret: string; partner?: { ruleId: string; secret: string } };
  /** Null when the request is what the provider documents; otherwise what is wrong. */
  check(req: Seen, secret: string, partner: string | undefined): string | null;
  valid: Reply;
  invalid: Reply;
}

const rand = seededRandom(Date.now() % 1_000_003);
export const gen = (template: string) => renderTemplate(template, rand).text;

const basicOf = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const expectAll = (...checks: [boolean, string][]) => checks.find(([ok]) => !ok)?.[1] ?? null;
const isGet = (req: Seen, path: string) => expectAll([req.method === 'GET', `method ${req.method}`], [req.path === path, `path ${req.path}`]);
const json = (status: number, value: unknown): Reply => ({ status, body: JSON.stringify(value) });

/**
 * SigV4 recomputed from the request as received, written apart from src/verify/sigv4.ts so a
 * shared mistake cannot pass: canonical request from the wire, key derived from the secret.
 */
export function checkSigV4(req: Seen, accessKeyId: string, secretAccessKey: string): string | null {
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(String(req.headers.authorization ?? ''));
  if (!auth) return 'no SigV4 authorization header';
  const [, keyId, day, region, service, signedHeaders, signature] = auth;
  if (keyId !== accessKeyId) return 'signed with another access key id';
  if (region !== 'us-east-1' || service !== 'sts') return `scope ${region}/${service}`;
  const date = String(req.headers['x-amz-date'] ?? '');
  if (!date.startsWith(day!)) return 'x-amz-date does not match the credential scope';
  const names = signedHeaders!.split(';');
  for (const needed of ['host', 'x-amz-date', 'content-type']) if (!names.includes(needed)) return `${needed} is not signed`;
  const [path, query = ''] = req.url.split('?');
  const canonical = [
    req.method, path, query,
    names.map((n) => `${n}:${String(req.headers[n] ?? '').trim()}\n`).join(''),
    signedHeaders, createHash('sha256').update(req.body).digest('hex'),
  ].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', date, `${day}/${region}/${service}/aws4_request`, createHash('sha256').update(canonical).digest('hex')].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${secretAccessKey}`).update(day!).digest();
  for (const part of [region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(toSign).digest('hex') === signature ? null : 'signature does not match';
}

export const CASES: ProviderCase[] = [
  {
    provider: 'clarifai', ruleId: 'clarifai-api-key', make: () => ({ secret: gen('{{alnum:32}}') }),
    check: (req, s) => isGet(req, '/v2/myscopes') ?? expectAll([req.headers.authorization === `Key ${s}`, 'Authorization is not "Key <key>"']),
    valid: json(200, { status: { code: 10000, description: 'Ok' }, scopes: ['Predict'] }),
    invalid: json(401, { status: { code: 11009, description: 'API key not found' } }),
  },
  {
    provider: 'aws', ruleId: 'aws-secret-access-key',
    make: () => ({ secret: gen('{{b64:40}}'), partner: { ruleId: 'aws-access-key-id', secret: gen('AKIA{{base32:16}}') } }),
    check: (req, s, p) => expectAll(
      [req.method === 'POST', `method ${req.method}`],
      [req.path === '/', `path ${req.path}`],
      [req.body === 'Action=GetCallerIdentity&Version=2011-06-15', `body ${req.body}`],
      [String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded'), 'content-type'],
    ) ?? checkSigV4(req, p!, s),
    valid: { status: 200, body: '<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/x</Arn><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>' },
    invalid: { status: 403, body: '<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error></ErrorResponse>' },
  },
  {
    provider: 'github', ruleId: 'github-token', make: () => ({ secret: gen('ghp_{{alnum:36}}') }),
    check: (req, s) => isGet(req, '/user') ?? expectAll([req.headers.authorization === `Bearer ${s}`, 'Bearer'], [String(req.headers.accept).includes('github'), 'accept']),
    valid: json(200, { login: 'octo' }), invalid: json(401, { message: 'Bad credentials' }),
  },
  {
    provider: 'gitlab', ruleId: 'gitlab-pat', make: () => ({ secret: gen('glpat-{{b64url:20}}') }),
    check: (req, s) => isGet(req, '/api/v4/personal_access_tokens/self') ?? expectAll([req.headers['private-token'] === s, 'PRIVATE-TOKEN']),
    valid: json(200, { id: 4, active: true, revoked: false, scopes: ['read_api'] }), invalid: json(401, { message: '401 Unauthorized' }),
  },
  {
    provider: 'slack', ruleId: 'slack-token', make: () => ({ secret: gen('xoxb-{{digits:12}}-{{digits:13}}-{{alnum:24}}') }),
    check: (req, s) => expectAll([req.method === 'POST', `method ${req.method}`], [req.path === '/api/auth.test', `path ${req.path}`], [req.headers.authorization === `Bearer ${s}`, 'Bearer']),
    valid: json(200, { ok: true, team: 'T' }), invalid: json(200, { ok: false, error: 'invalid_auth' }),
  },
  {
    provider: 'stripe', ruleId: 'stripe-secret-key', make: () => ({ secret: gen('sk_live_{{alnum:32}}') }),
    check: (req, s) => isGet(req, '/v1/balance') ?? expectAll([req.headers.authorization === `Bearer ${s}`, 'Bearer']),
    valid: json(200, { object: 'balance' }), invalid: json(401, { error: { type: 'invalid_request_error' } }),
  },
  {
    provider: 'openai', ruleId: 'openai-api-key', make: () => ({ secret: gen('sk-proj-{{alnum:24}}T3BlbkFJ{{alnum:24}}') }),
    check: (req, s) => isGet(req, '/v1/models') ?? expectAll([req.headers.authorization === `Bearer ${s}`, 'Bearer']),
    valid: json(200, { data: [] }), invalid: json(401, { error: { code: 'invalid_api_key' } }),
  },
  {
    provider: 'anthropic', ruleId: 'anthropic-api-key', make: () => ({ secret: gen('sk-ant-api03-{{b64url:93}}AA') }),
    check: (req, s) => isGet(req, '/v1/models') ?? expectAll([req.headers['x-api-key'] === s, 'x-api-key'], [req.headers['anthropic-version'] === '2023-06-01', 'anthropic-version']),
    valid: json(200, { data: [] }), invalid: json(401, { type: 'error', error: { type: 'authentication_error' } }),
  },
  {
    provider: 'huggingface', ruleId: 'huggingface-token', make: () => ({ secret: gen('hf_{{alnum:34}}') }),
    check: (req, s) => isGet(req, '/api/whoami-v2') ?? expectAll([req.headers.authorization === `Bearer ${s}`, 'Bearer']),
    valid: json(200, { name: 'x' }), invalid: json(401, { error: 'Invalid credentials in Authorization header' }),
  },
  {
    provider: 'npm', ruleId: 'npm-token', make: () => ({ secret: gen('npm_{{alnum:36}}') }),
    check: (req, s) => isGet(req, '/-/whoami') ?? expectAll([req.headers.authorization === `Bearer ${s}`, 'Bearer']),
    valid: json(200, { username: 'x' }), invalid: json(401, { error: 'unauthorized' }),
  },
  {
    provider: 'sendgrid', ruleId: 'sendgrid-api-key', make: () => ({ secret: gen('SG.{{b64url:22}}.{{b64url:43}}') }),
    check: (req, s) => isGet(req, '/v3/scopes') ?? expectAll([req.headers.authorization === `Bearer ${s}`, 'Bearer']),
    valid: json(200, { scopes: ['mail.send'] }), invalid: json(401, { errors: [{ message: 'authorization required' }] }),
  },
  {
    provider: 'twilio', ruleId: 'twilio-auth-token',
    make: () => ({ secret: gen('{{hex:32}}'), partner: { ruleId: 'twilio-account-sid', secret: gen('AC{{hex:32}}') } }),
    check: (req, s, p) => isGet(req, `/2010-04-01/Accounts/${p}.json`) ?? expectAll([req.headers.authorization === basicOf(p!, s), 'Basic SID:token']),
    valid: json(200, { status: 'active' }), invalid: json(401, { code: 20003, message: 'Authenticate' }),
  },
  {
    provider: 'mailgun', ruleId: 'mailgun-api-key', make: () => ({ secret: gen('key-{{hex:32}}') }),
    check: (req, s) => isGet(req, '/v3/domains?limit=1') ?? expectAll([req.headers.authorization === basicOf('api', s), 'Basic api:key']),
    valid: json(200, { items: [] }), invalid: { status: 401, body: 'Forbidden' },
  },
  {
    provider: 'datadog', ruleId: 'datadog-api-key', make: () => ({ secret: gen('{{hex:32}}') }),
    check: (req, s) => isGet(req, '/api/v1/validate') ?? expectAll([req.headers['dd-api-key'] === s, 'DD-API-KEY']),
    valid: json(200, { valid: true }), invalid: json(403, { errors: ['Forbidden'] }),
  },
  {
    provider: 'google', ruleId: 'gcp-api-key', make: () => ({ secret: gen('AIza{{b64url:35}}') }),
    check: (req, s) => isGet(req, '/v1beta/models?pageSize=1') ?? expectAll([req.headers['x-goog-api-key'] === s, 'x-goog-api-key'], [!req.path.includes(s), 'key in the URL']),
    valid: json(200, { models: [] }),
    invalid: json(400, { error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] } }),
  },
];

/** Where the documented base URL has a path, the stand-in's base keeps it (`/api/v4`, `/api`). */
const BASE_PATHS: Record<string, string> = { gitlab: '/api/v4', slack: '/api' };

interface Expected {
  secret: string;
  partner?: string;
}

export interface StandIn {
  /** The --verify-endpoint URL for a provider. */
  base(provider: string): string;
  seen: Seen[];
  /** How each provider answers; default valid. */
  mode: Map<string, Mode>;
  /** Answers taken one per request before `mode` applies. */
  queue: Map<string, Mode[]>;
  /** The most requests open at once, per provider. */
  maxInFlight: Map<string, number>;
  /** The secret (and partner) each provider expects, for the shape checks; a list accepts any of them. */
  expect: Map<string, Expected | Expected[]>;
  close(): Promise<void>;
}

export async function startStandIn(): Promise<StandIn> {
  const seen: Seen[] = [];
  const mode = new Map<string, Mode>();
  const queue = new Map<string, Mode[]>();
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const expected = new Map<string, Expected | Expected[]>();
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const open = (req.url ?? '/').split('/')[1] ?? '';
    inFlight.set(open, (inFlight.get(open) ?? 0) + 1);
    maxInFlight.set(open, Math.max(maxInFlight.get(open) ?? 0, inFlight.get(open)!));
    // Done when the answer is sent, or when the client gave up on it (a hang): whichever comes first.
    let done = false;
    const settle = () => {
      if (!done) inFlight.set(open, inFlight.get(open)! - 1);
      done = true;
    };
    res.once('finish', settle);
    res.once('close', settle);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const [, provider = '', ...rest] = (req.url ?? '/').split('/');
      const path = `/${rest.join('/')}`;
      const entry: Seen = { provider, method: req.method ?? '', path, url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), mismatch: null };
      const known = CASES.find((c) => c.provider === provider);
      const want = expected.get(provider);
      const wanted = want === undefined ? [] : Array.isArray(want) ? want : [want];
      const verdicts = wanted.map((w) => known?.check(entry, w.secret, w.partner));
      entry.mismatch = !known ? `no provider ${provider}` : wanted.length === 0 ? 'no expected secret registered' : verdicts.includes(null) ? null : verdicts[0]!;
      seen.push(entry);
      const m = queue.get(provider)?.shift() ?? mode.get(provider) ?? 'valid';
      if (entry.mismatch) return send(res, 418, 'request shape mismatch');
      switch (m) {
        case 'valid': return send(res, known!.valid.status, known!.valid.body);
        case 'invalid': return send(res, known!.invalid.status, known!.invalid.body);
        case '429': return send(res, 429, '{"message":"slow down"}');
        case '500': return send(res, 500, 'oops');
        case 'redirect':
          res.writeHead(302, { location: `/${provider}/elsewhere` });
          return res.end();
        case 'hang':
          hanging.add(res);
          return undefined;
        case 'slow':
          // Valid, after a while: long enough for the client's other checks to pile up if unbounded.
          setTimeout(() => send(res, known!.valid.status, known!.valid.body), 150);
          return undefined;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: (provider) => `http://127.0.0.1:${port}/${provider}${BASE_PATHS[provider] ?? ''}`,
    seen,
    mode,
    queue,
    maxInFlight,
    expect: expected,
    close: () => new Promise<void>((resolve) => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': body.startsWith('{') ? 'application/json' : 'text/plain' });
  res.end(body);
}
