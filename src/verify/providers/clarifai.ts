import { ACCEPT_JSON, byStatus, get, jsonOf, unknown } from '../judge.js';
import type { Verifier } from '../types.js';

/** Clarifai's status code for success; its REST answers carry one beside the HTTP status. */
const CLARIFAI_SUCCESS = 10000;
const clarifaiStatus = byStatus('Clarifai', { invalid: [401] });

/**
 * Clarifai: MyScopes is authorised by the key itself and answers with the key's own scopes, so it
 * proves a PAT or an app-specific key without reading or spending anything of the account.
 */
export const clarifai: Verifier = {
  provider: 'clarifai',
  call: 'GET /v2/myscopes (lists the scopes of the key itself)',
  rules: ['clarifai-api-key'],
  bases: ['https://api.clarifai.com'],
  // PATs and app-specific keys use the same header: `Authorization: Key …`.
  probe: (c) => get('/v2/myscopes', { ...ACCEPT_JSON, authorization: `Key ${c.secret}` }),
  judge: (answer, c) => {
    const code = (jsonOf(answer)?.status as { code?: unknown } | undefined)?.code;
    // A 2xx whose body reports another status is not proof.
    if (answer.status >= 200 && answer.status < 300 && code !== undefined && code !== CLARIFAI_SUCCESS) {
      return unknown(`Clarifai answered HTTP ${answer.status} with status ${typeof code === 'number' ? code : '?'}, which does not say whether the key works`);
    }
    return clarifaiStatus(answer, c);
  },
};
