import type { Verification } from '../types.js';
import { awsVerifier } from './aws.js';
import { byStatus, codeOf, jsonOf, unknown, valid, invalid } from './judge.js';
import type { Answer, Candidate, Probe, Verifier } from './types.js';

const get = (path: string, headers: Record<string, string>): Probe => ({ method: 'GET', path, headers });
const bearer = (c: Candidate) => ({ authorization: `Bearer ${c.secret}` });
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}` });
const ACCEPT_JSON = { accept: 'application/json' };

const clarifai: Verifier = {
  provider: 'clarifai',
  call: 'GET /v2/myscopes (lists the scopes of the key itself)',
  rules: ['clarifai-api-key'],
  bases: ['https://api.clarifai.com'],
  // PATs and app-specific keys use the same header; MyScopes answers for either, reading nothing of the app's data.
  probe: (c) => get('/v2/myscopes', { ...ACCEPT_JSON, authorization: `Key ${c.secret}` }),
  judge: byStatus('Clarifai', { invalid: [401] }),
};

const github: Verifier = {
  provider: 'github',
  call: 'GET /user',
  rules: ['github-token', 'github-fine-grained-pat'],
  bases: ['https://api.github.com'],
  probe: (c) => {
    // A refresh token is only good for an exchange, which would rotate it: no read-only check exists.
    if (c.secret.startsWith('ghr_')) return 'a GitHub refresh token can only be checked by exchanging it, which would rotate it';
    return get('/user', { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', ...bearer(c) });
  },
  // 403 is also GitHub's rate-limit answer, and an installation token's answer to /user: unknown.
  judge: byStatus('GitHub', { invalid: [401] }),
};

const gitlabStatus = byStatus('GitLab', { invalid: [401] });
const gitlab: Verifier = {
  provider: 'gitlab',
  call: 'GET /api/v4/personal_access_tokens/self',
  rules: ['gitlab-pat'],
  bases: ['https://gitlab.com/api/v4'],
  probe: (c) => get('/personal_access_tokens/self', { ...ACCEPT_JSON, 'private-token': c.secret }),
  judge: (answer, c) => {
    if (answer.status === 200) {
      const body = jsonOf(answer);
      // The endpoint also describes a revoked or expired token to a caller who may still see it.
      if (body && (body.revoked === true || body.active === false)) return invalid('GitLab describes the token as revoked or inactive');
      return valid('GitLab accepted it (HTTP 200)');
    }
    return gitlabStatus(answer, c);
  },
};

const SLACK_REJECTIONS = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired']);
const slack: Verifier = {
  provider: 'slack',
  call: 'POST /api/auth.test',
  rules: ['slack-token'],
  bases: ['https://slack.com/api'],
  probe: (c) => {
    if (c.secret.startsWith('xoxe')) return 'a Slack refresh token can only be checked by exchanging it, which would rotate it';
    return { method: 'POST', path: '/auth.test', headers: { ...bearer(c), 'content-type': 'application/x-www-form-urlencoded' }, body: '' };
  },
  judge: (answer) => {
    const body = jsonOf(answer);
    if (answer.status !== 200 || body === null) return unknown(`Slack answered HTTP ${answer.status} without its usual JSON`);
    if (body.ok === true) return valid('Slack accepted it (auth.test ok)');
    const code = codeOf(body.error);
    if (code && SLACK_REJECTIONS.has(code)) return invalid(`Slack rejected it (${code})`);
    return unknown(`Slack answered ${code ?? 'an unexpected error'}, which does not say whether the token works`);
  },
};

const stripe: Verifier = {
  provider: 'stripe',
  call: 'GET /v1/balance',
  rules: ['stripe-secret-key', 'stripe-test-secret-key'],
  bases: ['https://api.stripe.com'],
  probe: (c) => get('/v1/balance', bearer(c)),
  judge: byStatus('Stripe', { invalid: [401], validToo: { 403: 'a restricted key without read access to the balance' } }),
};

const openai: Verifier = {
  provider: 'openai',
  call: 'GET /v1/models',
  rules: ['openai-api-key'],
  bases: ['https://api.openai.com'],
  probe: (c) => get('/v1/models', bearer(c)),
  judge: byStatus('OpenAI', { invalid: [401] }),
};

const anthropic: Verifier = {
  provider: 'anthropic',
  call: 'GET /v1/models (API keys), GET /v1/organizations/me (Admin keys)',
  rules: ['anthropic-api-key'],
  bases: ['https://api.anthropic.com'],
  probe: (c) => get(c.secret.startsWith('sk-ant-admin') ? '/v1/organizations/me' : '/v1/models', {
    'x-api-key': c.secret,
    'anthropic-version': '2023-06-01',
  }),
  judge: byStatus('Anthropic', { invalid: [401] }),
};

const huggingface: Verifier = {
  provider: 'huggingface',
  call: 'GET /api/whoami-v2',
  rules: ['huggingface-token'],
  bases: ['https://huggingface.co'],
  probe: (c) => get('/api/whoami-v2', bearer(c)),
  judge: byStatus('Hugging Face', { invalid: [401] }),
};

const npm: Verifier = {
  provider: 'npm',
  call: 'GET /-/whoami',
  rules: ['npm-token'],
  bases: ['https://registry.npmjs.org'],
  probe: (c) => get('/-/whoami', { ...ACCEPT_JSON, ...bearer(c) }),
  judge: byStatus('npm', { invalid: [401] }),
};

const sendgrid: Verifier = {
  provider: 'sendgrid',
  call: 'GET /v3/scopes',
  rules: ['sendgrid-api-key'],
  bases: ['https://api.sendgrid.com'],
  probe: (c) => get('/v3/scopes', { ...ACCEPT_JSON, ...bearer(c) }),
  judge: byStatus('SendGrid', { invalid: [401] }),
};

const twilio: Verifier = {
  provider: 'twilio',
  call: 'GET /2010-04-01/Accounts/{AccountSid}.json',
  rules: ['twilio-auth-token'],
  bases: ['https://api.twilio.com'],
  probe: (c) => {
    if (c.partner?.ruleId !== 'twilio-account-sid') return 'an auth token is checked with its account SID, and none was found beside it';
    return get(`/2010-04-01/Accounts/${encodeURIComponent(c.partner.secret)}.json`, { ...ACCEPT_JSON, ...basic(c.partner.secret, c.secret) });
  },
  judge: byStatus('Twilio', { invalid: [401] }),
};

const mailgun: Verifier = {
  provider: 'mailgun',
  call: 'GET /v3/domains?limit=1 (US, then EU)',
  rules: ['mailgun-api-key'],
  // An account lives in one region; the other region's API does not know its keys.
  bases: ['https://api.mailgun.net', 'https://api.eu.mailgun.net'],
  probe: (c) => get('/v3/domains?limit=1', { ...ACCEPT_JSON, ...basic('api', c.secret) }),
  judge: byStatus('Mailgun', { invalid: [401], validToo: { 403: 'valid credentials without access to the domain list' } }),
};

const datadog: Verifier = {
  provider: 'datadog',
  call: 'GET /api/v1/validate (each Datadog site in turn)',
  rules: ['datadog-api-key'],
  bases: [
    'https://api.datadoghq.com', 'https://api.us3.datadoghq.com', 'https://api.us5.datadoghq.com', 'https://api.datadoghq.eu',
    'https://api.ap1.datadoghq.com', 'https://api.ap2.datadoghq.com', 'https://api.uk1.datadoghq.com', 'https://api.ddog-gov.com',
    'https://api.us2.ddog-gov.com',
  ],
  probe: (c) => {
    // Application keys (40 hex) are checked only together with an API key.
    if (!/^[a-f0-9]{32}$/.test(c.secret)) return 'a Datadog application key can only be checked together with its API key';
    return get('/api/v1/validate', { ...ACCEPT_JSON, 'dd-api-key': c.secret });
  },
  judge: byStatus('Datadog', { invalid: [403] }),
};

/** Google's ErrorInfo reasons that prove a key exists although this API refused it. */
const GOOGLE_KEY_EXISTS = new Set([
  'SERVICE_DISABLED', 'API_KEY_SERVICE_BLOCKED', 'API_KEY_HTTP_REFERRER_BLOCKED', 'API_KEY_IP_ADDRESS_BLOCKED',
  'API_KEY_ANDROID_APP_BLOCKED', 'API_KEY_IOS_APP_BLOCKED',
]);

function googleReason(answer: Answer): string | null {
  const error = jsonOf(answer)?.error as { details?: { reason?: unknown }[]; errors?: { reason?: unknown }[] } | undefined;
  for (const d of [...(error?.details ?? []), ...(error?.errors ?? [])]) {
    const code = codeOf(d?.reason);
    if (code) return code;
  }
  return null;
}

const google: Verifier = {
  provider: 'google',
  call: 'GET /v1beta/models?pageSize=1 (lists model names: no billing, no writes)',
  rules: ['gcp-api-key'],
  bases: ['https://generativelanguage.googleapis.com'],
  // The key goes in a header, never the query string, so no URL in a log or error can carry it.
  probe: (c) => get('/v1beta/models?pageSize=1', { ...ACCEPT_JSON, 'x-goog-api-key': c.secret }),
  judge: (answer) => {
    if (answer.status === 200) return valid('Google accepted it (HTTP 200)');
    const reason = googleReason(answer);
    if (reason === 'API_KEY_INVALID') return invalid('Google rejected it (API_KEY_INVALID)');
    if (reason && GOOGLE_KEY_EXISTS.has(reason)) return valid(`Google recognised the key but refused this API (${reason}): it works where it is allowed`);
    return unknown(`Google answered HTTP ${answer.status}${reason ? ` (${reason})` : ''}, which does not say whether the key works`);
  },
};

/** Every live check, one per provider. */
export const VERIFIERS: readonly Verifier[] = [
  clarifai, awsVerifier, github, gitlab, slack, stripe, openai, anthropic, huggingface, npm, sendgrid, twilio, mailgun, datadog, google,
];

const byRule = new Map(VERIFIERS.flatMap((v) => v.rules.map((r) => [r, v] as const)));

/** The verifier for a rule, or undefined for rules with no live check. */
export function verifierFor(ruleId: string): Verifier | undefined {
  return byRule.get(ruleId);
}
