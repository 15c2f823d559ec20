import type { Verification } from '../types.js';
import type { Answer, Candidate, Probe, Verifier } from './types.js';

export const valid = (detail: string): Verification => ({ status: 'valid', detail });
export const invalid = (detail: string): Verification => ({ status: 'invalid', detail });
export const unknown = (detail: string): Verification => ({ status: 'unknown', detail });

/** The parsed JSON body, or null: answers are read defensively, a proxy may send HTML. */
export function jsonOf(answer: Answer): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(answer.body);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A provider's short error code, quoted in a detail only when it is plainly a code. */
export function codeOf(value: unknown): string | null {
  return typeof value === 'string' && /^[A-Za-z_.]{1,60}$/.test(value) ? value : null;
}

interface StatusRules {
  /** HTTP statuses the provider documents as "this credential is not valid". */
  invalid: readonly number[];
  /** Statuses that prove the key authenticated although the call was refused (a restricted key). */
  validToo?: Readonly<Record<number, string>>;
}

/** The usual answer reading: 2xx accepted, the documented rejections invalid, anything else unknown. */
export function byStatus(name: string, rules: StatusRules): Verifier['judge'] {
  return (answer) => {
    if (answer.status >= 200 && answer.status < 300) return valid(`${name} accepted it (HTTP ${answer.status})`);
    if (rules.invalid.includes(answer.status)) return invalid(`${name} rejected it (HTTP ${answer.status})`);
    const why = rules.validToo?.[answer.status];
    if (why) return valid(`${name} recognised it: ${why} (HTTP ${answer.status})`);
    return unknown(`${name} answered HTTP ${answer.status}, which does not say whether the key works`);
  };
}


/** The URL a probe goes to: its path appended to the base URL's own path (`/api/v3` + `/user`). */
export function probeUrl(base: URL, path: string): URL {
  const [pathname, query] = path.split('?', 2) as [string, string | undefined];
  const url = new URL(base.href);
  url.pathname = `${base.pathname.replace(/\/+$/, '')}${pathname}`;
  url.search = query === undefined ? '' : `?${query}`;
  url.hash = '';
  return url;
}

/** Request helpers shared by the verifiers. */
export const get = (path: string, headers: Record<string, string>): Probe => ({ method: 'GET', path, headers });
export const bearer = (c: Candidate) => ({ authorization: `Bearer ${c.secret}` });
export const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}` });
export const ACCEPT_JSON = { accept: 'application/json' };
