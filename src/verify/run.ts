import pLimit from 'p-limit';
import { ScanError } from '../errors.js';
import { redactWithin } from '../redact.js';
import type { Finding, Verification } from '../types.js';
import { probeUrl, unknown } from './judge.js';
import { VERIFIERS, verifierFor } from './providers.js';
import { PROVIDERS, type Answer, type Candidate, type ProviderId, type Verifier } from './types.js';

/** Seconds a provider gets to answer one check; a stalled endpoint must not stall the scan. */
export const DEFAULT_VERIFY_TIMEOUT_MS = 5000;
/** Checks in flight per provider: enough to be quick, few enough not to look like an attack. */
export const DEFAULT_VERIFY_CONCURRENCY = 4;
/** Bodies are read up to this much: the answers wanted are small, a hostile endpoint's need not be. */
const MAX_BODY = 64 * 1024;

export interface VerifyOptions {
  /** Base URL per provider instead of the documented one (validated with `parseVerifyEndpoints`). */
  endpoints?: ReadonlyMap<ProviderId, URL>;
  timeoutMs?: number;
  concurrency?: number;
  /** Cancels the checks in flight. */
  signal?: AbortSignal;
  now?: () => Date;
}

/** Raw values by secretHash, known only inside the scan that found them. */
export type RawSecrets = ReadonlyMap<string, string>;

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

/**
 * Checks a --verify-endpoint base URL: https, or plain http to a loopback address only (a
 * local proxy or test stand-in); no credentials, query or fragment in it.
 */
export function checkVerifyBase(provider: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ScanError(`--verify-endpoint ${provider}: not a URL`);
  }
  if (url.username !== '' || url.password !== '') throw new ScanError(`--verify-endpoint ${provider}: the URL may not carry credentials`);
  if (url.search !== '' || url.hash !== '') throw new ScanError(`--verify-endpoint ${provider}: the URL may not have a query or fragment`);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return url;
  throw new ScanError(`--verify-endpoint ${provider}: only https URLs, or plain http to a loopback address (127.0.0.1, ::1, localhost)`);
}

function providerId(name: string): ProviderId {
  const id = name.trim().toLowerCase();
  if ((PROVIDERS as readonly string[]).includes(id)) return id as ProviderId;
  throw new ScanError(`--verify-endpoint: unknown provider "${name}" (one of ${PROVIDERS.join(', ')})`);
}

/** `PROVIDER=URL` strings (the CLI) or a provider → URL record (the library), validated. */
export function parseVerifyEndpoints(input: readonly string[] | Readonly<Record<string, string>> | undefined): Map<ProviderId, URL> {
  const out = new Map<ProviderId, URL>();
  if (input === undefined) return out;
  const pairs: [string, string][] = Array.isArray(input)
    ? (input as readonly string[]).map((spec) => {
        const at = spec.indexOf('=');
        if (at <= 0) throw new ScanError('--verify-endpoint takes PROVIDER=URL (e.g. github=https://ghe.example.com/api/v3)');
        return [spec.slice(0, at), spec.slice(at + 1)];
      })
    : Object.entries(input as Readonly<Record<string, string>>);
  for (const [name, url] of pairs) {
    const id = providerId(name);
    out.set(id, checkVerifyBase(id, url));
  }
  return out;
}

/** Every host verification may call, per provider: for firewall allow-lists. */
export function verificationEndpoints(endpoints: ReadonlyMap<ProviderId, URL> = new Map()): { provider: ProviderId; hosts: string[]; call: string }[] {
  return VERIFIERS.map((v) => {
    const override = endpoints.get(v.provider);
    const hosts = override ? [override.host] : v.bases.map((b) => new URL(b).host);
    return { provider: v.provider, hosts, call: v.call };
  });
}

/**
 * Asks the providers whether the findings' secrets still work and sets `finding.verification`.
 * Each distinct secret (with its identifier) is asked about once, however many findings or
 * layers hold it. Raw values come from `raw` and go only into the request to their provider.
 */
export async function verifyFindings(findings: readonly Finding[], raw: RawSecrets, options: VerifyOptions = {}): Promise<void> {
  const limits = new Map<ProviderId, ReturnType<typeof pLimit>>();
  const asked = new Map<string, Promise<Verification>>();
  const concurrency = options.concurrency ?? DEFAULT_VERIFY_CONCURRENCY;
  const outcome = (f: Finding): Promise<Verification> => {
    const verifier = verifierFor(f.ruleId);
    if (!verifier) return Promise.resolve(unknown('no live check exists for this kind of secret'));
    const secret = raw.get(f.secretHash);
    if (secret === undefined) return Promise.resolve(unknown('the raw value was not available to check'));
    const partnerSecret = f.pairedWith ? raw.get(f.pairedWith.secretHash) : undefined;
    const candidate: Candidate = {
      ruleId: f.ruleId,
      secret,
      partner: f.pairedWith && partnerSecret !== undefined ? { ruleId: f.pairedWith.ruleId, secret: partnerSecret } : null,
    };
    const key = `${verifier.provider}\0${f.secretHash}\0${f.pairedWith?.secretHash ?? ''}`;
    let pending = asked.get(key);
    if (!pending) {
      let limit = limits.get(verifier.provider);
      if (!limit) limits.set(verifier.provider, (limit = pLimit(concurrency)));
      pending = limit(() => check(verifier, candidate, options));
      asked.set(key, pending);
    }
    return pending;
  };
  const results = await Promise.all(findings.map(outcome));
  findings.forEach((f, i) => {
    f.verification = { ...results[i]! };
  });
}

/** One secret against its provider: each base in turn until one accepts; invalid only if all reject. */
export async function check(verifier: Verifier, candidate: Candidate, options: VerifyOptions): Promise<Verification> {
  const override = options.endpoints?.get(verifier.provider);
  const bases = override ? [override] : verifier.bases.map((b) => new URL(b));
  const secrets = [candidate.secret, ...(candidate.partner ? [candidate.partner.secret] : [])];
  const answers: Verification[] = [];
  for (const base of bases) {
    const result = await ask(verifier, candidate, base, options);
    // Belt and braces: no detail may quote a raw value, whatever a provider echoed.
    const safe = { status: result.status, detail: redactWithin(result.detail, secrets) };
    if (safe.status === 'valid' || result.cannotCheck) return safe;
    answers.push(safe);
  }
  if (answers.every((a) => a.status === 'invalid')) {
    return answers.length === 1 ? answers[0]! : { status: 'invalid', detail: `${answers[0]!.detail}, at each of its ${answers.length} sites` };
  }
  return answers.find((a) => a.status === 'unknown')!;
}

async function ask(verifier: Verifier, candidate: Candidate, base: URL, options: VerifyOptions): Promise<Verification & { cannotCheck?: true }> {
  const probe = verifier.probe(candidate, { base, now: options.now?.() ?? new Date() });
  if (typeof probe === 'string') return { ...unknown(probe), cannotCheck: true };
  const timeoutMs = options.timeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const where = base.host;
  let answer: Answer;
  try {
    // redirect: 'manual': a redirect would carry the key to a host nobody allow-listed.
    const response = await fetch(probeUrl(base, probe.path), { method: probe.method, headers: probe.headers, body: probe.body, redirect: 'manual', signal });
    answer = { status: response.status, headers: response.headers, body: await readCapped(response) };
  } catch (err) {
    return unknown(`${failure(err, timeoutMs)} (${where})`);
  }
  if (answer.status >= 300 && answer.status < 400) return unknown(`${where} answered with a redirect (HTTP ${answer.status}), which is not followed`);
  if (answer.status === 429) return unknown(`${where} is rate limiting (HTTP 429): try again later`);
  if (answer.status >= 500) return unknown(`${where} failed (HTTP ${answer.status}): try again later`);
  if (answer.status < 200) return unknown(`${where} answered HTTP ${answer.status}`);
  return verifier.judge(answer, candidate);
}

/** A failed request in a few words. Never the error's message: fetch errors may quote the URL. */
function failure(err: unknown, timeoutMs: number): string {
  const name = err instanceof Error ? err.name : '';
  if (name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  if (name === 'AbortError') return 'cancelled';
  // undici wraps the socket error; with several addresses tried, in an AggregateError.
  const cause = (err as { cause?: { code?: unknown; errors?: { code?: unknown }[] } } | null)?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? `network error ${code}` : 'network error';
}

async function readCapped(response: Response): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
      if (size >= MAX_BODY) break;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
}
