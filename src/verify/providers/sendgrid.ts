import { ACCEPT_JSON, bearer, byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * SendGrid: the key's own scopes, readable by any key; a send would be a side effect, so not mail/send.
 */
export const sendgrid: Verifier = {
  provider: 'sendgrid',
  call: 'GET /v3/scopes',
  rules: ['sendgrid-api-key'],
  bases: ['https://api.sendgrid.com'],
  probe: (c) => get('/v3/scopes', { ...ACCEPT_JSON, ...bearer(c) }),
  judge: byStatus('SendGrid', { invalid: [401] }),
};
