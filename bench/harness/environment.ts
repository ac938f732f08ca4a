/**
 * Where a run happened: the source revision and the command line, recorded
 * in the results so a number can be traced to the code that produced it.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { relative } from 'node:path';

/** The git state of the package sources. */
export interface GitState {
  /** `git rev-parse HEAD`; null outside a git checkout (e.g. an installed package). */
  readonly commit: string | null;
  /** Whether files differ from that commit (results files aside); null when unknown. */
  readonly dirty: boolean | null;
}

function git(root: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync('git', [...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
}

/**
 * The commit checked out at `root` and whether the tree is dirty: modified
 * tracked files or untracked files, except under bench/results/ (where
 * runs write).
 */
export function gitState(root: string): GitState {
  const commit = git(root, ['rev-parse', 'HEAD']);
  if (commit === undefined || !/^[0-9a-f]{40,64}$/.test(commit)) return { commit: null, dirty: null };
  const status = git(root, ['status', '--porcelain', '--', '.', ':(exclude)bench/results']);
  return { commit, dirty: status === undefined ? null : status.length > 0 };
}

/** The command line as typed, with the script path relative to the package root: `['node', 'dist/bench/run.js', '--quick']`. */
export function commandLine(root: string, argv: readonly string[] = process.argv): string[] {
  const script = argv[1] === undefined ? [] : [relative(root, argv[1]) || argv[1]];
  return ['node', ...script, ...argv.slice(2)];
}
