import { ACCEPT_JSON, basic, byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * Mailgun: listing one domain is read-only; 403 is documented as valid credentials without access.
 */
export const mailgun: Verifier = {
  provider: 'mailgun',
  call: 'GET /v3/domains?limit=1 (US, then EU)',
  rules: ['mailgun-api-key'],
  // An account lives in one region; the other region's API does not know its keys.
  bases: ['https://api.mailgun.net', 'https://api.eu.mailgun.net'],
  probe: (c) => get('/v3/domains?limit=1', { ...ACCEPT_JSON, ...basic('api', c.secret) }),
  judge: byStatus('Mailgun', { invalid: [401], validToo: { 403: 'valid credentials without access to the domain list' } }),
};
