import { ACCEPT_JSON, codeOf, get, invalid, jsonOf, unknown, valid } from '../judge.js';
import type { Answer, Verifier } from '../types.js';

/** Google's ErrorInfo reasons that prove a key exists although this API refused it. */
const GOOGLE_KEY_EXISTS = new Set([
  'SERVICE_DISABLED', 'API_KEY_SERVICE_BLOCKED', 'API_KEY_HTTP_REFERRER_BLOCKED', 'API_KEY_IP_ADDRESS_BLOCKED',
  'API_KEY_ANDROID_APP_BLOCKED', 'API_KEY_IOS_APP_BLOCKED',
]);

function googleReason(answer: Answer): string | null {
  const error = jsonOf(answer)?.error as { details?: { reason?: unknown }[]; errors?: { reason?: unknown }[] } | undefined;
  for (const d of [...(error?.details ?? []), ...(error?.errors ?? [])]) {
    const code = codeOf(d?.reason);
    if (code) return code;
  }
  return null;
}

/**
 * Google API keys: listing Gemini model names neither bills nor writes, and Google checks the key
 * before the API: API_KEY_INVALID is a bad key, a disabled or blocked API proves the key exists.
 */
export const google: Verifier = {
  provider: 'google',
  call: 'GET /v1beta/models?pageSize=1 (lists model names: no billing, no writes)',
  rules: ['gcp-api-key'],
  bases: ['https://generativelanguage.googleapis.com'],
  // The key goes in a header, never the query string, so no URL in a log or error can carry it.
  probe: (c) => get('/v1beta/models?pageSize=1', { ...ACCEPT_JSON, 'x-goog-api-key': c.secret }),
  judge: (answer) => {
    if (answer.status === 200) return valid('Google accepted it (HTTP 200)');
    const reason = googleReason(answer);
    if (reason === 'API_KEY_INVALID') return invalid('Google rejected it (API_KEY_INVALID)');
    if (reason && GOOGLE_KEY_EXISTS.has(reason)) return valid(`Google recognised the key but refused this API (${reason}): it works where it is allowed`);
    return unknown(`Google answered HTTP ${answer.status}${reason ? ` (${reason})` : ''}, which does not say whether the key works`);
  },
};
