// How the `coca` command reports a failure: one line for a person, never a stack trace unless
// asked for. Our own errors (CocaError) say what is wrong and what to do; a failed file
// operation names the path and the reason; anything else is a bug in coca and says so.
import { CocaError } from '../util/errors.ts';
import { fsReason } from '../util/outdir.ts';

/** The environment variable that adds the stack trace to any failure. */
export const DEBUG_ENV = 'COCA_DEBUG';

const verbs: Record<string, string> = { open: 'open', mkdir: 'create', rename: 'replace', unlink: 'remove', rmdir: 'remove', scandir: 'list', stat: 'find', write: 'write', read: 'read', copyfile: 'copy', access: 'reach' };

/** What to print for `err`: one line, plus the stack when debugging. */
export function failureLines(err: unknown, debug = !!process.env[DEBUG_ENV]): string[] {
  const stack = debug && err instanceof Error && err.stack ? [err.stack] : [];
  if (err instanceof CocaError) return [`coca: ${err.message}`, ...stack];
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string' && e.path) {
    return [`coca: cannot ${verbs[e.syscall] ?? e.syscall} ${e.path}: ${fsReason(e)}; check the path and its permissions`, ...stack];
  }
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  return [`coca: internal error: ${first} (a bug in coca; ${DEBUG_ENV}=1 shows where, please report it)`, ...stack];
}
