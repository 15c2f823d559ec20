import { appendFile, rename, writeFile, rm } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import yargs from 'yargs';
import { describeError, ScanError } from './errors.js';
import { defaultCacheDir, ruleMemo } from './cache/layer-cache.js';
import { DetectionEngine } from './detect/engine.js';
import { loadRuleSet } from './detect/rules.js';
import { redact, redactWithin } from './redact.js';
import { withoutSecrets } from './report/common.js';
import { REPORT_FORMATS, renderReport, type ReportFormat } from './report/index.js';
import { ScanAbortedError, scanImage, TOOL_VERSION } from './scan.js';
import { PULL_POLICIES, type PullPolicy, type ScanOptions } from './types.js';
import { SEVERITIES, type Severity } from './types.js';
import { applyLoadedPolicy, findConfigFile, loadConfigFile, loadPolicy, type LoadedConfig } from './policy/index.js';
import { createProgress } from './progress.js';
import { parseVerifyEndpoints, verificationEndpoints } from './verify/run.js';
import { AUDIT_FORMATS, auditExitCode, renderAudit, type AuditFormat } from './audit/render.js';
import { tuningFromEnv } from './audit/tuning.js';

// The audit and its queue client (BullMQ, ioredis) load only for those commands.
const auditModule = () => import('./audit/index.js');

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** Where the config file search and `.stratascanignore` start (default: process.cwd()). */
  cwd?: string;
  /** Aborted on SIGINT/SIGTERM (bin.ts), with the signal's name as its reason. */
  signal?: AbortSignal;
}

/** Exit codes: 0 no secrets, 1 secrets found, 2 the scan could not be completed. */
export const EXIT_CLEAN = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_ERROR = 2;

/** The one stderr line of an interrupted scan. */
export const INTERRUPTED_MESSAGE = 'stratascan: interrupted';

/** 128 + the signal's number, as shells report a command a signal ended: 130 SIGINT, 143 SIGTERM. */
export function interruptedExitCode(reason: unknown): number {
  const number = typeof reason === 'string' ? (osConstants.signals as Record<string, number | undefined>)[reason] : undefined;
  return 128 + (number ?? osConstants.signals.SIGINT);
}

interface ScanArgs {
  target: string;
  format: ReportFormat;
  output?: string;
  platform?: string;
  image?: string;
  'show-secrets': boolean;
  jobs?: number;
  detectors?: string;
  color?: boolean;
  compact: boolean;
  'markdown-summary'?: string;
  pull: PullPolicy;
  username?: string;
  'password-stdin': boolean;
  'insecure-registry'?: string[];
  baseline?: string;
  'ignore-file'?: string;
  'fail-on'?: Severity;
  'exit-code'?: number;
  'skip-layers'?: number;
  base?: string;
  'exclude-base': boolean;
  quiet: boolean;
  progress?: boolean;
  config?: string | false;
  cache: boolean;
  'cache-dir'?: string;
  archives: boolean;
  'archive-depth'?: number;
  verify: boolean;
  'verify-endpoint'?: string[];
  'fail-on-verified': boolean;
}

/** Parses arguments, runs the scan, writes the report; everything else lives in the library. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let exitCode = EXIT_CLEAN;
  let usageError: string | null = null;
  let config: LoadedConfig | null;
  const scrub = new StderrScrubber();
  // Until the arguments are parsed (usage and config errors): the default detectors and cache.
  scrub.configure(undefined, argv.includes('--no-cache') ? null : defaultCacheDir(io.env));
  try {
    config = await readConfig(argv, io.cwd ?? process.cwd());
  } catch (err) {
    io.stderr.write(`stratascan: ${scrub.error(err)}\n`);
    return EXIT_ERROR;
  }
  const parser = yargs(argv)
    .scriptName('stratascan')
    .usage('$0 scan TARGET [options]\n\nFind leaked secrets in a container image and the layer that introduced each.')
    .command<ScanArgs>(
      'scan <target>',
      'Scan an image: a docker save tarball, an OCI archive or layout directory, - for standard input, or an image reference (docker-daemon:NAME, docker://REF, or a bare REF: daemon first, then registry)',
      (y) =>
        y
          .positional('target', { type: 'string', demandOption: true, describe: 'image tarball, OCI layout directory, -, or image reference' })
          .option('format', { alias: 'f', choices: REPORT_FORMATS, default: 'text', describe: 'report format' })
          .option('output', { alias: 'o', type: 'string', describe: 'write the report to FILE instead of standard output' })
          .option('platform', { type: 'string', describe: 'os/arch[/variant] to scan in a multi-platform image (default linux/amd64)' })
          .option('image', { type: 'string', describe: 'repo:tag to scan in an archive holding several images' })
          .option('show-secrets', { type: 'boolean', default: false, describe: 'print secret values instead of redacted forms' })
          .option('jobs', { alias: 'j', type: 'number', describe: 'detection worker threads (default: one per CPU but one; 0 = none)' })
          .option('detectors', { type: 'string', describe: 'directory of detector rule files (default: the shipped set)' })
          .option('archives', { type: 'boolean', default: true, describe: 'scan inside zip/jar/war/whl/tar/tar.gz/.gz files in layers (--no-archives: leave them closed)' })
          .option('archive-depth', { type: 'number', describe: 'how many archives deep to open (default 3)' })
          .option('cache', { type: 'boolean', default: true, describe: 'reuse per-layer results from the layer cache (--no-cache: scan every layer)' })
          .option('cache-dir', { type: 'string', describe: 'layer cache directory (default: $XDG_CACHE_HOME/stratascan or ~/.cache/stratascan)' })
          .option('pull', { choices: PULL_POLICIES, default: 'missing', describe: 'bare image references: never = local daemon only, missing = daemon, else registry, always = registry' })
          .option('username', { type: 'string', describe: 'registry user name (with --password-stdin)' })
          .option('password-stdin', { type: 'boolean', default: false, describe: 'read the registry password from standard input' })
          .option('insecure-registry', { type: 'string', array: true, describe: 'HOST[:PORT] that may be reached over plain HTTP or unverified TLS (repeatable)' })
          .option('color', { type: 'boolean', describe: 'colour the text report (default: when writing to a terminal and NO_COLOR is unset)' })
          .option('compact', { type: 'boolean', default: false, describe: 'text report: one line per finding, no fix paragraphs' })
          .option('markdown-summary', { type: 'string', describe: 'also append a Markdown summary to FILE (e.g. "$GITHUB_STEP_SUMMARY")' })
          // CI gate (policy lives in src/policy; these only pass values through).
          .option('baseline', { type: 'string', describe: 'an earlier JSON report: report only findings whose fingerprint (ruleId:secretHash) is not in it' })
          .option('ignore-file', { type: 'string', describe: 'ignore entries (YAML; default: .stratascanignore in the working directory)' })
          .option('fail-on', { choices: SEVERITIES, describe: 'exit 1 only for a remaining finding at or above this severity (default: low)' })
          .option('exit-code', { type: 'number', describe: 'exit code to use instead of 1 when the gate fails' })
          .option('skip-layers', { type: 'number', describe: 'treat the first N layers as an inherited base image' })
          .option('base', { type: 'string', describe: 'base image tarball or OCI layout whose layers prefix the scanned image' })
          .option('exclude-base', { type: 'boolean', default: false, describe: 'drop findings that live only in base layers' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress display and no notes on stderr' })
          .option('progress', { type: 'boolean', describe: 'progress on stderr (default: on a terminal, unless --quiet); into a pipe or log, one plain line every 2 s' })
          .option('verify', { type: 'boolean', default: false, describe: 'ask each provider whether the secrets found still work (sends them to the provider; see "stratascan verify --list-endpoints")' })
          .option('verify-endpoint', { type: 'string', array: true, describe: 'PROVIDER=URL: call this base URL instead of the provider\'s (GitHub Enterprise, self-managed GitLab, a proxy; repeatable)' })
          .option('fail-on-verified', { type: 'boolean', default: false, describe: 'exit 1 only for secrets the provider still accepts (needs --verify)' })
          .option('config', { type: 'string', describe: 'config file (default: stratascan.config.{json,yaml,yml} found upwards from the working directory; --no-config for none)' })
          .config(config?.options ?? {}),
      async (args) => {
        // yargs-parser reads a lone "-" as an empty value; "-" is the conventional name for stdin.
        if (args.target === '' && argv.includes('-')) args.target = '-';
        scrub.configure(args.detectors, args.cache ? (args['cache-dir'] ?? defaultCacheDir(io.env)) : null);
        exitCode = await runScan(args, io, config, scrub);
      },
    )
    .command<{ 'list-endpoints': boolean; 'verify-endpoint'?: string[] }>(
      'verify',
      'About live verification: --list-endpoints prints every host that scan --verify may call',
      (y) =>
        y
          .option('list-endpoints', { type: 'boolean', default: false, describe: 'print every host verification may call (for firewall allow-lists)' })
          .option('verify-endpoint', { type: 'string', array: true, describe: 'PROVIDER=URL overrides, as for scan' }),
      (args) => {
        if (!args['list-endpoints']) throw new Error('verify: name an action (--list-endpoints)');
        io.stdout.write(listEndpoints(parseVerifyEndpoints(args['verify-endpoint'])));
      },
    )
    .command<AuditArgs>(
      'audit [sources..]',
      'Audit many images: registry:HOST[:PORT] (every repository and tag), image references, --images-from; each unique layer scanned once',
      (y) =>
        y
          .positional('sources', { type: 'string', array: true, describe: 'registry:HOST[:PORT], docker://REF, REF, a tarball or layout path, docker-daemon:NAME' })
          .option('format', { alias: 'f', choices: AUDIT_FORMATS, default: 'text', describe: 'report format' })
          .option('output', { alias: 'o', type: 'string', describe: 'write the report to FILE instead of standard output' })
          .option('repo', { type: 'string', array: true, describe: 'registry sources: only repositories matching GLOB (repeatable)' })
          .option('tag', { type: 'string', array: true, describe: 'registry sources: only tags matching GLOB (repeatable)' })
          .option('images-from', { type: 'string', describe: 'read image references from FILE (- for standard input), one a line; duplicates folded' })
          .option('platform', { type: 'string', describe: 'os/arch[/variant] of multi-platform images (default linux/amd64)' })
          .option('all-platforms', { type: 'boolean', default: false, describe: 'every platform of multi-platform images, each as an image' })
          .option('queue', { type: 'string', describe: 'redis://HOST[:PORT][/DB]: scan layers on BullMQ workers (stratascan worker) and keep results there' })
          .option('concurrency', { type: 'number', describe: 'layers scanned at once in this process (default 4)' })
          .option('jobs', { alias: 'j', type: 'number', describe: 'detection worker threads (default: one per CPU but one; 0 = none)' })
          .option('detectors', { type: 'string', describe: 'directory of detector rule files (default: the shipped set)' })
          .option('archives', { type: 'boolean', default: true, describe: 'scan inside archives in layers (--no-archives: leave them closed)' })
          .option('cache', { type: 'boolean', default: true, describe: 'reuse and store per-layer results in the layer cache (without --queue)' })
          .option('cache-dir', { type: 'string', describe: 'layer cache directory' })
          .option('pull', { choices: PULL_POLICIES, default: 'missing', describe: 'bare image references: never, missing or always fetch from the registry' })
          .option('insecure-registry', { type: 'string', array: true, describe: 'HOST[:PORT] that may be reached over plain HTTP or unverified TLS (repeatable)' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress on stderr' })
          .config(config?.options ?? {}),
      async (args) => {
        scrub.configure(args.detectors, args.cache ? (args['cache-dir'] ?? defaultCacheDir(io.env)) : null);
        exitCode = await runAudit(args, io, scrub);
      },
    )
    .command<WorkerArgs>(
      'worker',
      'Process layer jobs of audits run with --queue, until Ctrl-C or SIGTERM (registry credentials from this machine: docker config or STRATASCAN_REGISTRY_*)',
      (y) =>
        y
          .option('queue', { type: 'string', demandOption: true, describe: 'redis://HOST[:PORT][/DB]' })
          .option('concurrency', { type: 'number', default: 2, describe: 'layer jobs at once (default 2: one downloads while one is scanned)' })
          .option('jobs', { alias: 'j', type: 'number', describe: 'detection worker threads (default: one per CPU but one; 0 = none)' })
          .option('detectors', { type: 'string', describe: 'directory of detector rule files (must be the audit\'s catalogue)' })
          .option('insecure-registry', { type: 'string', array: true, describe: 'HOST[:PORT] that may be reached over plain HTTP or unverified TLS (repeatable)' })
          .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no log lines on stderr' }),
      async (args) => {
        scrub.configure(args.detectors, defaultCacheDir(io.env));
        exitCode = await runWorkerCommand(args, io, scrub);
      },
    )
    .demandCommand(1, 'name a command: scan, audit, worker or verify')
    .strict()
    .version(TOOL_VERSION)
    .help()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, err) => {
      usageError = message ? scrub.text(scrubUsage(message)) : scrub.error(err);
      // Returning would let yargs run the command anyway (a whole scan for a mistyped --fail-on).
      throw new Error(usageError);
    })
    .exitProcess(false);
  try {
    await parser.parseAsync();
  } catch (err) {
    usageError ??= scrub.error(err);
  }
  if (usageError !== null) {
    io.stderr.write(`stratascan: ${usageError}\nRun "stratascan --help" for usage.\n`);
    return EXIT_ERROR;
  }
  return exitCode;
}

interface AuditArgs {
  sources?: string[];
  format: AuditFormat;
  output?: string;
  repo?: string[];
  tag?: string[];
  'images-from'?: string;
  platform?: string;
  'all-platforms': boolean;
  queue?: string;
  concurrency?: number;
  jobs?: number;
  detectors?: string;
  archives: boolean;
  cache: boolean;
  'cache-dir'?: string;
  pull: PullPolicy;
  'insecure-registry'?: string[];
  quiet: boolean;
}

interface WorkerArgs {
  queue: string;
  concurrency: number;
  jobs?: number;
  detectors?: string;
  'insecure-registry'?: string[];
  quiet: boolean;
}

function wholeNumberError(flag: string, value: number | undefined, min: number): string | null {
  return value !== undefined && (!Number.isInteger(value) || value < min) ? `--${flag} takes a whole number of ${min} or more` : null;
}

async function runAudit(args: AuditArgs, io: CliIo, scrub: StderrScrubber): Promise<number> {
  const usage = wholeNumberError('concurrency', args.concurrency, 1) ?? wholeNumberError('jobs', args.jobs, 0)
    ?? (args.platform !== undefined && args['all-platforms'] ? '--platform and --all-platforms exclude each other' : null);
  if (usage) {
    io.stderr.write(`stratascan: ${usage}\n`);
    return EXIT_ERROR;
  }
  try {
    const sources = [...(args.sources ?? [])];
    if (args['images-from'] !== undefined) sources.push(...(await (await import('./audit/sources.js')).readImageList(args['images-from'], io.stdin)));
    if (sources.length === 0) throw new ScanError('name what to audit: registry:HOST[:PORT], image references, or --images-from FILE');
    const quiet = args.quiet === true;
    const report = await (await auditModule()).auditImages(sources, {
      repos: args.repo,
      tags: args.tag,
      platform: args.platform,
      allPlatforms: args['all-platforms'],
      queue: args.queue,
      queueTuning: tuningFromEnv(io.env),
      concurrency: args.concurrency,
      jobs: args.jobs,
      detectorsDir: args.detectors,
      cache: args.cache,
      cacheDir: args['cache-dir'],
      pull: args.pull,
      insecureRegistries: args['insecure-registry'],
      archives: args.archives === false ? false : undefined,
      signal: io.signal,
      onNote: quiet ? undefined : (line) => io.stderr.write(`stratascan: note: ${line}\n`),
      onProgress: quiet || io.stderr.isTTY !== true ? undefined : (p) => io.stderr.write(`\r\x1b[Kaudit: ${p.imagesDone}/${p.imagesTotal} images, ${p.layersScanned} layers scanned, ${p.layersFromCache} from cache`),
    });
    if (!quiet && io.stderr.isTTY === true) io.stderr.write('\r\x1b[K');
    const providers = args.format === 'html' ? providerNames(args.detectors, args.cache ? (args['cache-dir'] ?? defaultCacheDir(io.env)) : null) : undefined;
    const text = renderAudit(report, args.format, { providers });
    if (args.output) await writeAtomically(args.output, text, io.signal);
    else io.stdout.write(text);
    return auditExitCode(report);
  } catch (err) {
    if (err instanceof ScanAbortedError || io.signal?.aborted) {
      io.stderr.write(`${INTERRUPTED_MESSAGE}\n`);
      return interruptedExitCode(io.signal?.reason);
    }
    io.stderr.write(`stratascan: error: ${scrub.error(err)}\n`);
    if (!(err instanceof ScanError) && io.env.STRATASCAN_DEBUG && err instanceof Error) io.stderr.write(`${scrub.text(err.stack ?? '')}\n`);
    return EXIT_ERROR;
  }
}

async function runWorkerCommand(args: WorkerArgs, io: CliIo, scrub: StderrScrubber): Promise<number> {
  const usage = wholeNumberError('concurrency', args.concurrency, 1) ?? wholeNumberError('jobs', args.jobs, 0);
  if (usage) {
    io.stderr.write(`stratascan: ${usage}\n`);
    return EXIT_ERROR;
  }
  try {
    await (await import('./audit/queue.js')).runWorker({
      queue: args.queue,
      concurrency: args.concurrency,
      jobs: args.jobs,
      detectorsDir: args.detectors,
      insecureRegistries: args['insecure-registry'],
      tuning: tuningFromEnv(io.env),
      signal: io.signal,
      log: args.quiet ? undefined : (line) => io.stderr.write(`stratascan worker: ${scrub.text(line)}\n`),
    });
    // Stopped by a signal: the jobs in hand were finished or left to expire and be retried.
    return EXIT_CLEAN;
  } catch (err) {
    io.stderr.write(`stratascan: error: ${scrub.error(err)}\n`);
    return EXIT_ERROR;
  }
}

/** The config file named by --config, or the nearest one upwards from cwd; none with --no-config. */
async function readConfig(argv: string[], cwd: string): Promise<LoadedConfig | null> {
  if (argv.includes('--no-config')) return null;
  let explicit: string | undefined;
  argv.forEach((a, i) => {
    if (a === '--config') explicit = argv[i + 1];
    else if (a.startsWith('--config=')) explicit = a.slice('--config='.length);
  });
  const path = explicit !== undefined ? resolvePath(cwd, explicit) : findConfigFile(cwd);
  return path ? loadConfigFile(path) : null;
}

async function runScan(args: ScanArgs, io: CliIo, config: LoadedConfig | null, scrub: StderrScrubber): Promise<number> {
  if (args.jobs !== undefined && (!Number.isInteger(args.jobs) || args.jobs < 0)) {
    io.stderr.write('stratascan: --jobs takes a whole number of 0 or more\n');
    return EXIT_ERROR;
  }
  for (const [flag, value, min, max] of [['exit-code', args['exit-code'], 0, 255], ['skip-layers', args['skip-layers'], 0, Infinity]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
      io.stderr.write(`stratascan: --${flag} takes a whole number from ${min}${max === Infinity ? ' up' : ` to ${max}`}\n`);
      return EXIT_ERROR;
    }
  }
  if (args['fail-on-verified'] && !args.verify) {
    io.stderr.write('stratascan: --fail-on-verified needs --verify\n');
    return EXIT_ERROR;
  }
  const quiet = args.quiet === true;
  const tty = io.stderr.isTTY === true;
  const progress = createProgress(io.stderr, { enabled: args.progress ?? (tty && !quiet), tty });
  const options: ScanOptions = {
    platform: args.platform,
    image: args.image,
    showSecrets: args['show-secrets'],
    jobs: args.jobs,
    detectorsDir: args.detectors,
    cache: args.cache,
    cacheDir: args['cache-dir'],
    pull: args.pull,
    insecureRegistries: args['insecure-registry'],
    signal: io.signal,
    onNote: quiet ? undefined : (message) => io.stderr.write(`stratascan: note: ${scrub.text(message)}\n`),
    archives: args.archives === false ? false : args['archive-depth'] !== undefined ? { maxDepth: args['archive-depth'] } : undefined,
    verify: args.verify,
  };
  // Overrides are checked even when unused: a config file that sets them for --verify runs is checked on every run.
  if (args['verify-endpoint']) {
    try {
      const endpoints = Object.fromEntries([...parseVerifyEndpoints(args['verify-endpoint'])].map(([p, url]) => [p, url.href]));
      if (args.verify) options.verifyEndpoints = endpoints;
    } catch (err) {
      io.stderr.write(`stratascan: ${scrub.error(err)}\n`);
      return EXIT_ERROR;
    }
  }
  if (args.target === '-') options.stdin = io.stdin;
  const auth = await registryAuth(args, io);
  if (typeof auth === 'string') {
    io.stderr.write(`stratascan: ${auth}\n`);
    return EXIT_ERROR;
  }
  if (auth) options.registryAuth = auth;
  options.onProgress = (p) => progress.update(p);
  try {
    const policy = await loadPolicy({
      cwd: io.cwd ?? process.cwd(),
      baselinePath: args.baseline,
      ignoreFile: args['ignore-file'],
      extraIgnore: config?.ignore,
      failOn: args['fail-on'],
      skipLayers: args['skip-layers'],
      basePath: args.base,
      excludeBase: args['exclude-base'],
      failOnVerified: args['fail-on-verified'],
      platform: args.platform,
    });
    const scanned = await scanImage(args.target, options);
    progress.clear();
    // CI formats never carry raw values. Scrubbed before the policy runs, because a finding the
    // policy drops can still be the only one that knows a value in some layer's created_by.
    const { report, suppressed, warnings, failed } = applyLoadedPolicy(neverShowsSecrets(args.format) ? withoutSecrets(scanned) : scanned, policy);
    for (const w of warnings) io.stderr.write(`stratascan: warning: ${scrub.text(w)}\n`);
    if (suppressed.length > 0 && !quiet) {
      const by = (k: string) => suppressed.filter((s) => s.by === k).length;
      io.stderr.write(`stratascan: ${suppressed.length} finding${suppressed.length === 1 ? '' : 's'} not reported (${by('baseline')} in the baseline, ${by('ignore')} ignored, ${by('base')} base-only)\n`);
    }
    const color = args.color ?? (args.output === undefined && io.stdout.isTTY === true && !io.env.NO_COLOR);
    const providers = args.format === 'html' ? providerNames(args.detectors, args.cache ? (args['cache-dir'] ?? defaultCacheDir(io.env)) : null) : undefined;
    const text = renderReport(report, args.format, {
      color,
      compact: args.compact,
      now: new Date(),
      width: Math.min(100, (io.stdout as { columns?: number }).columns ?? 100),
      providers,
    });
    if (args.output) await writeAtomically(args.output, text, io.signal);
    else io.stdout.write(text);
    // Appended, not replaced: GitHub's job summary file collects what every step writes.
    if (args['markdown-summary']) await appendSummary(args['markdown-summary'], renderReport(withoutSecrets(report), 'markdown'));
    return failed ? (args['exit-code'] ?? EXIT_FINDINGS) : EXIT_CLEAN;
  } catch (err) {
    progress.clear();
    // Whatever failed after a signal (policy files, the scan, the report file) failed because of it.
    if (err instanceof ScanAbortedError || io.signal?.aborted) {
      io.stderr.write(`${INTERRUPTED_MESSAGE}\n`);
      return interruptedExitCode(io.signal?.reason);
    }
    const known = err instanceof ScanError;
    io.stderr.write(`stratascan: error: ${scrub.error(err)}\n`);
    if (!known && io.env.STRATASCAN_DEBUG && err instanceof Error) io.stderr.write(`${scrub.text(err.stack ?? '')}\n`);
    return EXIT_ERROR;
  }
}

/** `stratascan verify --list-endpoints`: one line per provider and host, for allow-lists. */
function listEndpoints(endpoints: ReturnType<typeof parseVerifyEndpoints>): string {
  const rows = verificationEndpoints(endpoints).flatMap((e) => e.hosts.map((h) => [e.provider, h, e.call] as const));
  const width = Math.max(...rows.map(([p]) => p.length));
  const hostWidth = Math.max(...rows.map(([, h]) => h.length));
  return `${rows.map(([p, h, call]) => `${p.padEnd(width)}  ${h.padEnd(hostWidth)}  ${call}`).join('\n')}\n`;
}


async function appendSummary(path: string, markdown: string): Promise<void> {
  try {
    await appendFile(path, markdown, { mode: 0o600 });
  } catch (cause) {
    throw new ScanError(`cannot append the Markdown summary to ${path}`, { cause });
  }
}

/** The CI formats end up in dashboards and artifacts, the HTML page gets mailed around: no raw value, even with --show-secrets. */
function neverShowsSecrets(format: ReportFormat): boolean {
  switch (format) {
    case 'sarif':
    case 'gitlab':
    case 'github':
    case 'markdown':
    case 'html':
      return true;
    case 'text':
    case 'json':
      return false;
    default: {
      const never: never = format;
      throw new Error(`unknown report format ${String(never)}`);
    }
  }
}

/** Detector id → provider, for the HTML report's provider filter (the scan itself does not carry it). */
function providerNames(detectorsDir: string | undefined, memoDir: string | null): Record<string, string> {
  const memo = memoDir === null ? undefined : ruleMemo(memoDir, TOOL_VERSION);
  return Object.fromEntries(loadRuleSet(detectorsDir, memo).rules.map((r) => [r.id, r.provider]));
}

// V8's JSON.parse quotes the text it failed on: `Unexpected token 'g', "{"k": ghp_…" is not valid JSON`.
const JSON_EXCERPT = /, (?:\.\.\.)?".*?"(?:\.\.\.)? is not valid JSON/gs;

/**
 * Stderr text that may quote input the user pointed at: a config, baseline or ignore file is where
 * a pasted token ends up, and parsers quote the text they failed on (V8's JSON.parse an excerpt,
 * the yaml library a code frame). Excerpts are dropped, and whatever a detector calls a secret is
 * redacted; the detectors load only when there is something to write.
 */
class StderrScrubber {
  private engine: DetectionEngine | null | undefined;
  private detectorsDir: string | undefined;
  private memoDir: string | null = null;

  configure(detectorsDir: string | undefined, memoDir: string | null): void {
    this.detectorsDir = detectorsDir;
    this.memoDir = memoDir;
    this.engine = undefined;
  }

  text(text: string): string {
    const out = text.replace(JSON_EXCERPT, ' (not valid JSON)');
    if (out.trim() === '') return out;
    const engine = this.load();
    if (!engine) return out;
    return redactWithin(out, engine.scan(Buffer.from(out, 'utf8')).map((m) => m.secret));
  }

  /** describeError with each message scrubbed before it is joined (and possibly shortened). */
  error(err: unknown): string {
    const chain: unknown[] = [];
    for (let current = err; current !== undefined && current !== null && chain.length < 8; current = current instanceof Error ? current.cause : undefined) {
      chain.push(current);
    }
    let rebuilt: Error | undefined;
    for (const e of chain.reverse()) {
      const message = e instanceof Error ? e.message : String(e);
      // The first line says what and where (line, column); the rest is a frame of the input.
      const own = e instanceof Error && e.name.startsWith('YAML') ? message.split('\n', 1)[0]!.replace(/:$/, '') : message;
      rebuilt = new Error(this.text(own), rebuilt === undefined ? undefined : { cause: rebuilt });
    }
    return describeError(rebuilt);
  }

  private load(): DetectionEngine | null {
    if (this.engine !== undefined) return this.engine;
    try {
      const memo = this.memoDir === null ? undefined : ruleMemo(this.memoDir, TOOL_VERSION);
      this.engine = new DetectionEngine(loadRuleSet(this.detectorsDir, memo).rules);
    } catch {
      // Broken detectors are themselves the error being reported: scrub without them.
      this.engine = null;
    }
    return this.engine;
  }
}

/**
 * yargs repeats what it rejected (`Given: "…"`, `Unknown arguments: …`), which may be a value
 * from a config file. One long enough, with letters and digits, and not a mistyped flag name
 * (lower-case words and dashes), could be a pasted secret of a format no detector knows.
 */
function scrubUsage(message: string): string {
  const secretLike = (v: string) => v.length >= 16 && /\d/.test(v) && /[A-Za-z]/.test(v) && !/^[a-z]+(?:-[a-z0-9]+)*$/.test(v);
  const hide = (value: string) => (secretLike(value) ? redact(value) : value);
  return message
    .replace(/Given: "([^"]*)"/g, (_m, value: string) => `Given: "${hide(value)}"`)
    .replace(/^(Unknown arguments?: )(.*)$/gm, (_m, head: string, list: string) => head + list.split(', ').map(hide).join(', '));
}

/** --username with --password-stdin; a string is a usage error. The password is never echoed. */
async function registryAuth(args: ScanArgs, io: CliIo): Promise<ScanOptions['registryAuth'] | string | undefined> {
  if (!args['password-stdin']) return args.username === undefined ? undefined : '--username needs --password-stdin (passwords are not taken on the command line)';
  if (args.username === undefined || args.username === '') return '--password-stdin needs --username';
  if (args.target === '-') return '--password-stdin cannot be used with - (standard input holds the image)';
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') return '--password-stdin read an empty password';
  return { username: args.username, password };
}

/** A report file is either complete or absent: never half-written after a crash or Ctrl-C. */
async function writeAtomically(path: string, text: string, signal?: AbortSignal): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temp, text, { signal });
    // Interrupted while writing: the report is dropped whole rather than left for a reader to trust.
    signal?.throwIfAborted();
    await rename(temp, path);
  } catch (cause) {
    await rm(temp, { force: true });
    throw new ScanError(`writing the report to ${path}`, { cause });
  }
}
