import { createHash } from 'node:crypto';

/**
 * Redacted form of a secret: enough of the start to recognise the token type (ghp_, AKIA,
 * -----BEGIN), never enough to use it.
 */
export function redact(secret: string): string {
  if (secret.startsWith('-----BEGIN')) {
    // Only the armour line: splitting on line breaks would keep a whole key whose lines end in a
    // bare CR (or any separator the detector accepts that is not LF) as its "first line".
    const armour = /^-----BEGIN [A-Z0-9 ]{0,60}-----/.exec(secret)?.[0] ?? '-----BEGIN';
    return `${armour}…(${secret.length} chars)`;
  }
  const visible = secret.length >= 40 ? 6 : secret.length >= 16 ? 4 : secret.length >= 10 ? 2 : 0;
  return `${secret.slice(0, visible)}${'*'.repeat(Math.min(12, Math.max(4, secret.length - visible)))}`;
}

/** Replaces every occurrence of the given secrets in free text by their redacted forms. */
export function redactWithin(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length > 0 && out.includes(secret)) out = out.split(secret).join(redact(secret));
  }
  return out;
}

/**
 * Raw values inside `text` of secrets known only by hash (cached layers): each candidate substring
 * of the right length that starts with the redacted form's visible prefix is hashed and compared.
 * Used to scrub build arguments from history text; the values found never leave memory.
 */
export function findByHash(text: string, wanted: readonly { secretHash: string; redacted: string; length: number }[]): string[] {
  const found = new Set<string>();
  for (const w of wanted) {
    if (w.length <= 0 || w.length > text.length) continue;
    const prefix = w.redacted.startsWith('-----BEGIN') ? '-----BEGIN' : w.redacted.slice(0, Math.max(0, w.redacted.indexOf('*')));
    for (let i = prefix ? text.indexOf(prefix) : 0; i !== -1 && i + w.length <= text.length; i = prefix ? text.indexOf(prefix, i + 1) : i + 1) {
      const candidate = text.slice(i, i + w.length);
      if (`sha256:${createHash('sha256').update(candidate, 'utf8').digest('hex')}` === w.secretHash) found.add(candidate);
    }
  }
  return [...found];
}
