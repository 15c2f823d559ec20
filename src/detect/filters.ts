import { ENTROPY_FLOORS } from './entropy-floors.js';

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

/**
 * Whether `secret` is random enough for a rule asking `threshold` bits a character. A value of n
 * characters holds at most log2(n) bits a character (8 characters: 3.0, all of them different), so
 * a short password with one repeated character would fail a flat bar; short values that mix letters
 * with digits or symbols need 85% of what their length allows instead, when that is lower than the
 * rule's threshold. Letters alone ("string", "Password") keep the flat bar: those are words; so do
 * values under 8 characters ("pwd3", "foo%40bar" once decoded), shorter than any password policy allows.
 */
export function meetsEntropy(secret: string, threshold: number): boolean {
  const bits = shannonEntropy(secret);
  if (bits >= threshold) return true;
  // Percent-escapes inflate a value's apparent randomness: "foo%40bar" is the 7 characters foo@bar.
  let plain = secret;
  try {
    plain = decodeURIComponent(secret);
  } catch {
    // not percent-encoded: taken as it is
  }
  const length = [...plain].length;
  if (length < 8 || !/[A-Za-z]/.test(plain) || !/[^A-Za-z]/.test(plain)) return false;
  return shannonEntropy(plain) >= Math.log2(length) * 0.85;
}

/**
 * Whether `secret` is as varied as random characters of its own alphabet and length usually are:
 * its entropy is above what all but about 1 in 5,000 random strings of that alphabet and length reach. A
 * rule's flat entropy bar, set to drop stand-ins, also drops issued keys whose alphabet or length
 * caps their entropy near it (25 digits hold 3.06 bits a character on average, against a bar of 3;
 * 1-2% of random 32-hex keys fall under 3.3). Stand-ins (`1111122222…`, `abcdabcd…`) stay far below.
 * `digits-or-hex`: only for values of those alphabets, which no word is spelt in (a catch-all's bar
 * also tells words from values).
 */
export function randomForItsAlphabet(secret: string, alphabets: 'any' | 'digits-or-hex' = 'any'): boolean {
  // A UUID's dashes or a token's dots are its layout, not random characters.
  const body = secret.replace(/[-_.]/g, '');
  // Under 16 characters the spread is wide enough to let made-up values through ("aabbccdd").
  if (body.length < 16) return false;
  const size = alphabetSize(body);
  // A catch-all's short hex values are ids and hashes as often as keys (a .NET publicKeyToken).
  if (alphabets === 'digits-or-hex' && (size > 16 || body.length < 24)) return false;
  if (builtByHand(body)) return false;
  return shannonEntropy(body) >= randomEntropyFloor(size, body.length);
}

// Hex words that samples are spelt with.
const HEX_SPEAK = /deadbeef|cafebabe|feedface|baadf00d|decafbad|c0ffee|facade|defaced/i;

/**
 * A value typed to look like a key: blocks of one character (`1111222233334444`), one short unit
 * repeated (`1234123412341234`), hex words. Random strings of 16 or more characters have three runs
 * of three or a period of eight or less about once in a few thousand (digits) or far less.
 */
function builtByHand(body: string): boolean {
  if (HEX_SPEAK.test(body)) return true;
  if ((body.match(/(.)\1\1/g) ?? []).length >= 3) return true;
  for (let period = 1; period <= 8 && period * 2 <= body.length; period++) {
    let repeats = true;
    for (let i = period; i < body.length && repeats; i++) repeats = body[i] === body[i - period];
    if (repeats) return true;
  }
  return false;
}

function alphabetSize(secret: string): number {
  if (/^[0-9]+$/.test(secret)) return 10;
  if (/^[0-9a-f]+$/.test(secret) || /^[0-9A-F]+$/.test(secret)) return 16;
  if (/^[a-z]+$/.test(secret) || /^[A-Z]+$/.test(secret)) return 26;
  if (/^[a-z0-9]+$/.test(secret) || /^[A-Z0-9]+$/.test(secret)) return 36;
  if (/^[A-Za-z0-9]+$/.test(secret)) return 62;
  return 64;
}

/** The alphabets whose floors are tabled (entropy-floors.ts), and the longest length tabled. */
export const FLOOR_ALPHABETS = [10, 16, 26, 36, 62, 64] as const;
export const FLOOR_MAX_LENGTH = 64;

/**
 * The entropy floor for `size` symbols and `length`: past the table's longest length the last
 * entry stands (lower than the true floor, which rises with length, and still far above a stand-in's).
 */
function randomEntropyFloor(size: number, length: number): number {
  return ENTROPY_FLOORS[`${size}:${Math.min(length, FLOOR_MAX_LENGTH)}`] ?? simulatedEntropyFloor(size, Math.min(length, FLOOR_MAX_LENGTH));
}

/**
 * The entropy that all but about 1 in 5,000 random strings of `size` symbols and `length` reach,
 * simulated with a fixed seed (scripts/entropy-floors.mjs tables it; the tests recompute entries).
 * Simulated, not from a normal approximation: collisions give the distribution a long low tail.
 */
export function simulatedEntropyFloor(size: number, length: number): number {
  const samples = 10_000;
  const values = new Float64Array(samples);
  const counts = new Uint16Array(size);
  let state = 0x9e3779b9 ^ (size * 7919 + length);
  for (let i = 0; i < samples; i++) {
    counts.fill(0);
    for (let j = 0; j < length; j++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      counts[(state >>> 0) % size]!++;
    }
    let bits = 0;
    for (const n of counts) if (n > 0) bits -= (n / length) * Math.log2(n / length);
    values[i] = bits;
  }
  values.sort();
  return Math.floor(values[1]! * 1e6) / 1e6;
}

// Values that only look like secrets: documentation stand-ins and template variables. Template
// bodies are bounded: an unbounded [^}]* rescans to the end from every "${" or "{{" (quadratic).
const PLACEHOLDER_WORDS = /example|placeholder|xxxxx|\*\*\*\*|your[_-]?(api[_-]?)?(key|token|secret|password)|changeme|redacted|dummy|sample|insert[_-]?here|replace[_-]?(?:me|with)/i;
const TEMPLATE_SYNTAX = /\$\{[^}]{0,256}\}|\{\{[^}]{0,256}\}\}|^\$[A-Z_][A-Z0-9_]*$|^%[A-Z_]+%$|^<[^>]+>$|process\.env\.|os\.environ/;
const REPEATED = /^(.)\1+$/;
// Eight zeros in a row: a sample padded out to a format's length (`ghs_InstallationToken00000000`).
// Random characters of any key alphabet have them about once in 10^12 keys.
const ZERO_PADDED = /0{8}/;
// Counting runs, and the interleaved a1b2c3d4… (or 1a2b3c4d…) that charts and docs fill a key-shaped slot with.
const SEQUENCES = /0123456789|abcdefghij|1234567890|a1b2c3d4|1a2b3c4d/i;

/**
 * Whether `secret` only stands in for a secret. `credentialContext`: the rule found it in a
 * credential's own syntax (see RuleSpec.credentialContext), where only a bare stand-in is dropped.
 */
export function isPlaceholder(secret: string, credentialContext = false): boolean {
  return (
    PLACEHOLDER_WORDS.test(secret) ||
    TEMPLATE_SYNTAX.test(secret) ||
    REPEATED.test(secret) ||
    ZERO_PADDED.test(secret) ||
    SEQUENCES.test(secret) ||
    // A counting UUID (01234567-89ab-cdef-0123-456789abcdef) is a sequence once its dashes go.
    (secret.includes('-') && SEQUENCES.test(secret.replace(/-/g, ''))) ||
    decodesToStandInLogin(secret) ||
    isPlaceholderPem(secret) ||
    decodesToProse(secret) ||
    (credentialContext ? isBareStandIn(secret) : isStandInPassword(secret)) ||
    isExampleJwt(secret) ||
    holdsSampleJwt(secret) ||
    isBlockchainAddress(secret) ||
    hasImpossiblePadding(secret) ||
    isBrokenJwt(secret)
  );
}

/**
 * Standard base64 (it holds + or /) whose padding no encoder writes: an = before the end, or more
 * than two. A key with a character typed over, not one that was issued. (Padding on a length that
 * is not a multiple of four is as impossible, but hand-made samples of real formats often have it,
 * and they stand for keys that are real.) Values of other alphabets with = in
 * them are left alone: key=value pairs, and values with = spread all through them, which use it
 * as a character of their alphabet (some issuers' formats, other scanners' random test keys).
 */
export function hasImpossiblePadding(secret: string): boolean {
  if (secret.length < 16 || !/^[A-Za-z0-9+/=]+$/.test(secret) || !/[+/]/.test(secret)) return false;
  const equals = secret.split('=').length - 1;
  if (equals === 0 || equals > 3) return false;
  return !/^[A-Za-z0-9+/]+={1,2}$/.test(secret);
}

/**
 * A JWT whose header or claims decode to text that is not a JSON object (`{"alg":"HS256","typ%B'`,
 * no closing brace): a token edited by hand or cut short, which no issuer signed. Only a part that
 * decodes to printable ASCII is judged: random test payloads decode to binary and pass, and so
 * do claims holding other UTF-8 text.
 */
export function isBrokenJwt(secret: string): boolean {
  const parts = secret.split('.');
  if (parts.length !== 3 || !parts[0]!.startsWith('eyJ')) return false;
  return parts.slice(0, 2).some((part) => {
    if (!/^[A-Za-z0-9_-]+$/.test(part)) return false;
    const text = Buffer.from(part, 'base64url').toString('latin1');
    // A JSON object ends with its closing brace; the check stays lenient about what is inside.
    return /^[\x20-\x7e]+$/.test(text) && !/\}\s*$/.test(text);
  });
}

/**
 * The sample tokens of jwt.io (and the tutorials that copy it: claims {"sub": "1234567890", "name":
 * "John Doe", …, "iat": 1516239022}) and of the JWT RFCs, whatever their algorithm, extra claims or
 * signature. Known to everyone, they unlock nothing. Found inside a longer value too ("Bearer eyJ…").
 */
export function holdsSampleJwt(secret: string): boolean {
  const at = secret.indexOf('eyJ');
  if (at === -1) return false;
  const payload = secret.slice(at).split('.')[1];
  if (payload === undefined || !payload.startsWith('eyJ')) return false;
  const claims = Buffer.from(payload, 'base64url').toString('latin1');
  const jwtIo = claims.includes('"sub":"1234567890"') && claims.includes('"name":"John Doe"') && claims.includes('"iat":1516239022');
  // The example of RFC 7519 (and RFC 7515): {"iss":"joe", "exp":1300819380, "http://example.com/is_root":true}.
  const rfc = claims.includes('"iss":"joe"') && claims.includes('"exp":1300819380');
  return jwtIo || rfc;
}

/**
 * Base64 of a stand-in login ("username:password", "user:pass", "admin:secret"): documentation
 * showing the shape of a Basic auth or a registry `auth` value. Real logins decode to a random or
 * generated password and are reported.
 */
export function decodesToStandInLogin(secret: string): boolean {
  if (secret.length < 8 || secret.length > 80 || !/^[A-Za-z0-9+/]+={0,2}$/.test(secret)) return false;
  const text = Buffer.from(secret, 'base64').toString('latin1');
  const colon = text.indexOf(':');
  if (colon < 1 || !/^[\x20-\x7e]+$/.test(text)) return false;
  return isStandInPassword(text.slice(colon + 1));
}

/**
 * A public chain address (an Ethereum contract or account: 0x and 40 hex digits), which
 * deployment files and token lists name under keys such as `RewardToken`. A private key on the
 * same chain is 64 hex digits and still reported.
 */
export function isBlockchainAddress(secret: string): boolean {
  return /^0x[0-9a-fA-F]{40}$/.test(secret);
}

/**
 * A short, typed password inside a fenced code sample of a Markdown page (`auth: { username:
 * 'mikeymike', password: 'rapunz3l' }` in a library's README): documentation showing where a
 * password goes. Only lower-case letters and digits, at most 10 of them: what a person types for
 * an illustration, and what no generator of real credentials produces. A random or provider-shaped
 * value in the same sample is still reported. `before()` is the scanned text before the value, read
 * only for a value of that shape (a README's samples run for hundreds of lines).
 */
export function isDocumentationPassword(secret: string, before: () => string): boolean {
  if (!/^[a-z0-9]{6,10}$/.test(secret) || !/[a-z]/.test(secret) || !/[0-9]/.test(secret)) return false;
  return insideFence(before());
}

/**
 * A stand-in password ("secret", "myPassword") in a credential's own syntax inside a fenced code
 * sample of a Markdown page (`'postgres://DBuser:secret@DBHost/myDB'` in pg-pool's README): the
 * sample shows where a password goes. The same value in a config file is a weak password someone
 * set (RuleSpec.credentialContext) and still reported.
 */
export function isDocumentationStandIn(secret: string, before: () => string): boolean {
  return isStandInPassword(secret) && insideFence(before());
}

/** Inside a fenced block: an odd number of fence lines before the value. */
function insideFence(before: string): boolean {
  const fences = before.match(/^[ \t]{0,3}```/gm)?.length ?? 0;
  return fences % 2 === 1;
}

/**
 * The base64 body of a PEM block in `secret` (armour lines, RFC 1421 headers such as Proc-Type,
 * whitespace and `\n` escapes of a JSON or env string removed), or null when it holds none.
 */
export function pemBody(secret: string): string | null {
  const begin = secret.indexOf('-----BEGIN ');
  if (begin === -1) return null;
  const open = secret.indexOf('-----', begin + 11);
  if (open === -1) return null;
  const close = secret.indexOf('-----END ', open + 5);
  const inside = secret.slice(open + 5, close === -1 ? secret.length : close).replace(/\\{1,4}[rn]/g, '\n');
  return inside
    .split(/[\r\n]/)
    .filter((line) => !line.includes(':'))
    .map(unquotedLine)
    .join('')
    .replace(/[^A-Za-z0-9+/=]/g, '');
}

/**
 * A body line of a key concatenated in source code ("MIIE…" +) without its quotes and the operator
 * joining it to the next. Lines without a quote are left alone: a trailing + is then base64.
 */
function unquotedLine(line: string): string {
  if (!line.includes('"')) return line;
  let s = line.trim();
  const last = s.at(-1);
  if (last !== undefined && '+.&\\'.includes(last) && s.slice(0, -1).trimEnd().endsWith('"')) s = s.slice(0, -1).trimEnd();
  if (s.endsWith('"')) s = s.slice(0, -1);
  if (s.startsWith('+')) s = s.slice(1).trimStart();
  if (s.startsWith('"')) s = s.slice(1);
  return s;
}

// The smallest private key a PEM block holds (an Ed25519 PKCS #8 key) is 48 bytes: 64 base64 characters.
const SHORTEST_KEY_BODY = 64;
// DER is mostly random bytes: its base64 runs well above 5 bits a character. Text typed by hand
// ("XXXX", "MIIE...", "<your key here>") does not.
const KEY_BODY_ENTROPY = 4.0;

/** A PEM block whose body cannot be a key: empty, too short, a typed stand-in ("XXXX\nXXXX"). */
export function isPlaceholderPem(secret: string): boolean {
  const body = pemBody(secret);
  if (body === null) return false;
  return body.length < SHORTEST_KEY_BODY || shannonEntropy(body) < KEY_BODY_ENTROPY || /(.)\1{7}/.test(body);
}

/**
 * A base64 value that decodes to an English phrase ("not my real password"): documentation that
 * encodes a sentence to show the format, never a key (random bytes decode to binary).
 */
export function decodesToProse(secret: string): boolean {
  if (secret.length < 16 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(secret)) return false;
  const text = Buffer.from(secret, 'base64').toString('latin1');
  if (!/^[\x20-\x7e]+$/.test(text)) return false;
  const words = text.split(' ').filter((w) => /^[A-Za-z][a-z]*[.,!?]?$/.test(w));
  return words.length >= 3 && words.join(' ').length >= text.length * 0.8;
}

// Words that documentation builds stand-in passwords from ("p@ssword", "V3ry_S3nsit1ve", "psw",
// "yourStrong(!)Password").
const STAND_IN_WORDS = new Set([
  'password', 'passwd', 'passw', 'pass', 'pwd', 'psw', 'pw', 'secret', 'sensitive', 'very', 'super', 'my', 'your',
  'not', 'real', 'fake', 'test', 'testing', 'dummy', 'sample', 'demo', 'foo', 'bar', 'baz', 'token', 'key', 'api',
  'private', 'admin', 'user', 'letmein', 'changeit', 'qwerty', 'hunter', 'top', 'mock', 'strong', 'random', 'open', 'sesame',
]);
// One of these must be among them: "my-user" or "foo" alone is not a stand-in password.
// "sesame": RFC 7617's Aladdin:open sesame, copied into proxy and HTTP client docs.
const STAND_IN_CORE = ['pass', 'pwd', 'psw', 'secret', 'sensitive', 'letmein', 'changeit', 'qwerty', 'hunter', 'sesame'];
// Digits and symbols that stand for letters in such words.
const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };

/** Every way `word` is a run of STAND_IN_WORDS (at most a few: the words are short). */
function isWordRun(word: string): boolean {
  const reach = new Array<boolean>(word.length + 1).fill(false);
  reach[0] = true;
  for (let i = 0; i < word.length; i++) {
    if (!reach[i]) continue;
    for (let j = i + 1; j <= Math.min(word.length, i + 12); j++) if (STAND_IN_WORDS.has(word.slice(i, j))) reach[j] = true;
  }
  return reach[word.length]!;
}

/** Levenshtein distance of at most one. */
function withinOneEdit(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const rest = (x: number, y: number) => a.slice(i + x) === b.slice(i + y);
  return rest(1, 1) || rest(1, 0) || rest(0, 1);
}

/**
 * A stand-in password built from the word "password" and its kin, percent-encoded, spelled with
 * digits for letters, or with one letter off: "pa%2Fssword", "p@ssword", "pa%3Fsword", "S3nsit1ve",
 * "V3ry_S3nsit1ve". Random characters almost never spell these.
 */
export function isStandInPassword(secret: string): boolean {
  if (secret.length > 40) return false;
  let decoded = secret;
  try {
    decoded = decodeURIComponent(secret);
  } catch {
    // not percent-encoded: taken as it is
  }
  const letters = [...decoded.toLowerCase()].map((c) => LEET[c] ?? c);
  const parts = letters.join('').split(/[^a-z]+/).filter(Boolean);
  if (parts.length === 0 || parts.join('').length < 3) return false;
  const joined = parts.join('');
  if ((parts.every(isWordRun) || isWordRun(joined)) && STAND_IN_CORE.some((w) => joined.includes(w))) return true;
  return joined.length >= 6 && ['password', 'passwd', 'secret', 'sensitive'].some((w) => withinOneEdit(joined, w));
}

// A credential word alone, as a template or a reader fills the slot in ("Password=password"), or
// with the word a generated sample puts before it ("randompassword" in an ORM's init templates).
const BARE_STAND_IN = /^(?:(?:random|some)[_-]?)?(?:pass(?:word|wd)?|pwd|pw)$|^(?:changeme|changeit)$/i;

/**
 * A stand-in even where the context makes the value a credential: a bare credential word
 * ("password", "PWD", "changeme") or a stand-in that addresses the reader ("yourStrong(!)Password",
 * the SQL Server image's documented example). "secret", "myPassword" or "P@ssw0rd1" in a
 * connection string are passwords someone set, weak ones, and reported.
 */
export function isBareStandIn(secret: string): boolean {
  return BARE_STAND_IN.test(secret) || (/your/i.test(secret) && isStandInPassword(secret));
}

/**
 * Code, not a credential: a CamelCase name ("SensitiveString2048", "SignatureV4SignWithCredentials")
 * or a type union ("Buffer|Uint8Array|Blob|string"). Catch-all rules take the value after any key
 * named like a secret, and typings and generated clients name many of their types that way.
 */
export function looksLikeIdentifier(secret: string): boolean {
  if (/^[A-Za-z_][\w.]*(?:\s?\|\s?[A-Za-z_][\w.]*)+$/.test(secret)) return true;
  // camelCase reads the same once its first letter is capital ("base64EncodedKey" in a client's README).
  if (/^[a-z]+[0-9]*[A-Z]/.test(secret)) return looksLikeIdentifier(secret[0]!.toUpperCase() + secret.slice(1));
  if (!/^[A-Z][A-Za-z0-9]+$/.test(secret)) return false;
  const tokens = secret.match(/[A-Z][a-z]+|[A-Z]+(?![a-z])|\d+/g) ?? [];
  if (tokens.join('') !== secret) return false;
  // Capitalised words that read like words (a vowel in every three letters or so, no long
  // consonant runs), one of them a word that names types; at most one acronym (V4, URL) and two
  // numbers. Random characters almost never fall into such runs.
  const words = tokens.filter((w) => /^[A-Z][a-z]+$/.test(w));
  const known = words.filter((w) => TYPE_WORDS.has(w.toLowerCase()));
  const readable = words.filter((w) => TYPE_WORDS.has(w.toLowerCase()) || (w.length >= 3 && /[aeiouy]/.test(w) && !/[^aeiouy]{4}/i.test(w)));
  const letters = words.join('');
  const acronyms = tokens.filter((w) => /^[A-Z]+$/.test(w));
  const numbers = tokens.filter((w) => /^\d/.test(w));
  return known.length >= 1 && readable.length >= 2 && readable.length === words.length && letters.length >= secret.length * 0.75 && acronyms.length <= 1 && acronyms.every((w) => w.length <= 4) && numbers.length <= 2;
}

// Words that type and member names are made of ("SensitiveString2048", "XmlStringMaxLen256").
const TYPE_WORDS = new Set([
  'string', 'str', 'list', 'map', 'set', 'blob', 'buffer', 'type', 'name', 'integer', 'int', 'long', 'boolean', 'bool', 'max', 'min',
  'len', 'length', 'value', 'id', 'ids', 'configuration', 'config', 'sensitive', 'credentials', 'credential', 'secret', 'token',
  'key', 'password', 'with', 'sign', 'signature', 'request', 'response', 'input', 'output', 'result', 'error', 'options', 'number',
  'array', 'object', 'date', 'timestamp', 'arn', 'empty', 'non', 'xml', 'json', 'url', 'uri', 'http', 'data', 'field', 'param',
]);

/**
 * A JWT whose claims say it is an example ("sts:identity_context": "EXAMPLE…"): API
 * references sign such tokens to show their shape. Random test payloads decode to binary and pass.
 */
export function isExampleJwt(secret: string): boolean {
  const parts = secret.split('.');
  if (parts.length < 2 || !parts[0]!.startsWith('eyJ') || !parts[1]!.startsWith('eyJ')) return false;
  const claims = Buffer.from(parts[1]!, 'base64url').toString('latin1');
  // Upper case only: a real token's issuer or e-mail may well be at example.com.
  return /EXAMPLE|PLACEHOLDER|XXXXX|REDACTED/.test(claims);
}
