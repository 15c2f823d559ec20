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
