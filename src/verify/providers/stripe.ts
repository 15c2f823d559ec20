import { bearer, byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * Stripe: reading the balance is read-only and works in live and test mode; a restricted key
 * without that permission is refused with 403, which Stripe documents as a valid key lacking permission.
 */
export const stripe: Verifier = {
  provider: 'stripe',
  call: 'GET /v1/balance',
  rules: ['stripe-secret-key', 'stripe-test-secret-key'],
  bases: ['https://api.stripe.com'],
  probe: (c) => get('/v1/balance', bearer(c)),
  judge: byStatus('Stripe', { invalid: [401], validToo: { 403: 'a restricted key without read access to the balance' } }),
};
