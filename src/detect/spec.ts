// The detector catalogue's data shapes, shared by the loader (rules.ts), the compiled catalogue
// (catalogue.ts) and the engine: kept apart so none of those modules imports another for a type.
import type { Severity } from '../types.js';
import type { KeywordAnchor } from './extent.js';

/**
 * Rules and their plans as a pool or the layer workers take them: a list, or a RuleSet whose
 * rules are read only once something is detected (loadRuleSet; see catalogue.ts).
 */
export interface RuleSource {
  readonly rules: readonly RuleSpec[];
  readonly plan?: PatternPlan[][];
}

/** `rules` with `plan` as a RuleSource, or `rules` itself when it is one. */
export function ruleSource(rules: readonly RuleSpec[] | RuleSource, plan?: PatternPlan[][]): RuleSource {
  return isRuleList(rules) ? { rules, plan } : rules;
}

function isRuleList(rules: readonly RuleSpec[] | RuleSource): rules is readonly RuleSpec[] {
  return Array.isArray(rules);
}

/** What a report and attribution need of a rule: no patterns (see RuleSet.info). */
export type RuleInfo = Pick<RuleSpec, 'id' | 'title' | 'provider' | 'severity' | 'generic' | 'overrides' | 'pair' | 'identifier' | 'remediation' | 'url'>;

/** A rule's RuleInfo, field by field (the compiled catalogue keeps these apart from the patterns). */
export function ruleInfo(rule: RuleInfo): RuleInfo {
  const { id, title, provider, severity, generic, overrides, pair, identifier, remediation, url } = rule;
  return { id, title, provider, severity, generic, overrides, pair, identifier, remediation, url };
}

/** A detector as written in `detectors/<id>.yaml`: plain data, validated on load. */
export interface RuleSpec {
  id: string;
  title: string;
  provider: string;
  severity: Severity;
  keywords: string[];
  patterns: { regex: string; flags: string }[];
  entropy: number | null;
  generic: boolean;
  /** Rules this one beats when both report the same value (e.g. a service-account rule over private-key). */
  overrides: string[];
  /**
   * The rule finding the identifier this secret is used with (an AWS key id for a secret key, a
   * Twilio account SID for an auth token): the nearest such match in the same file is reported
   * with the secret as one pair.
   */
  pair: string | null;
  /** An identifier, not a secret: reported only as the partner of a secret, never on its own. */
  identifier: boolean;
  /**
   * The provider issues keys of this one shape only (the generated long-tail rules): a catch-all
   * key value named for this provider that has another shape is not one of its keys.
   */
  soleShape: boolean;
  /**
   * The pattern finds the value in a credential's own syntax (a connection string's Password= key,
   * a URI's user:password@, `-p` after `psexec -u`): a password built from stand-in words there
   * ("secret", "myPassword", "P@ssw0rd1") was set by someone and is reported; only a bare word
   * ("password", "changeme") or one addressing the reader ("yourStrong(!)Password") is a stand-in.
   */
  credentialContext: boolean;
  allow: string[];
  remediation: string;
  url: string | null;
  examples: { positive: string[]; negative: string[] };
}

/** What the engine derives from one pattern's source: plain data, so it can go to the workers. */
export interface PatternPlan {
  anchor: KeywordAnchor | null;
  /**
   * When `anchor` is none: the same kind of anchor on words of the rule's keywords ("twine" of
   * "twine upload"), found by the prefilter like keywords but only ever used once one of the
   * rule's own keywords occurs in the buffer. Absent in plans made before it existed.
   */
  needle?: KeywordAnchor | null;
  /** maxExtent counting negative lookarounds that hold assertions: what a cut text must hold. */
  margin: number;
  /** maxExtent counting every negative lookaround. */
  strict: number;
  /** What a match examines on each side of its start, every lookaround counted (see reachOf). */
  reach: { behind: number; ahead: number };
  /** When `anchor` has lead 0: the exact text every match starts with (see literalStarts). */
  starts?: string[] | null;
}
