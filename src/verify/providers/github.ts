import { bearer, byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * GitHub: GET /user answers for classic, fine-grained, OAuth and user-to-server tokens and changes nothing.
 * For GitHub Enterprise Server, point --verify-endpoint at its `/api/v3`.
 */
export const github: Verifier = {
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
