// What every command shares: --json with one envelope, -C to pick the repository, one-line errors
// with the documented exit codes (README, "Exit codes").

import { Command, Flags, Errors } from '@oclif/core';
import { CkptError, ExitCode, NotFoundError, errorLine, redactSecrets, typedErrno } from '../errors.js';
import { Repository } from '../core/repo.js';

export abstract class CkptCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: 'Print the result as one JSON document: {status, result, warnings}.', default: false }),
    dir: Flags.string({ char: 'C', description: 'Run as if started in this directory.', helpGroup: 'GLOBAL' }),
  };

  protected warnings: string[] = [];
  private jsonMode = false;

  /**
   * The repository, found from -C DIR or the working directory. With -C the process moves there first,
   * so every path argument (--to, PATH.ckpt, a file to add) is read relative to DIR, as with git -C.
   */
  protected async repo(dir?: string): Promise<Repository> {
    if (dir !== undefined) enterDir(dir);
    return Repository.find(process.cwd());
  }

  /** Prints the result: the JSON envelope with --json, else what human() draws. */
  protected emit<T>(json: boolean, result: T, human: (r: T) => void): T {
    this.jsonMode = json;
    if (json) process.stdout.write(JSON.stringify({ status: 'ok', result, warnings: this.warnings }) + '\n');
    else {
      human(result);
      for (const w of this.warnings) process.stderr.write(`ckptsync: warning: ${w}\n`);
    }
    return result;
  }

  protected setJson(json: boolean): void {
    this.jsonMode = json;
  }

  override async catch(thrown: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<any> {
    if (thrown instanceof Errors.ExitError) throw thrown;
    // A parse error is reported here; oclif would add a second line warning that parse never finished.
    this.parsed = true;
    // A file-system failure that nothing below typed still gets its row of the exit-code table.
    const err = typedErrno(thrown) ?? thrown;
    const isUsage = !(err instanceof CkptError) && (err.oclif !== undefined || /flag|argument|Unexpected|Missing/i.test(err.name));
    const code = err instanceof CkptError ? err.exitCode : isUsage ? ExitCode.usage : ExitCode.failure;
    const errCode = err instanceof CkptError ? err.code : isUsage ? 'USAGE' : 'INTERNAL';
    const line = isUsage ? usageLine(err.message) : errorLine(err);
    if (this.jsonMode || process.argv.includes('--json')) {
      process.stdout.write(JSON.stringify({ status: 'error', error: { code: errCode, message: line, exitCode: code }, warnings: this.warnings }) + '\n');
    }
    process.stderr.write(`ckptsync: error: ${line}\n`);
    if (code === ExitCode.failure && process.env.CKPTSYNC_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = code;
  }
}

function enterDir(dir: string): void {
  try {
    process.chdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NotFoundError(`-C ${dir}: ${code === 'ENOTDIR' ? 'not a directory' : code === 'ENOENT' ? 'no such directory' : (e as Error).message}`, { path: dir });
  }
}

/**
 * oclif's parse errors span lines ("Parsing --jobs \n\tExpected an integer...\nSee more help with --help"):
 * the reason is on the later lines, so they are joined into one instead of keeping only the first.
 */
export function usageLine(message: string): string {
  const lines = message
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l) => l && !/^See more help with/.test(l));
  let out = '';
  for (const l of lines) out = !out ? l : out.endsWith(':') ? `${out} ${l}` : `${out}: ${l}`;
  return redactSecrets(out || message);
}
