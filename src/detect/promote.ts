/**
 * The provider rule wins over a catch-all one. A catch-all finding (generic-api-key, jwt, an
 * Authorization header) whose setting names a service, or that sits in text naming one (an SDK
 * import, the API's host, a section header), is that service's credential when the value has the
 * service's shape: it is then reported under the provider's rule, with its severity and its
 * remediation. The shape is checked against the provider rule itself: the value is put into the
 * rule's own positive examples in place of their secret, and one of the rule's patterns must
 * report exactly it there. A value of another shape keeps the catch-all rule.
 */
import { providerKey, nameWords } from './naming.js';
import { renderTemplate, seededRandom } from './template.js';
import type { RuleSpec } from './spec.js';
import type { Severity } from '../types.js';

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, high: 1, medium: 2, low: 3 };
/** Only the nearest few services mentioned are tried: a page naming dozens names none of them. */
const MENTIONS_TRIED = 3;

/** A provider rule as the engine holds it: its spec, its patterns, its allow list. */
export interface PromotableRule {
  spec: RuleSpec;
  patterns: { regex: RegExp }[];
  allow: RegExp[];
}

/**
 * Provider names that are also everyday words (age, line, meta, square): their mention says
 * nothing about which service a nearby value belongs to. Named in the setting (LINE_CHANNEL_TOKEN)
 * they still count.
 */
const EVERYDAY_WORDS = new Set([
  'age', 'git', 'line', 'meta', 'square', 'linear', 'vault', 'notion', 'railway', 'harness', 'prefect', 'replicate',
  'generic', 'jwt', 'authorization', 'microsoft', 'java', 'python', 'node',
]);

/**
 * Technologies that every stack names (npm, redis, postgres, docker, maven), not services that
 * issue keys: MYSQL_ROOT_PASSWORD is a password, not a MySQL URI, and a file that runs `npm ci`
 * says nothing about its keys. Their own rules find their own formats.
 */
const TECHNOLOGIES = new Set([
  'ftp', 'smtp', 'jdbc', 'ldap', 'ldapactivedirectory', 'docker', 'dockerregistries', 'kubernetes', 'npm', 'redis',
  'mongodb', 'mysql', 'postgresql', 'postgres', 'microsoftsqlserver', 'rabbitmq', 'maven', 'gradle', 'gradlerepositories',
  'nuget', 'nugetfeeds', 'pypi', 'pypipythonpackageindexes', 'composer', 'composerphp', 'django', 'wireguard',
  'cryptographic', 'cryptographickey',
]);

/**
 * The catch-all rules whose value is tied to a service only by its setting or its surroundings.
 * Format rules (netrc, URLs with credentials, `docker login -p`) name the host themselves, and the
 * host's own rule reports a value of its shape there.
 */
const PROMOTED_FROM = new Set(['generic-api-key', 'generic-password', 'jwt', 'authorization-header']);

/**
 * The catch-all rule for a credential in a Jenkins credentials file: its value is named by the
 * credential's id or name (see elementNamed), not by a setting before it.
 */
const ELEMENT_NAMED = 'jenkins-credential';
/** How far before a Jenkins credential's value its `<id>` is looked for. */
const ELEMENT_BEFORE = 600;

/** Header names that the setting reader takes for a service's name ("Authorization: Bearer …"). */
const HEADER_NAMES = new Set(['authorization', 'proxyauthorization']);

/** How far around a value a mention of a service is taken as naming it. */
const MENTION_BEFORE = 1500;
const MENTION_AFTER = 300;

export class ProviderPromotion<R extends PromotableRule> {
  /** Provider rules by providerKey of their provider (and of its first part, "SendGrid (Twilio)"). */
  private readonly byProvider = new Map<string, R[]>();
  /** Per rule id, its positive examples cut around their secret: [before, after] pairs. */
  private readonly probes = new Map<string, [string, string][]>();
  /** Per rule id, its patterns as private copies: the engine's own keep scanning state in lastIndex. */
  private readonly copies = new Map<string, RegExp[]>();
  /**
   * Token prefixes (xai-, spu-, shippo_live_) with the provider rules whose tokens start with
   * them, by their first three characters: every catch-all match is looked up here.
   */
  private readonly prefixes = new Map<string, Map<string, R[]>>();
  /** Per provider key, the lengths and symbols of its rules' example keys (see shapeMismatch). */
  private readonly shapes = new Map<string, ExampleShapes>();
  /** Per rule id and token prefix, the lengths of its example tokens with that prefix (see offFixedLength). */
  private readonly tokenLengths = new Map<string, number[]>();
  /**
   * Names that settings give a provider besides its catalogue name (WANDB_API_KEY for Weights &
   * Biases, roninApiKey for Ronin App): its rules' keywords that are plain words, not token prefixes.
   */
  private readonly aliases = new Map<string, string>();

  /**
   * `accepts` is the engine's own test of a value for a rule (entropy, allow list, placeholders):
   * a value the rule would have dropped is not promoted to it either.
   */
  constructor(
    rules: readonly R[],
    private readonly accepts: (rule: R, secret: string) => boolean,
  ) {
    for (const rule of rules) {
      if (rule.spec.generic || rule.spec.identifier) continue;
      const keys = new Set([providerKey(rule.spec.provider), providerKey(rule.spec.provider.split(' (')[0]!)]);
      for (const key of keys) {
        if (key.length < 2) continue;
        const list = this.byProvider.get(key) ?? [];
        list.push(rule);
        this.byProvider.set(key, list);
      }
      for (const alias of nameKeywords(rule.spec)) if (!this.aliases.has(alias)) this.aliases.set(alias, providerKey(rule.spec.provider));
      for (const prefix of tokenPrefixes(rule.spec)) {
        const head = this.prefixes.get(prefix.slice(0, 3)) ?? new Map<string, R[]>();
        head.set(prefix, [...(head.get(prefix) ?? []), rule]);
        this.prefixes.set(prefix.slice(0, 3), head);
      }
    }
    // An alias that is itself a provider's name, or names no provider with rules, says nothing.
    for (const [alias, provider] of [...this.aliases]) if (this.byProvider.has(alias) || !this.byProvider.has(provider)) this.aliases.delete(alias);
    for (const list of this.byProvider.values()) {
      list.sort((a, b) => SEVERITY_RANK[a.spec.severity] - SEVERITY_RANK[b.spec.severity] || (a.spec.id < b.spec.id ? -1 : 1));
    }
  }

  /**
   * Whether a catch-all match's value is a provider's token (it starts with the token's prefix:
   * spu-, xai-) written in the wrong case, or with a stray letter or two in a body of hex digits:
   * a mangled copy of a known format, not a credential. A value of another length, or of a form
   * the rule does not know, is kept: rules lag behind providers' formats (a token grown by two
   * characters), and prefixes are shared (Segment's sgp_ is not Sourcegraph's).
   */
  misshapenToken(from: string, secret: string): boolean {
    if (!PROMOTED_FROM.has(from)) return false;
    const head = this.prefixes.get(secret.slice(0, 3).toLowerCase());
    if (head === undefined) return false;
    const lower = secret.toLowerCase();
    const claimed = [...head].filter(([prefix]) => lower.startsWith(prefix) && secret.length > prefix.length);
    const issuers = claimed.flatMap(([, rules]) => rules);
    if (issuers.length === 0 || issuers.some((rule) => this.fitsOwnExamples(rule, secret))) return false;
    // A hex body with a stray letter or two: a key typed by hand or made up, not a format the rule
    // has yet to learn (a new format would not be hex but for one letter).
    if (issuers.some((rule) => strayInHexBody(rule.spec, secret))) return true;
    if (this.offFixedLength(claimed, secret.length)) return true;
    const variants = [lower, secret.toUpperCase()].filter((variant) => variant !== secret);
    return issuers.some((rule) => variants.some((variant) => this.fitsOwnExamples(rule, variant)));
  }

  /**
   * Whether every issuer of the prefixes a value claims documents one fixed length for its tokens
   * (all its examples that start with the prefix are that long), and the value is one character
   * shorter or longer: a token with a character dropped or slipped in. Values farther off are
   * kept: formats grow, and an issuer's older or newer tokens may be much shorter or longer.
   */
  private offFixedLength(claimed: [string, R[]][], length: number): boolean {
    const lengths = new Set<number>();
    for (const [prefix, rules] of claimed) for (const rule of rules) for (const n of this.prefixedLengths(rule, prefix)) lengths.add(n);
    if (lengths.size !== 1) return false;
    const [fixed] = lengths;
    return Math.abs(length - fixed!) === 1;
  }

  /** The lengths of the rule's example tokens that start with `prefix`. */
  private prefixedLengths(rule: R, prefix: string): number[] {
    const key = `${rule.spec.id}\0${prefix}`;
    let lengths = this.tokenLengths.get(key);
    if (lengths === undefined) {
      const rand = seededRandom(0x5eed);
      lengths = [];
      for (const template of rule.spec.examples.positive) {
        const { secret } = renderTemplate(template, rand);
        if (secret !== null && secret.toLowerCase().startsWith(prefix)) lengths.push(secret.length);
      }
      this.tokenLengths.set(key, lengths);
    }
    return lengths;
  }

  /**
   * The provider rule that a match of catch-all rule `from` on `secret` belongs to, or null. `named` is the service its
   * setting names (null: none); `context` is the text around the value with the value at `at`.
   */
  ruleFor(from: string, secret: string, named: string | null, context: string, at: number): R | null {
    if (from === ELEMENT_NAMED) return this.elementNamed(secret, context, at);
    if (!PROMOTED_FROM.has(from)) return null;
    if (named !== null && !HEADER_NAMES.has(providerKey(named))) {
      // The setting names a service: the text around cannot name another one. The setting may
      // spell it longer than the catalogue does (mapboxgl.accessToken).
      const key = providerKey(named);
      return this.fitting(this.knownKey(key) ?? key, secret);
    }
    for (const key of this.mentionsNear(context, at, secret.length).slice(0, MENTIONS_TRIED)) {
      const rule = this.fitting(key, secret);
      if (rule !== null) return rule;
    }
    return null;
  }

  /**
   * The provider rule of a value in a Jenkins credentials file whose credential is named for a
   * service, or null: by the name written before its marker (`{anypoint AQAAABAAA …}`, as other
   * scanners' tests write it) or the credential's `<id>` (`<id>assemblyai</id>`), when the value
   * has that service's shape. The element itself (`<secret>`) says nothing about the service.
   */
  private elementNamed(secret: string, context: string, at: number): R | null {
    const before = context.slice(Math.max(0, at - ELEMENT_BEFORE), at);
    const names: string[] = [];
    const marker = /\{([A-Za-z0-9_.-]{1,40})[ \t]+AQAAABAAA[ \t]+$/.exec(before);
    if (marker !== null) names.push(marker[1]!);
    const ids = [...before.matchAll(/<id>([^<>]{1,200})<\/id>/g)];
    if (ids.length > 0) names.push(ids[ids.length - 1]![1]!);
    for (const name of names) {
      for (const m of name.matchAll(/[A-Za-z][A-Za-z0-9]*/g)) {
        const parts = nameWords(m[0]);
        for (const word of new Set([...parts, parts.join('')])) {
          const key = this.keyOfWord(word);
          const rule = key === null ? null : this.fitting(key, secret);
          if (rule !== null) return rule;
        }
      }
    }
    return null;
  }

  /**
   * Whether a catch-all key value is named for a provider whose keys all have another shape: its
   * setting names the provider, or the provider's name stands on the value's line or the line
   * before ("Sending request to the abyssale API" / "Using API_KEY=…"), and that provider's rules
   * are all of one documented shape (`soleShape`) that the value does not have. Such a value is a
   * mistyped, truncated or made-up key, or another identifier of that service, not a credential
   * the catch-all rule should report.
   */
  contradicts(from: string, secret: string, named: string | null, context: string, at: number): boolean {
    if (from !== 'generic-api-key') return false;
    const namedKey = named === null || HEADER_NAMES.has(providerKey(named)) ? null : providerKey(named);
    const known = namedKey === null ? null : this.knownKey(namedKey);
    // A setting naming a known service decides; one naming no known service ("Using API_KEY") leaves it to the lines.
    if (known !== null) return this.shapeMismatch(known, secret);
    const lineStart = context.lastIndexOf('\n', at - 1);
    const previousStart = lineStart <= 0 ? 0 : context.lastIndexOf('\n', lineStart - 1) + 1;
    for (const m of context.slice(previousStart, at).matchAll(/[A-Za-z][A-Za-z0-9]*/g)) {
      for (const word of new Set([...nameWords(m[0]), nameWords(m[0]).join('')])) {
        if (this.shapeMismatch(this.keyOfWord(word), secret)) return true;
      }
    }
    return false;
  }

  /**
   * Whether the provider is known, `secret` fits none of its rules whatever its case, and it is
   * none of the provider's keys:
   * - where its keys are hex: a hex body with a stray letter or two, or hex digits of a length
   *   none of its hex keys has;
   * - where it issues keys of its rules' shapes only (`soleShape`): a length or a symbol that no
   *   example key of the provider has;
   * - where the value starts with one of its token prefixes (claims its format): such a symbol, or
   *   a length shorter than all of its keys.
   * Other scanners' tables match many lower-case shapes case-insensitively, so a mixed-case value
   * of the right length and letters still counts.
   */
  private shapeMismatch(key: string | null, secret: string): boolean {
    if (key === null || TECHNOLOGIES.has(key) || EVERYDAY_WORDS.has(key)) return false;
    const rules = this.byProvider.get(key);
    if (rules === undefined) return false;
    if (![secret, secret.toLowerCase(), secret.toUpperCase()].every((value) => this.fitting(key, value) === null)) return false;
    if (rules.some((rule) => strayInHexBody(rule.spec, secret))) return true;
    if (rules.some((rule) => symbolInLayout(rule.spec, secret))) return true;
    // Hex digits only, of a length that none of the provider's hex keys has: a digest or a cut key.
    if (/^[0-9a-f]{16,}$/i.test(secret)) {
      const hexLengths = rules.flatMap((rule) => hexKeyLengths(rule.spec));
      if (hexLengths.length > 0 && !hexLengths.includes(secret.length)) return true;
    }
    const lower = secret.toLowerCase();
    const claims = rules.some((rule) => tokenPrefixes(rule.spec).some((prefix) => lower.startsWith(prefix)));
    if (!claims && !rules.every((rule) => rule.spec.soleShape)) return false;
    let shapes = this.shapes.get(key);
    if (shapes === undefined) this.shapes.set(key, (shapes = exampleShapes(rules)));
    const { lengths, symbols } = shapes;
    // A base64 key holds padding (=) that random examples seldom show, and may be written in
    // base64url (- and _ for + and /): the same key.
    const base64 = symbols.has('+') || symbols.has('/');
    const strange = [...secret].some((c) => !/[A-Za-z0-9]/.test(c) && !symbols.has(c) && !(base64 && BASE64_FAMILY.has(c)));
    // Other scanners read many of these keys with a wider alphabet than the documented one (any
    // letter where the table says hex): only a length or a symbol that no key of the provider
    // has shows the value is not one. Token formats grow (GitLab's glpat- took two more
    // characters), so a prefixed value of a hand-written rule's provider must be shorter than
    // every key of it.
    return strange || (claims ? secret.length < Math.min(...lengths) : !lengths.has(secret.length));
  }

  /**
   * Known providers that the text around the value at [at, at + length) names, nearest first. A
   * name counts where code or config names a service: a module or package (`require('razorpay')`,
   * `from clarifai.client`), a host (`api.datadoghq.com`), a section or class (`clarifai:`,
   * `ClarifaiStub(`), or a proper noun in prose (Datadog); a lower-case word in prose does not
   * ("the front segment of a box").
   */
  mentionsNear(context: string, at: number, length: number): string[] {
    const from = Math.max(0, at - MENTION_BEFORE);
    const text = context.slice(from, at + length + MENTION_AFTER);
    const found = new Map<string, number>();
    const words = [...text.matchAll(/[A-Za-z][A-Za-z0-9]*/g)];
    for (const [i, m] of words.entries()) {
      const start = from + m.index;
      // A word that the value itself holds is not a mention of anything.
      if (start >= at && start < at + length) continue;
      if (!namesSomething(text, m.index, m[0])) continue;
      const parts = nameWords(m[0]);
      const next = words[i + 1];
      const pair = next !== undefined && /^[ _-]$/.test(text.slice(m.index + m[0].length, next.index)) ? (m[0] + next[0]).toLowerCase() : '';
      const distance = Math.abs(start - at);
      for (const word of [...parts, parts.join(''), pair]) {
        const key = this.keyOfWord(word);
        if (key === null) continue;
        if (!found.has(key) || found.get(key)! > distance) found.set(key, distance);
      }
    }
    return [...found].sort((a, b) => a[1] - b[1]).map(([key]) => key);
  }

  /** The provider a word names: itself, or its start ("datadoghq", "clarifaistub"); null for none. */
  private keyOfWord(word: string): string | null {
    const mentionable = (key: string) => !EVERYDAY_WORDS.has(key) && !TECHNOLOGIES.has(key);
    if (word.length < 3) return null;
    if (this.byProvider.has(word)) return mentionable(word) ? word : null;
    const start = this.knownStart(word);
    return start !== null && mentionable(start) ? start : null;
  }

  /** The provider a setting's name names: a catalogue name, another name of one (wandb), or its start. */
  private knownKey(key: string): string | null {
    return this.byProvider.has(key) ? key : (this.aliases.get(key) ?? this.knownStart(key));
  }

  /** The longest known provider of five or more letters that `word` starts with ("datadoghq"). */
  private knownStart(word: string): string | null {
    for (let end = word.length - 1; end >= 5; end--) if (this.byProvider.has(word.slice(0, end))) return word.slice(0, end);
    return null;
  }

  /** The first of the provider's rules (most severe first) that reports `secret` in its own examples. */
  private fitting(key: string, secret: string): R | null {
    const rules = this.byProvider.get(key);
    if (rules === undefined || TECHNOLOGIES.has(key)) return null;
    for (const rule of rules) if (this.fitsOwnExamples(rule, secret)) return rule;
    return null;
  }

  /** Whether the rule takes `secret` and one of its patterns reports it in one of the rule's own examples. */
  private fitsOwnExamples(rule: R, secret: string): boolean {
    if (!this.accepts(rule, secret)) return false;
    const patterns = this.patternsOf(rule);
    return this.probesOf(rule.spec).some(([before, after]) => reports(patterns, before + secret + after, before.length, secret));
  }

  private patternsOf(rule: R): RegExp[] {
    let list = this.copies.get(rule.spec.id);
    if (list === undefined) {
      list = rule.patterns.map(({ regex }) => new RegExp(regex.source, regex.flags.replace(/[gyd]/g, '') + 'gd'));
      this.copies.set(rule.spec.id, list);
    }
    return list;
  }

  private probesOf(spec: RuleSpec): [string, string][] {
    let probes = this.probes.get(spec.id);
    if (probes === undefined) {
      // A fixed seed: the same probes in every worker and every run.
      const rand = seededRandom(0x5eed);
      probes = [];
      for (const template of spec.examples.positive) {
        const { text, secret } = renderTemplate(template, rand);
        if (secret === null) continue;
        const at = text.indexOf(secret);
        probes.push([text.slice(0, at), text.slice(at + secret.length)]);
      }
      this.probes.set(spec.id, probes);
    }
    return probes;
  }
}

/**
 * The keywords of a rule that are the start of its tokens: ending in -, _ or & (git&) after three or more
 * characters, and how the secret of at least one of its positive examples begins (the example
 * templates are read as text: `[[xai-{{alnum:80}}]]` begins with xai-).
 */
function tokenPrefixes(spec: RuleSpec): string[] {
  const starts = spec.examples.positive.map((e) => /\[\[([^{\]]*)/.exec(e)?.[1]?.toLowerCase() ?? '');
  return spec.keywords
    .map((k) => k.toLowerCase())
    .filter((k) => /^[a-z0-9][a-z0-9_.-]{2,}[-_&]$/.test(k) && !WORD_PREFIXES.has(k.slice(0, -1)) && starts.some((s) => s.startsWith(k)));
}

/**
 * The keywords of a rule that name its provider another way (wandb for Weights & Biases): plain
 * words of four or more letters, no credential word, and not how an example's secret begins
 * (AKIA) unless a separator follows them there (wandb_v1_).
 */
function nameKeywords(spec: RuleSpec): string[] {
  const starts = spec.examples.positive.map((e) => /\[\[([^{\]]*)/.exec(e)?.[1]?.toLowerCase() ?? '');
  return spec.keywords
    .map((k) => k.toLowerCase())
    .filter((k) => /^[a-z]{4,}$/.test(k) && !/key|token|secret|pass|auth|cred|bearer|access/.test(k))
    .filter((k) => !EVERYDAY_WORDS.has(k) && !TECHNOLOGIES.has(k) && !starts.some((s) => s !== '' && (isTokenStart(s, k) || k.startsWith(s))));
}

/** Whether the example secret's literal start `start` is the keyword run on into the token (AKIA…, not wandb_…). */
function isTokenStart(start: string, keyword: string): boolean {
  return start.startsWith(keyword) && !/[_.-]/.test(start.charAt(keyword.length));
}

/**
 * Whether `secret` is one of the rule's hex keys (its example secrets: a literal prefix, then hex
 * digits only) with a stray letter or two in the hex: random keys of a wider alphabet hold many
 * such letters, a key typed by hand or a mangled copy one or two.
 */
function strayInHexBody(spec: RuleSpec, secret: string): boolean {
  const lower = secret.toLowerCase();
  for (const example of spec.examples.positive) {
    const m = /^([^{]*)((?:\{\{(?:hex|HEX):\d+\}\}-?)+)$/.exec(markedSecret(example));
    if (m === null || !lower.startsWith(m[1]!.toLowerCase())) continue;
    const body = secret.slice(m[1]!.length);
    const stray = body.replace(/[0-9a-fA-F-]/g, '').length;
    if (body.length >= 16 && stray >= 1 && stray <= 2) return true;
  }
  return false;
}

/**
 * Whether `secret` is laid out as one of the rule's example keys (its length, and the separators
 * the key format puts at fixed places: the . of Airtable's pat….…) with a stray symbol or two in
 * a body of hex digits: a key with a character typed over. A body of other letters is another
 * scanner's wider alphabet, not a typo, and is left alone.
 */
function symbolInLayout(spec: RuleSpec, secret: string): boolean {
  for (const example of spec.examples.positive) {
    const parts = [...markedSecret(example).matchAll(/\{\{(\w+)(?::(\d+))?\}\}|[^{]+|\{/g)];
    let at = 0;
    let separators = 0;
    let strays = 0;
    let fits = true;
    for (const part of parts) {
      const [whole, cls, size] = part;
      const length = cls === undefined ? whole.length : cls === 'uuid' ? 36 : Number(size ?? NaN);
      if (!Number.isFinite(length)) fits = false;
      const body = secret.slice(at, at + length);
      if (cls === undefined) {
        // Literal text: its letters may differ (another product's prefix); its separators may not.
        for (let i = 0; i < whole.length && fits; i++) if (!/[A-Za-z0-9]/.test(whole[i]!)) fits = body[i] === whole[i];
        separators += whole.replace(/[A-Za-z0-9]/g, '').length;
      } else if (cls === 'hex' || cls === 'HEX') {
        const stray = body.replace(/[0-9a-fA-F]/g, '');
        if (/[A-Za-z0-9]/.test(stray)) fits = false;
        strays += stray.length;
      }
      at += length;
      if (!fits) break;
    }
    if (fits && at === secret.length && separators > 0 && strays >= 1 && strays <= 2) return true;
  }
  return false;
}

/** The template of an example's secret: what stands between [[ and ]] ('' for none). */
function markedSecret(example: string): string {
  const at = example.indexOf('[[');
  const end = at === -1 ? -1 : example.indexOf(']]', at + 2);
  return end === -1 ? '' : example.slice(at + 2, end);
}

/** The lengths of the rule's example keys that are hex digits and nothing else. */
function hexKeyLengths(spec: RuleSpec): number[] {
  const lengths: number[] = [];
  for (const example of spec.examples.positive) {
    const m = /^\{\{(?:hex|HEX):(\d+)\}\}$/.exec(markedSecret(example));
    if (m !== null) lengths.push(Number(m[1]));
  }
  return lengths;
}

/** Prefixes that are everyday words: other services' keys and people's passwords start with them too. */
const WORD_PREFIXES = new Set(['api', 'sdk', 'key', 'secret', 'live', 'test', 'token', 'access', 'admin']);

/** Whether one of the rule's patterns reports exactly `secret` at `at` in `text`. */
function reports(patterns: readonly RegExp[], text: string, at: number, secret: string): boolean {
  for (const pattern of patterns) {
    pattern.lastIndex = 0;
    for (const m of text.matchAll(pattern)) {
      const span = m.indices?.groups?.secret;
      if (span && span[0] === at && m.groups!.secret === secret) return true;
    }
  }
  return false;
}

/**
 * Whether `word` at `index` of `text` is written as a name: touching code punctuation (a quote, a
 * dot, a slash, @, a colon, a bracket), or capitalised inside a line or sentence (a proper noun, a
 * class after `new`); a capital that only starts a line or a sentence says nothing.
 */
function namesSomething(text: string, index: number, word: string): boolean {
  const before = text[index - 1] ?? '\n';
  const after = text[index + word.length] ?? '\n';
  if (/["'`./@[<(:=-]/.test(before) || /["'`./:([\]>_-]/.test(after)) return true;
  if (!/^[A-Z]/.test(word)) return false;
  // The character before it, past spaces and tabs (a loop: an anchored regex would backtrack).
  let i = index - 1;
  while (i >= 0 && (text[i] === ' ' || text[i] === '\t')) i--;
  if (i >= 0 && !'.!?#*>|\r\n'.includes(text[i]!)) return true;
  return headsConfigComment(text, index, word);
}

/** A comment's first word followed, on its line, by what the comment heads: "# Abuseipdb Secret Configuration File". */
const CONFIG_HEADING = /^[ \t]+(?:[A-Za-z]+[ \t]+){0,2}(?:config(?:uration)?|settings|credentials|secrets|keys|account|environment)\b/i;

/**
 * Whether `word` at `index` opens a comment line (`#`, `//`, `;`, `--`) that heads a block of
 * settings: the service whose configuration follows. The capital of any other line-opening word
 * says nothing ("# Note: …").
 */
function headsConfigComment(text: string, index: number, word: string): boolean {
  const lineStart = text.lastIndexOf('\n', index - 1) + 1;
  if (!/^[ \t]*(?:#+|\/\/+|;+|--)[ \t]*$/.test(text.slice(lineStart, index))) return false;
  return CONFIG_HEADING.test(text.slice(index + word.length, index + word.length + 80));
}

interface ExampleShapes {
  lengths: Set<number>;
  symbols: Set<string>;
}

/** The lengths of the rules' example keys and the symbols (not letters or digits) they hold. */
const BASE64_FAMILY = new Set(['=', '-', '_']);

function exampleShapes(rules: readonly PromotableRule[]): ExampleShapes {
  const lengths = new Set<number>();
  const symbols = new Set<string>();
  for (const rule of rules) {
    const rand = seededRandom(0x5eed);
    for (const template of rule.spec.examples.positive) {
      const { secret } = renderTemplate(template, rand);
      if (secret === null) continue;
      lengths.add(secret.length);
      for (const c of secret) if (!/[A-Za-z0-9]/.test(c)) symbols.add(c);
    }
  }
  return { lengths, symbols };
}
