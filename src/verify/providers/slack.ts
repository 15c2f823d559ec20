import { bearer, codeOf, invalid, jsonOf, unknown, valid } from '../judge.js';
import type { Verifier } from '../types.js';

const SLACK_REJECTIONS = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired']);
/**
 * Slack: auth.test is Slack's own "does this token work" method; it answers 200 with `ok`
 * and an error code, never a 401.
 */
export const slack: Verifier = {
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
