/**
 * Redacted form of a secret: enough of the start to recognise the token type (ghp_, AKIA,
 * -----BEGIN), never enough to use it.
 */
export function redact(secret: string): string {
  const firstLine = secret.split(/\r?\n|\\n/, 1)[0]!;
  if (secret.startsWith('-----BEGIN')) return `${firstLine}…(${secret.length} chars)`;
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
