import { codeOf, invalid, probeUrl, unknown, valid } from '../judge.js';
import { signV4 } from '../sigv4.js';
import type { Verifier } from '../types.js';

const STS_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

/** STS error codes that mean "this key pair does not authenticate". */
const REJECTIONS = new Set(['InvalidClientTokenId', 'SignatureDoesNotMatch']);

/**
 * AWS: STS GetCallerIdentity, which needs no IAM permission, changes nothing and cannot be
 * denied by a policy, so any signed answer proves the pair. It needs the access key id that
 * was found beside the secret key.
 */
export const aws: Verifier = {
  provider: 'aws',
  call: 'POST / Action=GetCallerIdentity (STS, SigV4-signed)',
  rules: ['aws-secret-access-key'],
  bases: ['https://sts.amazonaws.com'],
  probe: (c, { base, now }) => {
    if (c.partner?.ruleId !== 'aws-access-key-id') return 'a secret access key is checked with its access key id, and none was found beside it';
    // Temporary keys work only with their session token, which is not paired with them.
    if (c.partner.secret.startsWith('ASIA')) return 'a temporary (ASIA) key works only with its session token';
    const url = probeUrl(base, '/');
    const headers = signV4(
      { method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: STS_BODY },
      { accessKeyId: c.partner.secret, secretAccessKey: c.secret },
      { region: 'us-east-1', service: 'sts', now },
    );
    // fetch sets Host from the URL (the one signed); it may not be passed by hand.
    delete headers.host;
    return { method: 'POST', path: '/', headers, body: STS_BODY };
  },
  judge: (answer) => {
    if (answer.status === 200) {
      const account = /<Account>(\d{12})<\/Account>/.exec(answer.body)?.[1];
      return valid(`AWS STS accepted the key pair${account ? ` (account ${account})` : ''}`);
    }
    const code = codeOf(/<Code>([^<]{1,60})<\/Code>/.exec(answer.body)?.[1]);
    if (answer.status === 403 && code && REJECTIONS.has(code)) return invalid(`AWS STS rejected the key pair (${code})`);
    return unknown(`AWS STS answered HTTP ${answer.status}${code ? ` (${code})` : ''}, which does not say whether the key works`);
  },
};
