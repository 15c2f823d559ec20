/**
 * Example templates let detector files carry realistic, freshly generated fake secrets instead of
 * literal ones: `{{class:length}}` is replaced by random characters of that class, and `[[...]]`
 * marks the part a detector must report as the secret.
 */
const CLASSES: Record<string, string> = {
  hex: '0123456789abcdef',
  HEX: '0123456789ABCDEF',
  alnum: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  lower: 'abcdefghijklmnopqrstuvwxyz0123456789',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  alpha: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
  digits: '0123456789',
  b64: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
  b64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  base32: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567',
  bech32: 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L',
};

export type Random = () => number;

/** Small deterministic PRNG (mulberry32) so a seed reproduces a failing example. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomChars(rand: Random, alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(rand() * alphabet.length)];
  return out;
}

function uuid(rand: Random): string {
  const h = (n: number) => randomChars(rand, CLASSES.hex!, n);
  return `${h(8)}-${h(4)}-4${h(3)}-${'89ab'[Math.floor(rand() * 4)]}${h(3)}-${h(12)}`;
}

/** A PEM block with a random body: the right shape, no usable key inside. */
export function fakePem(rand: Random, label: string, lines = 12, newline = '\n'): string {
  const body: string[] = [];
  for (let i = 0; i < lines; i++) body.push(randomChars(rand, CLASSES.b64!, 64));
  body.push(randomChars(rand, CLASSES.b64!, 40) + '==');
  return [`-----BEGIN ${label}-----`, ...body, `-----END ${label}-----`].join(newline);
}

export interface RenderedExample {
  text: string;
  /** The value inside `[[...]]`, if the template marks one. */
  secret: string | null;
}

const TOKEN = /\{\{(\w+)(?::([^}]*))?\}\}/g;

export function renderTemplate(template: string, rand: Random): RenderedExample {
  const fill = (s: string) =>
    s.replace(TOKEN, (whole, kind: string, arg: string | undefined) => {
      if (kind === 'uuid') return uuid(rand);
      if (kind === 'pem') return fakePem(rand, arg ?? 'PRIVATE KEY');
      // JSON string form: newlines escaped, as in a service-account file.
      if (kind === 'pemjson') return fakePem(rand, arg ?? 'PRIVATE KEY', 12, '\\n');
      // A YAML block scalar or an indented heredoc: every line after the first indented.
      if (kind === 'pemindent') return fakePem(rand, arg ?? 'PRIVATE KEY', 12, '\n    ');
      // One line, the breaks turned into spaces (an env file, a CI variable pasted flat).
      if (kind === 'pemline') return fakePem(rand, arg ?? 'PRIVATE KEY', 12, ' ');
      // Source code that builds the key by concatenating quoted lines ("-----BEGIN …" + "MIIE…" + …).
      if (kind === 'pemconcat') return `"${fakePem(rand, arg ?? 'PRIVATE KEY', 12, '" +\n    "')}"`;
      const alphabet = CLASSES[kind];
      const length = Number(arg);
      if (!alphabet || !Number.isInteger(length) || length <= 0) {
        throw new Error(`unknown template token ${whole}`);
      }
      return randomChars(rand, alphabet, length);
    });
  const marks = [...template.matchAll(/\[\[([\s\S]*?)\]\]/g)];
  if (marks.length > 1) throw new Error('a template may mark only one secret with [[...]]');
  if (marks.length === 0) return { text: fill(template), secret: null };
  const mark = marks[0]!;
  const before = fill(template.slice(0, mark.index));
  const secret = fill(mark[1]!);
  const after = fill(template.slice(mark.index + mark[0].length));
  return { text: before + secret + after, secret };
}
