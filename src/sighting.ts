import type { Occurrence } from './types.js';

/** Where in the image a value was seen: an Occurrence before its fate is known. */
export type Place = Omit<Occurrence, 'inFinalImage'>;

/**
 * One rule's match at one place in the image, before layers are replayed and values merged.
 * Values are identified by their hash, so sightings restored from the layer cache (which holds no
 * raw secret) attribute and merge exactly like fresh ones; `secret` is there only when known.
 */
export interface Sighting extends Place {
  ruleId: string;
  /** secretHash(secret): what attribution and dedupe key on. */
  secretHash: string;
  /** redact(secret). */
  redacted: string;
  /** The raw value: present for fresh matches, absent for cached ones. Reported only with showSecrets. */
  secret?: string;
  /** A later entry of the same layer replaced the file without this secret. */
  replacedInLayer?: boolean;
  /** The service a catch-all rule's setting names (ZENDESK_API_KEY → Zendesk). */
  provider?: string;
  /** The secret's length in characters, when known: tells which matches on a line overlap. */
  length?: number;
}
