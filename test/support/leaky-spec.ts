import { renderTemplate, seededRandom, fakePem } from '../../src/detect/template.js';
import { secretHash } from '../../src/attribute.js';

/** Fake secrets in real formats, made fresh from a seed each run. */
export function makeSecrets(seed: number) {
  const rand = seededRandom(seed);
  const gen = (t: string) => renderTemplate(t, rand).text;
  return {
    awsKeyId: gen('AKIA{{base32:16}}'),
    awsSecret: gen('{{b64:40}}'),
    rsa: fakePem(rand, 'RSA PRIVATE KEY', 10),
    ghConfig: gen('ghp_{{alnum:36}}'),
    ghEnv: gen('gho_{{alnum:36}}'),
    ghArg: gen('github_pat_{{alnum:22}}_{{alnum:59}}'),
    clarifaiLabel: gen('{{hex:32}}'),
    clarifaiFile: gen('{{hex:32}}'),
    opaqueToken: gen('ghs_{{alnum:36}}'),
    replacement: gen('ghu_{{alnum:36}}'),
  };
}
export type Secrets = ReturnType<typeof makeSecrets>;

export interface Expected {
  name: keyof Secrets;
  ruleId: string;
  source: string;
  layer: number | null;
  path: string | null;
  line: number | null;
  key: string | null;
  inFinalImage: boolean;
  removedBy: number | null;
  alsoIn: number;
}

/** The image the attribution tests scan: every way a secret can be added, hidden or duplicated. */
export function leakySpec(s: Secrets) {
  const binary = Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01\x00', 'latin1'), Buffer.alloc(64), Buffer.from(`token=${s.ghConfig}`)]);
  const steps = [
    { createdBy: '/bin/sh -c #(nop) ADD file:0a1b2c in / ', files: [
      { path: '/etc', type: 'dir' as const },
      { path: '/etc/os-release', content: 'NAME="Fixture Linux"\nID=fixture\n' },
      { path: '/bin/tool', content: binary },
    ] },
    { createdBy: '/bin/sh -c #(nop) COPY file:11 in /srv/app/.env ', files: [
      { path: '/srv/app/.env', content: `# settings\nAWS_ACCESS_KEY_ID=${s.awsKeyId}\nAWS_SECRET_ACCESS_KEY=${s.awsSecret}\n` },
      { path: '/srv/app/.env.bak', type: 'hardlink' as const, linkname: '/srv/app/.env' },
    ] },
    { createdBy: '/bin/sh -c rm /srv/app/.env /srv/app/.env.bak', files: [
      { path: '/srv/app/.env', type: 'whiteout' as const },
      { path: '/srv/app/.env.bak', type: 'whiteout' as const },
    ] },
    { createdBy: '/bin/sh -c #(nop) COPY file:22 in /root/.ssh/id_rsa ', files: [{ path: '/root/.ssh/id_rsa', content: `${s.rsa}\n` }] },
    { createdBy: '/bin/sh -c rm -rf /root/.ssh', files: [{ path: '/root/.ssh', type: 'whiteout' as const }] },
    { createdBy: '/bin/sh -c #(nop) COPY file:33 in /etc/app/config.yml ', files: [{ path: '/etc/app/config.yml', content: `app:\n  name: demo\n  github_token: ${s.ghConfig}\n` }] },
    { createdBy: '/bin/sh -c echo "github_token: none" > /etc/app/config.yml', files: [{ path: '/etc/app/config.yml', content: 'github_token: none\n' }] },
    { createdBy: '/bin/sh -c #(nop) ENV GH_OAUTH=' + s.ghEnv },
    { createdBy: '/bin/sh -c #(nop) LABEL com.example.clarifai-key=' + s.clarifaiLabel },
    { createdBy: '/bin/sh -c #(nop) ARG GH_PAT' },
    { createdBy: `|1 GH_PAT=${s.ghArg} /bin/sh -c echo "$GH_PAT" > /root/.pat`, files: [{ path: '/root/.pat', content: `${s.ghArg}\n` }] },
    { createdBy: '/bin/sh -c mkdir -p /opt/data && echo token > /opt/data/t', files: [
      { path: '/opt/data', type: 'dir' as const },
      { path: '/opt/data/creds', content: `token: ${s.opaqueToken}\n` },
    ] },
    { createdBy: '/bin/sh -c rm -rf /opt/data && mkdir /opt/data', files: [
      { path: '/opt/data', type: 'dir' as const },
      { path: '/opt/data', type: 'opaque' as const },
      { path: '/opt/data/readme', content: 'nothing here\n' },
    ] },
    { createdBy: '/bin/sh -c cp /etc/os-release /backup && echo ...', files: [
      { path: '/backup/aws.env', content: `id=${s.awsKeyId}\n` },
      { path: '/opt/clarifai.cfg', content: `[auth]\nclarifai_api_key = ${s.clarifaiFile}\n` },
      { path: '/etc/app/config.yml', content: `github_token: ${s.replacement}\n` },
    ] },
  ];
  const spec = {
    steps,
    env: ['PATH=/usr/bin:/bin', `GH_OAUTH=${s.ghEnv}`],
    labels: { 'com.example.clarifai-key': s.clarifaiLabel, 'org.opencontainers.image.title': 'leaky' },
    cmd: ['/bin/sh'],
  };
  // Layers: 0 base, 1 .env, 2 rm, 3 id_rsa, 4 rm -rf, 5 config, 6 overwrite, 7 ARG step, 8 opaque add, 9 opaque, 10 copies
  const expected: Expected[] = [
    { name: 'ghEnv', ruleId: 'github-token', source: 'env', layer: null, path: null, line: null, key: 'GH_OAUTH', inFinalImage: true, removedBy: null, alsoIn: 1 },
    { name: 'clarifaiLabel', ruleId: 'clarifai-api-key', source: 'label', layer: null, path: null, line: null, key: 'com.example.clarifai-key', inFinalImage: true, removedBy: null, alsoIn: 1 },
    // The key id on line 2 is reported with the secret (pairedWith), not on its own, nor for its copy in layer 10.
    { name: 'awsSecret', ruleId: 'aws-secret-access-key', source: 'file', layer: 1, path: '/srv/app/.env', line: 3, key: null, inFinalImage: false, removedBy: 2, alsoIn: 1 },
    { name: 'rsa', ruleId: 'private-key', source: 'file', layer: 3, path: '/root/.ssh/id_rsa', line: 1, key: null, inFinalImage: false, removedBy: 4, alsoIn: 0 },
    { name: 'ghConfig', ruleId: 'github-token', source: 'file', layer: 5, path: '/etc/app/config.yml', line: 3, key: null, inFinalImage: false, removedBy: 6, alsoIn: 0 },
    { name: 'ghArg', ruleId: 'github-fine-grained-pat', source: 'history', layer: 7, path: null, line: null, key: 'history[10]', inFinalImage: true, removedBy: null, alsoIn: 1 },
    { name: 'opaqueToken', ruleId: 'github-token', source: 'file', layer: 8, path: '/opt/data/creds', line: 1, key: null, inFinalImage: false, removedBy: 9, alsoIn: 0 },
    { name: 'clarifaiFile', ruleId: 'clarifai-api-key', source: 'file', layer: 10, path: '/opt/clarifai.cfg', line: 2, key: null, inFinalImage: true, removedBy: null, alsoIn: 0 },
    { name: 'replacement', ruleId: 'github-token', source: 'file', layer: 10, path: '/etc/app/config.yml', line: 1, key: null, inFinalImage: true, removedBy: null, alsoIn: 0 },
  ];
  const hashOf = (name: keyof Secrets) => secretHash(s[name]);
  /**
   * Each finding as the planted secret's name, or where an unplanted one was seen (redacted): a
   * failing comparison then says what the extra finding was.
   */
  const namesOf = (findings: readonly FindingSummary[]) => {
    const byHash = new Map(expected.map((e) => [hashOf(e.name), e.name as string]));
    return findings
      .map((f) => byHash.get(f.secretHash) ?? `unplanted ${f.ruleId} in ${f.source} ${f.path ?? f.key ?? ''} line ${f.line ?? '-'} (${f.redacted})`)
      .sort();
  };
  return { spec, expected, hashOf, namesOf };
}

interface FindingSummary {
  secretHash: string;
  ruleId: string;
  source: string;
  path: string | null;
  key: string | null;
  line: number | null;
  redacted: string;
}
