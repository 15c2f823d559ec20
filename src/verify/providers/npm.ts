import { ACCEPT_JSON, bearer, byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * npm: whoami names the token's user; it cannot publish or change anything.
 */
export const npm: Verifier = {
  provider: 'npm',
  call: 'GET /-/whoami',
  rules: ['npm-token'],
  bases: ['https://registry.npmjs.org'],
  probe: (c) => get('/-/whoami', { ...ACCEPT_JSON, ...bearer(c) }),
  judge: byStatus('npm', { invalid: [401] }),
};
