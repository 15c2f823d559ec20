import { bearer, byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * OpenAI: listing models costs nothing and writes nothing.
 */
export const openai: Verifier = {
  provider: 'openai',
  call: 'GET /v1/models',
  rules: ['openai-api-key'],
  bases: ['https://api.openai.com'],
  probe: (c) => get('/v1/models', bearer(c)),
  judge: byStatus('OpenAI', { invalid: [401] }),
};
