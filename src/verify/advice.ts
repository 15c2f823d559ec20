import type { Finding } from '../types.js';

/**
 * What to do first about a key the provider still accepts: it is an incident, not cleanup.
 * Null unless the finding was verified `valid`. Clarifai's steps follow the provider's own
 * portal layout (a PAT lives under Settings > Security, an app key in its app's settings).
 */
export function liveAdvice(f: Pick<Finding, 'ruleId' | 'url' | 'verification'>): string | null {
  if (f.verification?.status !== 'valid') return null;
  if (f.ruleId === 'clarifai-api-key') {
    return 'LIVE: this Clarifai key still works. Revoke it now in the Clarifai portal (a personal access token under ' +
      'Settings > Security; an app-specific key in that app\'s Settings > API Keys), create a replacement with only ' +
      'the scopes the app needs, inject it at run time (secret manager or orchestrator environment, never the image), ' +
      'and review the account\'s usage for calls you did not make.';
  }
  return `LIVE: the provider still accepts this secret. Revoke it now${f.url ? ` (${f.url})` : ''}, create a ` +
    'replacement with the least scope, inject it at run time, and review the provider\'s logs for use you did not make.';
}
