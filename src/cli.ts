import { rename, writeFile, rm } from 'node:fs/promises';
import yargs from 'yargs';
import { describeError, ScanError } from './errors.js';
import { REPORT_FORMATS, renderReport, type ReportFormat } from './report/index.js';
import { scanImage, TOOL_VERSION } from './scan.js';
import type { ScanOptions } from './types.js';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

/** Exit codes: 0 no secrets, 1 secrets found, 2 the scan could not be completed. */
export const EXIT_CLEAN = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_ERROR = 2;

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
}

/** Parses arguments, runs the scan, writes the report; everything else lives in the library. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let exitCode = EXIT_CLEAN;
  let usageError: string | null = null;
  const parser = yargs(argv)
    .scriptName('stratascan')
    .usage('$0 scan TARGET [options]\n\nFind leaked secrets in a container image and the layer that introduced each.')
    .command<ScanArgs>(
      'scan <target>',
      'Scan an image: a docker save tarball, an OCI archive or layout directory, or - for standard input',
      (y) =>
        y
          .positional('target', { type: 'string', demandOption: true, describe: 'image tarball, OCI layout directory, or -' })
          .option('format', { alias: 'f', choices: REPORT_FORMATS, default: 'text' as ReportFormat, describe: 'report format' })
          .option('output', { alias: 'o', type: 'string', describe: 'write the report to FILE instead of standard output' })
          .option('platform', { type: 'string', describe: 'os/arch[/variant] to scan in a multi-platform image (default linux/amd64)' })
          .option('image', { type: 'string', describe: 'repo:tag to scan in an archive holding several images' })
          .option('show-secrets', { type: 'boolean', default: false, describe: 'print secret values instead of redacted forms' })
          .option('jobs', { alias: 'j', type: 'number', describe: 'detection worker threads (default: one per CPU; 0 = none)' })
          .option('detectors', { type: 'string', describe: 'directory of detector rule files (default: the shipped set)' })
          .option('color', { type: 'boolean', describe: 'colour the text report (default: when writing to a terminal and NO_COLOR is unset)' }),
      async (args) => {
        // yargs-parser reads a lone "-" as an empty value; "-" is the conventional name for stdin.
        if (args.target === '' && argv.includes('-')) args.target = '-';
        exitCode = await runScan(args, io);
      },
    )
    .demandCommand(1, 'name a command: scan')
    .strict()
    .version(TOOL_VERSION)
    .help()
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, err) => {
      usageError = message || describeError(err);
    })
    .exitProcess(false);
  try {
    await parser.parseAsync();
  } catch (err) {
    usageError ??= describeError(err);
  }
  if (usageError !== null) {
    io.stderr.write(`stratascan: ${usageError}\nRun "stratascan --help" for usage.\n`);
    return EXIT_ERROR;
  }
  return exitCode;
}

async function runScan(args: ScanArgs, io: CliIo): Promise<number> {
  if (args.jobs !== undefined && (!Number.isInteger(args.jobs) || args.jobs < 0)) {
    io.stderr.write('stratascan: --jobs takes a whole number of 0 or more\n');
    return EXIT_ERROR;
  }
  const options: ScanOptions = {
    platform: args.platform,
    image: args.image,
    showSecrets: args['show-secrets'],
    jobs: args.jobs,
    detectorsDir: args.detectors,
  };
  if (args.target === '-') options.stdin = io.stdin;
  try {
    const report = await scanImage(args.target, options);
    const color = args.color ?? (args.output === undefined && io.stdout.isTTY === true && !io.env.NO_COLOR);
    const text = renderReport(report, args.format, { color });
    if (args.output) await writeAtomically(args.output, text);
    else io.stdout.write(text);
    return report.findings.length > 0 ? EXIT_FINDINGS : EXIT_CLEAN;
  } catch (err) {
    const known = err instanceof ScanError;
    io.stderr.write(`stratascan: error: ${describeError(err)}\n`);
    if (!known && io.env.STRATASCAN_DEBUG && err instanceof Error) io.stderr.write(`${err.stack}\n`);
    return EXIT_ERROR;
  }
}

/** A report file is either complete or absent: never half-written after a crash or Ctrl-C. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temp, text);
    await rename(temp, path);
  } catch (cause) {
    await rm(temp, { force: true });
    throw new ScanError(`writing the report to ${path}`, { cause });
  }
}
