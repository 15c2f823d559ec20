import type { Verification } from '../types.js';

/** Providers that stratascan knows how to ask whether a secret still works. */
export const PROVIDERS = [
  'clarifai', 'aws', 'github', 'gitlab', 'slack', 'stripe', 'openai', 'anthropic', 'huggingface', 'npm', 'sendgrid',
  'twilio', 'mailgun', 'datadog', 'google',
] as const;
export type ProviderId = (typeof PROVIDERS)[number];

/** One secret to check, with the raw identifier it is used with (an AWS key id, a Twilio SID). */
export interface Candidate {
  ruleId: string;
  secret: string;
  partner: { ruleId: string; secret: string } | null;
}

/** The request a verifier wants sent; the runner adds the timeout, the no-redirect rule and the base URL. */
export interface Probe {
  method: 'GET' | 'POST';
  /** Appended to the base URL's path (`/user` under `https://ghe.example/api/v3`). */
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** What came back: the status, a few headers and the first 64 KiB of the body. */
export interface Answer {
  status: number;
  body: string;
  headers: Headers;
}

export interface ProbeContext {
  /** The base URL this probe goes to (the documented one or a --verify-endpoint override). */
  base: URL;
  now: Date;
}

/**
 * One provider's live check: which rules it covers, where it may call, how to ask, and how to
 * read the answer. `probe` returns a string instead when this finding cannot be checked (a
 * secret without its identifier, a token type with no read-only call): that becomes `unknown`.
 */
export interface Verifier {
  provider: ProviderId;
  /** For people: the call made, e.g. "GET /user". */
  call: string;
  rules: readonly string[];
  /**
   * Documented base URLs. With several (regions, sites), each is asked in turn until one
   * accepts the key; it is `invalid` only when every one rejects it.
   */
  bases: readonly string[];
  probe(candidate: Candidate, context: ProbeContext): Probe | string;
  /**
   * Reads a 2xx or 4xx answer (3xx, 429, 5xx and failures never get here: they are `unknown`).
   * Returns `invalid` only for the rejections the provider documents as a bad credential.
   */
  judge(answer: Answer, candidate: Candidate): Verification;
}
