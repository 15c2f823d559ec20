import type { ScanReport } from '../../src/types.js';

/**
 * A fixed, hand-built report for the reporters' golden files: no scan, no randomness. Every
 * redacted value and hash is obviously fake (FAKE..., sha256:000…) but shaped like the real thing.
 */
const H = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const D = (c: string) => `sha256:${c.repeat(64)}`;

const layers = [
  { index: 0, diffId: D('a'), digest: D('1'), createdBy: '/bin/sh -c #(nop) ADD file:base in / ', size: 1024, base: true },
  { index: 1, diffId: D('b'), digest: D('2'), createdBy: '/bin/sh -c #(nop) COPY file:11 in /srv/app/.env ', size: 2048 },
  { index: 2, diffId: D('c'), digest: D('3'), createdBy: '/bin/sh -c rm /srv/app/.env', size: 512 },
  { index: 3, diffId: D('d'), digest: D('4'), createdBy: '|1 GH_PAT=github_pat_FA***************** /bin/sh -c echo "$GH_PAT" > /root/.pat', size: 700 },
  { index: 4, diffId: D('e'), digest: D('5'), createdBy: '/bin/sh -c #(nop) COPY dir:22 in /srv/app/ ', size: 4096 },
];
const ref = (i: number) => ({ index: i, diffId: layers[i]!.diffId, createdBy: layers[i]!.createdBy, ...(layers[i]!.base ? { base: true } : {}) });

export const goldenReport: ScanReport = {
  schemaVersion: 1,
  tool: { name: 'stratascan', version: '0.0.0-golden' },
  target: 'golden.tar',
  image: { format: 'oci-archive', reference: 'example.com/golden:1', digest: D('f'), platform: 'linux/amd64', layers },
  findings: [
    {
      ruleId: 'github-token', title: 'GitHub token (personal, OAuth, app or refresh)', severity: 'critical', source: 'env',
      layer: null, path: null, line: null, column: null, key: 'GH_OAUTH', inFinalImage: true, removedBy: null, pairedWith: null,
      redacted: 'gho_FA************', secretHash: H(1),
      alsoIn: [{ source: 'history', layerIndex: null, path: null, line: null, column: null, key: 'history[5]', inFinalImage: true }],
      remediation: 'Revoke the token at once (Settings > Developer settings > Personal access tokens, or the OAuth app), create a new one with the least scope, and give it to the container at run time.',
      url: 'https://github.com/settings/tokens',
    },
    {
      ruleId: 'clarifai-api-key', title: 'Clarifai API key or personal access token', severity: 'critical', source: 'label',
      layer: null, path: null, line: null, column: null, key: 'com.example.clarifai,key:1', inFinalImage: true, removedBy: null, pairedWith: null,
      redacted: 'FAKE************', secretHash: H(2), alsoIn: [],
      remediation: "Treat the key as compromised: delete it in the Clarifai portal (Settings > Security, API keys / personal access tokens), create a new one with only the scopes the app needs, store it in a secret manager or a runtime environment variable (never in the image), redeploy, and review the account's usage for calls you did not make.",
      url: 'https://clarifai.com/settings/security',
    },
    {
      ruleId: 'private-key', title: 'Private key (PEM)', severity: 'high', source: 'file',
      layer: ref(0), path: '/etc/ssl/private/base.key', line: 1, column: 1, inFinalImage: true, removedBy: null, pairedWith: null, key: null,
      redacted: '-----BEGIN RSA PRIVATE KEY-----FA************', secretHash: H(3), alsoIn: [],
      remediation: 'Replace the key pair: revoke any certificate issued for it, generate a new key outside the image and mount it at run time.',
      url: null,
    },
    {
      ruleId: 'aws-secret-access-key', title: 'AWS secret access key', severity: 'critical', source: 'file',
      layer: ref(1), path: '/srv/app/.env', line: 3, column: 23, key: null, inFinalImage: false,
      removedBy: { index: 2, createdBy: layers[2]!.createdBy },
      pairedWith: { ruleId: 'aws-access-key-id', title: 'AWS access key ID', redacted: 'AKIA************', secretHash: H(9), line: 2, key: null },
      redacted: 'FAKEab************', secretHash: H(4),
      alsoIn: [{ source: 'file', layerIndex: 4, path: '/srv/app/backup/aws.env', line: 1, column: 4, key: null, inFinalImage: true }],
      remediation: 'Deactivate and delete the key pair in IAM at once (Users > Security credentials), then check CloudTrail for activity with its access key ID.',
      url: 'https://console.aws.amazon.com/iam/home#/security_credentials',
    },
    {
      ruleId: 'github-fine-grained-pat', title: 'GitHub fine-grained personal access token', severity: 'critical', source: 'history',
      layer: ref(3), path: null, line: null, column: null, key: 'history[3]', inFinalImage: true, removedBy: null, pairedWith: null,
      redacted: 'github_pat_FA*****************', secretHash: H(5),
      alsoIn: [{ source: 'file', layerIndex: 3, path: '/root/.pat', line: 1, column: 1, key: null, inFinalImage: true }],
      remediation: 'Revoke the token under Settings > Developer settings > Fine-grained tokens and pass build secrets with BuildKit secret mounts.',
      url: 'https://github.com/settings/personal-access-tokens',
    },
    {
      ruleId: 'aws-access-key-id', title: 'AWS access key ID', severity: 'medium', source: 'file',
      layer: ref(4), path: '/srv/app/odd,name:100%.cfg', line: 7, column: 10, key: null, inFinalImage: true, removedBy: null, pairedWith: null,
      redacted: 'AKIAFA************', secretHash: H(6), alsoIn: [],
      remediation: 'Deactivate the key in IAM and move the workload to a role.',
      url: 'https://console.aws.amazon.com/iam/home#/security_credentials',
    },
  ],
  stats: { layers: 5, files: 42, bytes: 123456, durationMs: 1234, skipped: { binary: 2 } },
};

/** The fixed time stamped into time-dependent formats (GitLab's scan.start_time/end_time). */
export const GOLDEN_NOW = new Date('2024-01-02T03:04:05Z');

/** The golden report as a `--verify` scan returns it: a live Clarifai key, a revoked AWS pair, the rest unknown. */
export const verifiedGoldenReport: ScanReport = {
  ...goldenReport,
  findings: goldenReport.findings.map((f) => ({
    ...f,
    verification: f.ruleId === 'clarifai-api-key'
      ? { status: 'valid' as const, detail: 'Clarifai accepted it (HTTP 200)' }
      : f.ruleId === 'aws-secret-access-key'
        ? { status: 'invalid' as const, detail: 'AWS STS rejected the key pair (InvalidClientTokenId)' }
        : f.ruleId === 'private-key' || f.ruleId === 'aws-access-key-id'
          ? { status: 'unknown' as const, detail: 'no live check exists for this kind of secret' }
          : { status: 'unknown' as const, detail: 'api.github.com is rate limiting (HTTP 429): try again later' },
  })),
};
