/** Shannon entropy in bits per character. */
export function shannonEntropy(value: string): number {
  if (value.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / value.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

// Values that only look like secrets: documentation stand-ins and template variables. Template
// bodies are bounded: an unbounded [^}]* rescans to the end from every "${" or "{{" (quadratic).
const PLACEHOLDER_WORDS = /example|placeholder|xxxxx|\*\*\*\*|your[_-]?(api[_-]?)?(key|token|secret|password)|changeme|redacted|dummy|sample|insert[_-]?here|replace[_-]?me/i;
const TEMPLATE_SYNTAX = /\$\{[^}]{0,256}\}|\{\{[^}]{0,256}\}\}|^\$[A-Z_][A-Z0-9_]*$|^%[A-Z_]+%$|^<[^>]+>$|process\.env\.|os\.environ/;
const REPEATED = /^(.)\1+$/;
const SEQUENCES = /0123456789|abcdefghij|1234567890/i;

export function isPlaceholder(secret: string): boolean {
  return (
    PLACEHOLDER_WORDS.test(secret) ||
    TEMPLATE_SYNTAX.test(secret) ||
    REPEATED.test(secret) ||
    SEQUENCES.test(secret)
  );
}
