import type { Options } from 'yargs';
import { AUDIT_FORMATS, type AuditFormat } from '../audit/render.js';
import { REPORT_FORMATS, type ReportFormat } from '../report/index.js';
import { PULL_POLICIES, SEVERITIES, type PullPolicy, type Severity } from '../types.js';

/** Options that mean the same for every command that takes them. */
const SHARED = {
  output: { alias: 'o', type: 'string', describe: 'write the report to FILE instead of standard output' },
  jobs: { alias: 'j', type: 'number', describe: 'detection worker threads (default: one per CPU but one; 0 = none)' },
  detectors: { type: 'string', describe: 'directory of detector rule files (default: the shipped set)' },
  'cache-dir': { type: 'string', describe: 'layer cache directory (default: $XDG_CACHE_HOME/stratascan or ~/.cache/stratascan)' },
  'insecure-registry': { type: 'string', array: true, describe: 'HOST[:PORT] that may be reached over plain HTTP or unverified TLS (repeatable)' },
  'archive-depth': { type: 'number', describe: 'how many archives deep to open (default 3)' },
} satisfies Record<string, Options>;

const archives = (what: string): Options => ({ type: 'boolean', default: true, describe: `scan inside ${what} in layers (--no-archives: leave them closed)` });
const platform = (what: string): Options => ({ type: 'string', describe: `os/arch[/variant] ${what} (default linux/amd64)` });
const pull = (what: string): Options => ({ choices: PULL_POLICIES, default: 'missing' as PullPolicy, describe: `bare image references: ${what}` });
const quiet = (what: string): Options => ({ alias: 'q', type: 'boolean', default: false, describe: what });

export interface ScanArgs {
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

/** `stratascan scan`'s options (the positional TARGET apart). */
export const SCAN_OPTIONS: Record<string, Options> = {
  format: { alias: 'f', choices: REPORT_FORMATS, default: 'text' as ReportFormat, describe: 'report format' },
  output: SHARED.output,
  platform: platform('to scan in a multi-platform image'),
  image: { type: 'string', describe: 'repo:tag to scan in an archive holding several images' },
  'show-secrets': { type: 'boolean', default: false, describe: 'print secret values instead of redacted forms' },
  jobs: SHARED.jobs,
  detectors: SHARED.detectors,
  archives: archives('zip/jar/war/whl/tar/tar.gz/.gz files'),
  'archive-depth': SHARED['archive-depth'],
  cache: { type: 'boolean', default: true, describe: 'reuse per-layer results from the layer cache (--no-cache: scan every layer)' },
  'cache-dir': SHARED['cache-dir'],
  pull: pull('never = local daemon only, missing = daemon, else registry, always = registry'),
  username: { type: 'string', describe: 'registry user name (with --password-stdin)' },
  'password-stdin': { type: 'boolean', default: false, describe: 'read the registry password from standard input' },
  'insecure-registry': SHARED['insecure-registry'],
  color: { type: 'boolean', describe: 'colour the text report (default: when writing to a terminal and NO_COLOR is unset)' },
  compact: { type: 'boolean', default: false, describe: 'text report: one line per finding, no fix paragraphs' },
  'markdown-summary': { type: 'string', describe: 'also append a Markdown summary to FILE (e.g. "$GITHUB_STEP_SUMMARY")' },
  // CI gate (policy lives in src/policy; these only pass values through).
  baseline: { type: 'string', describe: 'an earlier JSON report: report only findings whose fingerprint (ruleId:secretHash) is not in it' },
  'ignore-file': { type: 'string', describe: 'ignore entries (YAML; default: .stratascanignore in the working directory)' },
  'fail-on': { choices: SEVERITIES, describe: 'exit 1 only for a remaining finding at or above this severity (default: low)' },
  'exit-code': { type: 'number', describe: 'exit code to use instead of 1 when the gate fails' },
  'skip-layers': { type: 'number', describe: 'treat the first N layers as an inherited base image' },
  base: { type: 'string', describe: 'base image tarball or OCI layout whose layers prefix the scanned image' },
  'exclude-base': { type: 'boolean', default: false, describe: 'drop findings that live only in base layers' },
  quiet: quiet('no progress display and no notes on stderr'),
  progress: { type: 'boolean', describe: 'progress on stderr (default: on a terminal, unless --quiet); into a pipe or log, one plain line every 2 s' },
  verify: { type: 'boolean', default: false, describe: 'ask each provider whether the secrets found still work (sends them to the provider; see "stratascan verify --list-endpoints")' },
  'verify-endpoint': { type: 'string', array: true, describe: 'PROVIDER=URL: call this base URL instead of the provider\'s (GitHub Enterprise, self-managed GitLab, a proxy; repeatable)' },
  'fail-on-verified': { type: 'boolean', default: false, describe: 'exit 1 only for secrets the provider still accepts (needs --verify)' },
  config: { type: 'string', describe: 'config file (default: stratascan.config.{json,yaml,yml} found upwards from the working directory; --no-config for none)' },
};

export interface AuditArgs {
  sources?: string[];
  format: AuditFormat;
  output?: string;
  repo?: string[];
  tag?: string[];
  'images-from'?: string;
  platform?: string;
  'all-platforms': boolean;
  queue?: string;
  'queue-timeout'?: number;
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

/** `stratascan audit`'s options (the positional SOURCES apart). */
export const AUDIT_OPTIONS: Record<string, Options> = {
  format: { alias: 'f', choices: AUDIT_FORMATS, default: 'text' as AuditFormat, describe: 'report format' },
  output: SHARED.output,
  repo: { type: 'string', array: true, describe: 'registry sources: only repositories matching GLOB (repeatable)' },
  tag: { type: 'string', array: true, describe: 'registry sources: only tags matching GLOB (repeatable)' },
  'images-from': { type: 'string', describe: 'read image references from FILE (- for standard input), one a line; duplicates folded' },
  platform: platform('of multi-platform images'),
  'all-platforms': { type: 'boolean', default: false, describe: 'every platform of multi-platform images, each as an image' },
  queue: { type: 'string', describe: 'redis://HOST[:PORT][/DB]: scan layers on BullMQ workers (stratascan worker) and keep results there' },
  'queue-timeout': { type: 'number', describe: 'with --queue: give up (exit 2) when workers have finished no layer for this many seconds (default: wait)' },
  concurrency: { type: 'number', describe: 'layers scanned at once in this process (default 4)' },
  jobs: SHARED.jobs,
  detectors: SHARED.detectors,
  archives: archives('archives'),
  cache: { type: 'boolean', default: true, describe: 'reuse and store per-layer results in the layer cache (without --queue)' },
  'cache-dir': SHARED['cache-dir'],
  pull: pull('never, missing or always fetch from the registry'),
  'insecure-registry': SHARED['insecure-registry'],
  quiet: quiet('no progress on stderr'),
};

export interface WorkerArgs {
  queue: string;
  concurrency: number;
  jobs?: number;
  detectors?: string;
  'insecure-registry'?: string[];
  quiet: boolean;
}

/** `stratascan worker`'s options. */
export const WORKER_OPTIONS: Record<string, Options> = {
  queue: { type: 'string', demandOption: true, describe: 'redis://HOST[:PORT][/DB]' },
  concurrency: { type: 'number', default: 2, describe: 'layer jobs at once (default 2: one downloads while one is scanned)' },
  jobs: SHARED.jobs,
  detectors: { ...SHARED.detectors, describe: 'directory of detector rule files (must be the audit\'s catalogue)' },
  'insecure-registry': SHARED['insecure-registry'],
  quiet: quiet('no log lines on stderr'),
};

/** A usage error for a number flag that must be whole and at least `min`, or null. */
export function wholeNumberError(flag: string, value: number | undefined, min: number): string | null {
  return value !== undefined && (!Number.isInteger(value) || value < min) ? `--${flag} takes a whole number of ${min} or more` : null;
}
