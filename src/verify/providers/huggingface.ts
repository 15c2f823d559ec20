import { bearer, byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * Hugging Face: whoami-v2 describes the token's owner and nothing else.
 */
export const huggingface: Verifier = {
  provider: 'huggingface',
  call: 'GET /api/whoami-v2',
  rules: ['huggingface-token'],
  bases: ['https://huggingface.co'],
  probe: (c) => get('/api/whoami-v2', bearer(c)),
  judge: byStatus('Hugging Face', { invalid: [401] }),
};
