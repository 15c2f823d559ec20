import { createHash, createHmac } from 'node:crypto';

/** What SigV4 signs: one HTTP request, before its Authorization header exists. */
export interface SigV4Request {
  method: string;
  /** Absolute URL; its path and query are signed as given (already encoded). */
  url: URL;
  /** Header names are signed lower-cased; `host` is taken from the URL when absent. */
  headers: Record<string, string>;
  body: string;
}

export interface SigV4KeyPair {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SigV4Scope {
  region: string;
  service: string;
  /** The request time; `x-amz-date` is set from it. */
  now: Date;
}

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** 20150830T123600Z: the basic ISO 8601 form SigV4 puts in x-amz-date. */
export function amzDate(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/**
 * The query in SigV4's canonical form: parameters sorted by name then value, each name and
 * value percent-encoded with only unreserved characters left as they are.
 */
function canonicalQuery(url: URL): string {
  const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return [...url.searchParams.entries()]
    .map(([k, v]) => [encode(k), encode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** The pieces of a signature, exposed so that tests can compare each step with AWS's examples. */
export function sigV4Parts(request: SigV4Request, keyPair: SigV4KeyPair, scope: SigV4Scope) {
  const date = amzDate(scope.now);
  const day = date.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  headers.host ??= request.url.host;
  headers['x-amz-date'] = date;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    request.method.toUpperCase(),
    request.url.pathname || '/',
    canonicalQuery(request.url),
    canonicalHeaders,
    signedHeaders,
    sha256Hex(request.body),
  ].join('\n');
  const credentialScope = `${day}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, credentialScope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${keyPair.secretAccessKey}`, day), scope.region), scope.service), 'aws4_request');
  const signature = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
  return { date, canonicalRequest, stringToSign, signedHeaders, credentialScope, signature, headers };
}

/**
 * Signs a request with AWS Signature Version 4 and returns the headers to send: the request's
 * own (lower-cased), `x-amz-date` and `authorization`. Written here rather than pulled from the
 * AWS SDK: one STS call does not justify the SDK's size.
 */
export function signV4(request: SigV4Request, keyPair: SigV4KeyPair, scope: SigV4Scope): Record<string, string> {
  const parts = sigV4Parts(request, keyPair, scope);
  const authorization = `AWS4-HMAC-SHA256 Credential=${keyPair.accessKeyId}/${parts.credentialScope}, ` +
    `SignedHeaders=${parts.signedHeaders}, Signature=${parts.signature}`;
  return { ...parts.headers, authorization };
}
