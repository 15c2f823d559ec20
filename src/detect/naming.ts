/**
 * Which service a catch-all finding belongs to, read from the setting's name: `ZENDESK_API_KEY`,
 * `zendeskToken`, `<zendesk-secret>`, `System.setProperty("ZENDESK_TOKEN", …)` all name Zendesk.
 * The rule stays the generic one (its id, severity and remediation are unchanged); the name is
 * reported beside it so the owner knows where to revoke, without a rule per service.
 */

/** Words that carry the credential, not the service. */
const CREDENTIAL = new Set([
  'api', 'apikey', 'key', 'keys', 'token', 'tokens', 'secret', 'secrets', 'credential', 'credentials', 'creds', 'cred',
  'password', 'passwd', 'passphrase', 'pass', 'pwd', 'pat', 'auth', 'access', 'bearer', 'oauth', 'oauth2', 'refresh',
  'client', 'private', 'personal', 'signing', 'webhook', 'hook', 'master', 'admin', 'root', 'rest', 'http', 'https',
  'value', 'string', 'str', 'id', 'sk', 'pk',
]);

/**
 * Words that name no service: scopes, environments, roles and the plumbing around a setting. A
 * name made only of these and credential words names nothing.
 */
const NOT_A_SERVICE = new Set([
  'my', 'the', 'our', 'your', 'guest', 'demo', 'app', 'application', 'apps', 'account', 'service', 'services', 'svc', 'server', 'backend',
  'frontend', 'web', 'site', 'mobile', 'internal', 'external', 'partner', 'vendor', 'third', 'party', 'default', 'main',
  'primary', 'secondary', 'backup', 'old', 'new', 'current', 'legacy', 'global', 'local', 'remote', 'shared', 'common',
  'prod', 'production', 'dev', 'develop', 'development', 'staging', 'stage', 'test', 'testing', 'qa', 'uat', 'live',
  'sandbox', 'env', 'environment', 'config', 'configuration', 'conf', 'cfg', 'settings', 'setting', 'options', 'opts',
  'var', 'val', 'let', 'const', 'static', 'final', 'public', 'readonly', 'string', 'process', 'os', 'system', 'sys',
  'getenv', 'setenv', 'putenv', 'define', 'set', 'get', 'put', 'property', 'properties', 'user', 'users', 'username',
  'db', 'database', 'sql', 'data', 'session', 'cookie', 'encryption', 'encrypt', 'decrypt', 'cipher', 'crypto', 'hash',
  'salt', 'hmac', 'jwt', 'sign', 'signature', 'verify', 'verification', 'upload', 'download', 'read', 'write', 'rw',
  'ro', 'integration', 'integrations', 'provider', 'providers', 'generic', 'some', 'other', 'this', 'self', 'todo',
  'do', 'not', 'commit', 'for', 'of', 'to', 'with', 'and', 'or', 'in', 'on', 'at', 'by', 'from', 'x', 'custom', 'base',
  'root', 'master', 'slave', 'node', 'cluster', 'host', 'url', 'uri', 'endpoint', 'header', 'headers', 'request',
  'response', 'mail', 'email', 'smtp', 'ftp', 'ssh', 'ssl', 'tls', 'cert', 'certificate', 'license', 'registry',
  'repo', 'repository', 'deploy', 'deployment', 'release', 'build', 'ci', 'cd', 'bot', 'chat', 'payment', 'payments',
  'storage', 'bucket', 'queue', 'cache', 'search', 'analytics', 'tracking', 'monitoring', 'logging', 'log', 'logs',
  'metrics', 'maps', 'map', 'geo', 'weather', 'news', 'sms', 'push', 'notification', 'notifications',
]);

/** The identifier that ends right before the value: the last name-like run in the text before it. */
const NAME = /[A-Za-z_$][A-Za-z0-9_.\-$:]*/g;

/** Splits `ZENDESK_API_KEY`, `zendeskApiKey`, `zendesk.api-key`, `$env:ZENDESK_TOKEN` into lower-case words. */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z])(?=[A-Z][a-z])/g, '$1 ')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== '')
    .map((w) => w.toLowerCase());
}

/**
 * The service a setting name points at, or null. `known` maps lower-case alphanumeric provider
 * names of the catalogue's rules to their spelling (sendgrid → SendGrid), so a named service that
 * has a rule is spelt as that rule spells it; others are capitalised as written.
 */
export function serviceOfName(name: string, known: ReadonlyMap<string, string>): string | null {
  const words = withoutBuildPrefix(nameWords(name));
  // Only a setting for a credential names the service it is for.
  if (!words.some((w) => CREDENTIAL.has(w))) return null;
  for (const [i, word] of words.entries()) {
    // Two-word services (new relic, hugging face) as the catalogue spells them.
    const joined = known.get(word + (words[i + 1] ?? ''));
    if (joined !== undefined && i + 1 < words.length) return joined;
    if (CREDENTIAL.has(word) || NOT_A_SERVICE.has(word)) continue;
    // Versions, numbers and two-letter fragments are not names.
    if (!/^[a-z][a-z0-9]{2,}$/.test(word) || /^v[0-9]+$/.test(word)) continue;
    return known.get(word) ?? word.charAt(0).toUpperCase() + word.slice(1);
  }
  return null;
}

/**
 * The prefixes that frontend build tools copy into the bundle (REACT_APP_, VITE_, NEXT_PUBLIC_, …):
 * they name the framework, not the service the setting is for (REACT_APP_SIRV_API_KEY is Sirv's).
 */
const BUILD_PREFIXES = [['react', 'app'], ['vue', 'app'], ['next', 'public'], ['nuxt', 'public'], ['expo', 'public'], ['vite'], ['gatsby']];

function withoutBuildPrefix(words: string[]): string[] {
  const prefix = BUILD_PREFIXES.find((p) => words.length > p.length && p.every((w, i) => words[i] === w));
  return prefix === undefined ? words : words.slice(prefix.length);
}

/** The setting's name in the text before a value (`before` ends where the value starts), and its service. */
export function serviceBefore(before: string, known: ReadonlyMap<string, string>): string | null {
  // A name runs up to the value through at most an operator, quotes, a type and a few spaces.
  const text = before.slice(-160);
  const names = [...text.matchAll(NAME)];
  for (let i = names.length - 1; i >= Math.max(0, names.length - 3); i--) {
    const name = trimPunctuation(names[i]![0]);
    const service = serviceOfName(name, known);
    if (service !== null) return service;
    if (!nameWords(name).some((w) => CREDENTIAL.has(w))) continue;
    // The nearest name holding a credential word is the setting. It names nothing by itself, but
    // the word just before it on the line may: "zendesk token: …", "Clarifai API key …".
    const previous = names[i - 1];
    if (previous && /^[ \t]{1,2}$/.test(text.slice(previous.index + previous[0].length, names[i]!.index))) {
      return serviceOfName(`${trimPunctuation(previous[0])}_${name}`, known);
    }
    return null;
  }
  return null;
}

/** `zendesk.` or `$env:` minus the punctuation at its end (a loop: an anchored regex would backtrack). */
function trimPunctuation(name: string): string {
  let end = name.length;
  while (end > 0 && '.-$:'.includes(name[end - 1]!)) end--;
  return name.slice(0, end);
}

/** Lower-case letters and digits: how provider names are compared. */
export function providerKey(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}
