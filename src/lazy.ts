/**
 * Libraries loaded on first use. A scan served from the layer cache reads no YAML (the build
 * compiles the catalogue), walks no tar, decompresses no zstd, starts no worker thread and no
 * credential helper and parses no regular expression (the build plans the patterns); loaded up
 * front, these would be a large part of such a scan's time.
 */
import { createRequire } from 'node:module';
import type * as ChildProcess from 'node:child_process';
import type * as WorkerThreads from 'node:worker_threads';
import type * as Regexpp from '@eslint-community/regexpp';
import type * as Fzstd from 'fzstd';
import type * as TarStream from 'tar-stream';
import type * as Yaml from 'yaml';

const require = createRequire(import.meta.url);

let yamlModule: typeof Yaml | null = null;
let tarModule: typeof TarStream | null = null;
let childProcessModule: typeof ChildProcess | null = null;
let workerThreadsModule: typeof WorkerThreads | null = null;
let fzstdModule: typeof Fzstd | null = null;
let regexppModule: typeof Regexpp | null = null;

export function yaml(): typeof Yaml {
  return (yamlModule ??= require('yaml') as typeof Yaml);
}

export function tarStream(): typeof TarStream {
  return (tarModule ??= require('tar-stream') as typeof TarStream);
}

export function childProcess(): typeof ChildProcess {
  return (childProcessModule ??= require('node:child_process') as typeof ChildProcess);
}

export function workerThreads(): typeof WorkerThreads {
  return (workerThreadsModule ??= require('node:worker_threads') as typeof WorkerThreads);
}

export function fzstd(): typeof Fzstd {
  return (fzstdModule ??= require('fzstd') as typeof Fzstd);
}

export function regexpp(): typeof Regexpp {
  return (regexppModule ??= require('@eslint-community/regexpp') as typeof Regexpp);
}
