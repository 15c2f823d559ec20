import { ACCEPT_JSON, byStatus, get, invalid, jsonOf, valid } from '../judge.js';
import type { Verifier } from '../types.js';

const gitlabStatus = byStatus('GitLab', { invalid: [401] });
/**
 * GitLab: the token describes itself (scopes, expiry) without touching projects. Only personal,
 * project and group access tokens (glpat-) can call it; other GitLab token types are not sent.
 */
export const gitlab: Verifier = {
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
