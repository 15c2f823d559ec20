import { byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * Anthropic: listing models costs nothing; Admin keys cannot call it but can read their organization.
 */
export const anthropic: Verifier = {
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
