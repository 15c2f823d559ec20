import { ACCEPT_JSON, byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * Datadog: /api/v1/validate exists for exactly this; a key from another site is unknown there, so
 * every site is asked before calling the key invalid.
 */
export const datadog: Verifier = {
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
