import { appendFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { writeFileAtomic } from './atomic-write.js';
import { ScanError } from './errors.js';
import { defaultCacheDir } from './cache/layer-cache.js';
import { ruleMemo } from './cache/rule-memo.js';
import { loadRuleSet } from './detect/rules.js';
import { withoutSecrets } from './report/common.js';
import { renderReport, type ReportFormat } from './report/index.js';
import { ScanAbortedError, scanImage, TOOL_VERSION } from './scan.js';
import type { ScanOptions, ScanReport } from './types.js';
import { applyLoadedPolicy, findConfigFile, loadConfigFile, loadPolicy, type LoadedConfig } from './policy/index.js';
import { createProgress } from './progress.js';
import { parseVerifyEndpoints, verificationEndpoints } from './verify/run.js';
import { auditExitCode, renderAudit } from './audit/render.js';
import { tuningFromEnv } from './audit/tuning.js';
import { AUDIT_OPTIONS, SCAN_OPTIONS, WORKER_OPTIONS, wholeNumberError, type AuditArgs, type ScanArgs, type WorkerArgs } from './cli/options.js';
import { registryAuth } from './cli/registry-login.js';
import { scrubUsage, StderrScrubber } from './cli/stderr-scrubber.js';

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

/** Parses arguments, runs the scan, writes the report; everything else lives in the library. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const scrub = new StderrScrubber();
  // Until the arguments are parsed (usage and config errors): the default detectors and cache.
  scrub.configure(undefined, argv.includes('--no-cache') ? null : defaultCacheDir(io.env));
  let config: LoadedConfig | null;
  try {
    config = await readConfig(argv, io.cwd ?? process.cwd());
  } catch (err) {
    io.stderr.write(`stratascan: ${scrub.error(err)}\n`);
    return EXIT_ERROR;
  }
  const outcome: CommandOutcome = { exitCode: EXIT_CLEAN, usageError: null };
  try {
    await commandLine(argv, io, config, scrub, outcome).parseAsync();
  } catch (err) {
    outcome.usageError ??= scrub.error(err);
  }
  if (outcome.usageError !== null) {
    io.stderr.write(`stratascan: ${outcome.usageError}\nRun "stratascan --help" for usage.\n`);
    return EXIT_ERROR;
  }
  return outcome.exitCode;
}

/** What the command that ran leaves for main: its exit code, or the usage error that stopped it. */
interface CommandOutcome {
  exitCode: number;
  usageError: string | null;
}

/** The commands and their options; each command's handler sets `outcome.exitCode`. */
function commandLine(argv: string[], io: CliIo, config: LoadedConfig | null, scrub: StderrScrubber, outcome: CommandOutcome): Argv {
  const fromConfig = config?.options ?? {};
  return yargs(argv)
    .scriptName('stratascan')
    .usage('$0 scan TARGET [options]\n\nFind leaked secrets in a container image and the layer that introduced each.')
    .command<ScanArgs>(
      'scan <target>',
      'Scan an image: a docker save tarball, an OCI archive or layout directory, - for standard input, or an image reference (docker-daemon:NAME, docker://REF, or a bare REF: daemon first, then registry)',
      (y) => y.positional('target', { type: 'string', demandOption: true, describe: 'image tarball, OCI layout directory, -, or image reference' }).options(SCAN_OPTIONS).config(fromConfig),
      async (args) => {
        // yargs-parser reads a lone "-" as an empty value; "-" is the conventional name for stdin.
        if (args.target === '' && argv.includes('-')) args.target = '-';
        scrub.configure(args.detectors, cacheDirOf(args, io.env));
        outcome.exitCode = await runScan(args, io, config, scrub);
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
      (y) => y.positional('sources', { type: 'string', array: true, describe: 'registry:HOST[:PORT], docker://REF, REF, a tarball or layout path, docker-daemon:NAME' }).options(AUDIT_OPTIONS).config(fromConfig),
      async (args) => {
        scrub.configure(args.detectors, cacheDirOf(args, io.env));
        outcome.exitCode = await runAudit(args, io, scrub);
      },
    )
    .command<WorkerArgs>(
      'worker',
      'Process layer jobs of audits run with --queue, until Ctrl-C or SIGTERM (registry credentials from this machine: docker config or STRATASCAN_REGISTRY_*)',
      (y) => y.options(WORKER_OPTIONS),
      async (args) => {
        scrub.configure(args.detectors, defaultCacheDir(io.env));
        outcome.exitCode = await runWorkerCommand(args, io, scrub);
      },
    )
    .demandCommand(1, 'name a command: scan, audit, worker or verify')
    .strict()
    .version(TOOL_VERSION)
    .help()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, err) => {
      outcome.usageError = message ? scrub.text(scrubUsage(message)) : scrub.error(err);
      // Returning would let yargs run the command anyway (a whole scan for a mistyped --fail-on).
      throw new Error(outcome.usageError);
    })
    .exitProcess(false);
}

/**
 * The exit code for a command that failed: an interrupt's (whatever failed after a signal failed
 * because of it: policy files, the scan, the report file), else 2 with one scrubbed line.
 */
function failed(err: unknown, io: CliIo, scrub: StderrScrubber): number {
  if (err instanceof ScanAbortedError || io.signal?.aborted) {
    io.stderr.write(`${INTERRUPTED_MESSAGE}\n`);
    return interruptedExitCode(io.signal?.reason);
  }
  io.stderr.write(`stratascan: error: ${scrub.error(err)}\n`);
  if (!(err instanceof ScanError) && io.env.STRATASCAN_DEBUG && err instanceof Error) io.stderr.write(`${scrub.text(err.stack ?? '')}\n`);
  return EXIT_ERROR;
}

/** A report file is either complete or absent: never half-written after a crash or Ctrl-C. */
async function writeReport(path: string, text: string, signal: AbortSignal | undefined): Promise<void> {
  try {
    await writeFileAtomic(path, text, { signal });
  } catch (cause) {
    throw new ScanError(`writing the report to ${path}`, { cause });
  }
}

function cacheDirOf(args: { cache?: boolean; 'cache-dir'?: string }, env: NodeJS.ProcessEnv): string | null {
  return args.cache === false ? null : (args['cache-dir'] ?? defaultCacheDir(env));
}

async function runScan(args: ScanArgs, io: CliIo, config: LoadedConfig | null, scrub: StderrScrubber): Promise<number> {
  const usage = scanUsageError(args);
  if (usage !== null) {
    io.stderr.write(`stratascan: ${usage}\n`);
    return EXIT_ERROR;
  }
  const quiet = args.quiet === true;
  const tty = io.stderr.isTTY === true;
  const progress = createProgress(io.stderr, { enabled: args.progress ?? (tty && !quiet), tty });
  const options = await scanOptionsOf(args, io, scrub);
  if (typeof options === 'string') {
    io.stderr.write(`stratascan: ${options}\n`);
    return EXIT_ERROR;
  }
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
    const gated = applyLoadedPolicy(neverShowsSecrets(args.format) ? withoutSecrets(scanned) : scanned, policy);
    for (const w of gated.warnings) io.stderr.write(`stratascan: warning: ${scrub.text(w)}\n`);
    if (gated.suppressed.length > 0 && !quiet) io.stderr.write(`stratascan: ${suppressedNote(gated.suppressed)}\n`);
    await writeScanReport(gated.report, args, io);
    return gated.failed ? (args['exit-code'] ?? EXIT_FINDINGS) : EXIT_CLEAN;
  } catch (err) {
    progress.clear();
    return failed(err, io, scrub);
  }
}

/** What is wrong with the scan's numbers and flag combinations, or null. */
function scanUsageError(args: ScanArgs): string | null {
  if (args.jobs !== undefined && (!Number.isInteger(args.jobs) || args.jobs < 0)) return '--jobs takes a whole number of 0 or more';
  for (const [flag, value, min, max] of [['exit-code', args['exit-code'], 0, 255], ['skip-layers', args['skip-layers'], 0, Infinity]] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
      return `--${flag} takes a whole number from ${min}${max === Infinity ? ' up' : ` to ${max}`}`;
    }
  }
  if (args['fail-on-verified'] && !args.verify) return '--fail-on-verified needs --verify';
  return null;
}

/** The library options that scan and audit take alike, from the flags they share. */
function sharedOptions(args: Pick<ScanArgs & AuditArgs, 'jobs' | 'detectors' | 'cache' | 'cache-dir' | 'pull' | 'insecure-registry'>, io: CliIo) {
  return {
    jobs: args.jobs,
    detectorsDir: args.detectors,
    cache: args.cache,
    cacheDir: args['cache-dir'],
    pull: args.pull,
    insecureRegistries: args['insecure-registry'],
    signal: io.signal,
  } satisfies ScanOptions;
}

/** The library's options for the scan's arguments; a string is a usage error. Reads the password on --password-stdin. */
async function scanOptionsOf(args: ScanArgs, io: CliIo, scrub: StderrScrubber): Promise<ScanOptions | string> {
  const options: ScanOptions = {
    platform: args.platform,
    image: args.image,
    showSecrets: args['show-secrets'],
    ...sharedOptions(args, io),
    onNote: args.quiet === true ? undefined : (message) => io.stderr.write(`stratascan: note: ${scrub.text(message)}\n`),
    archives: args.archives === false ? false : args['archive-depth'] !== undefined ? { maxDepth: args['archive-depth'] } : undefined,
    verify: args.verify,
  };
  // Overrides are checked even when unused: a config file that sets them for --verify runs is checked on every run.
  if (args['verify-endpoint']) {
    try {
      const endpoints = Object.fromEntries([...parseVerifyEndpoints(args['verify-endpoint'])].map(([p, url]) => [p, url.href]));
      if (args.verify) options.verifyEndpoints = endpoints;
    } catch (err) {
      return scrub.error(err);
    }
  }
  if (args.target === '-') options.stdin = io.stdin;
  const auth = await registryAuth(args, io.stdin);
  if (typeof auth === 'string') return auth;
  if (auth) options.registryAuth = auth;
  return options;
}

function suppressedNote(suppressed: readonly { by: string }[]): string {
  const by = (k: string) => suppressed.filter((s) => s.by === k).length;
  return `${suppressed.length} finding${suppressed.length === 1 ? '' : 's'} not reported (${by('baseline')} in the baseline, ${by('ignore')} ignored, ${by('base')} base-only)`;
}

/** The report to --output or stdout, and the Markdown summary to append, if asked. */
async function writeScanReport(report: ScanReport, args: ScanArgs, io: CliIo): Promise<void> {
  const color = args.color ?? (args.output === undefined && io.stdout.isTTY === true && !io.env.NO_COLOR);
  const providers = args.format === 'html' ? providerNames(args.detectors, cacheDirOf(args, io.env)) : undefined;
  const text = renderReport(report, args.format, {
    color,
    compact: args.compact,
    now: new Date(),
    width: Math.min(100, (io.stdout as { columns?: number }).columns ?? 100),
    providers,
  });
  if (args.output) await writeReport(args.output, text, io.signal);
  else io.stdout.write(text);
  // Appended, not replaced: GitHub's job summary file collects what every step writes.
  if (args['markdown-summary']) await appendSummary(args['markdown-summary'], renderReport(withoutSecrets(report), 'markdown'));
}

async function runAudit(args: AuditArgs, io: CliIo, scrub: StderrScrubber): Promise<number> {
  const usage = wholeNumberError('concurrency', args.concurrency, 1) ?? wholeNumberError('jobs', args.jobs, 0)
    ?? (args.platform !== undefined && args['all-platforms'] ? '--platform and --all-platforms exclude each other' : null)
    ?? queueTimeoutError(args);
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
      queueTimeoutMs: args['queue-timeout'] === undefined ? undefined : args['queue-timeout'] * 1000,
      concurrency: args.concurrency,
      ...sharedOptions(args, io),
      archives: args.archives === false ? false : undefined,
      onNote: quiet ? undefined : (line) => io.stderr.write(`stratascan: note: ${line}\n`),
      onProgress: quiet || io.stderr.isTTY !== true ? undefined : (p) => io.stderr.write(`\r\x1b[Kaudit: ${p.imagesDone}/${p.imagesTotal} images, ${p.layersScanned} layers scanned, ${p.layersFromCache} from cache`),
    });
    if (!quiet && io.stderr.isTTY === true) io.stderr.write('\r\x1b[K');
    const providers = args.format === 'html' ? providerNames(args.detectors, cacheDirOf(args, io.env)) : undefined;
    const text = renderAudit(report, args.format, { providers });
    if (args.output) await writeReport(args.output, text, io.signal);
    else io.stdout.write(text);
    return auditExitCode(report);
  } catch (err) {
    return failed(err, io, scrub);
  }
}

function queueTimeoutError(args: AuditArgs): string | null {
  const seconds = args['queue-timeout'];
  if (seconds === undefined) return null;
  if (args.queue === undefined) return '--queue-timeout needs --queue';
  return Number.isFinite(seconds) && seconds > 0 ? null : '--queue-timeout takes a number of seconds above 0';
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
