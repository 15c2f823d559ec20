import { aws } from './providers/aws.js';
import { clarifai } from './providers/clarifai.js';
import { github } from './providers/github.js';
import { gitlab } from './providers/gitlab.js';
import { slack } from './providers/slack.js';
import { stripe } from './providers/stripe.js';
import { openai } from './providers/openai.js';
import { anthropic } from './providers/anthropic.js';
import { huggingface } from './providers/huggingface.js';
import { npm } from './providers/npm.js';
import { sendgrid } from './providers/sendgrid.js';
import { twilio } from './providers/twilio.js';
import { mailgun } from './providers/mailgun.js';
import { datadog } from './providers/datadog.js';
import { google } from './providers/google.js';
import type { Verifier } from './types.js';

/** Every live check, one per provider. */
export const VERIFIERS: readonly Verifier[] = [
  clarifai, aws, github, gitlab, slack, stripe, openai, anthropic, huggingface, npm, sendgrid, twilio, mailgun, datadog, google,
];

const byRule = new Map(VERIFIERS.flatMap((v) => v.rules.map((r) => [r, v] as const)));

/** The verifier for a rule, or undefined for rules with no live check. */
export function verifierFor(ruleId: string): Verifier | undefined {
  return byRule.get(ruleId);
}
