import { ACCEPT_JSON, basic, byStatus, get } from '../judge.js';
import type { Verifier } from '../types.js';

/**
 * Twilio: fetching the account resource with its SID and auth token is read-only.
 */
export const twilio: Verifier = {
  provider: 'twilio',
  call: 'GET /2010-04-01/Accounts/{AccountSid}.json',
  rules: ['twilio-auth-token'],
  bases: ['https://api.twilio.com'],
  probe: (c) => {
    if (c.partner?.ruleId !== 'twilio-account-sid') return 'an auth token is checked with its account SID, and none was found beside it';
    return get(`/2010-04-01/Accounts/${encodeURIComponent(c.partner.secret)}.json`, { ...ACCEPT_JSON, ...basic(c.partner.secret, c.secret) });
  },
  judge: byStatus('Twilio', { invalid: [401] }),
};
