// Where a command may write. A folder a command writes into must be new, empty, or hold that
// command's own earlier output (recognised by a marker file it leaves there), so a mistyped
// --out never replaces or mixes into a user's files; no command writes into what it reads.
// Paths are compared after resolving symlinks, so `ds`, `./ds/` and a link to it are one folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CocaError } from './errors.ts';

/** The file a command leaves in each folder it writes: `{ "command": "coca data build", ... }`. */
export const OUTPUT_MARKER = '.coca-output.json';

/** An output path that would destroy or mix into something that is not this command's own. */
export class OutputError extends CocaError {
  override name = 'OutputError';
}

export interface OutputOptions {
  /** What the command reads (files or folders): the output may not be one of them, lie inside one, or hold one. */
  inputs?: readonly (string | undefined)[];
  /** An earlier output of this command written before the marker existed (e.g. a dataset's manifest.json). */
  isOwnLegacy?: (dir: string) => boolean;
  /** The option that named the path, for messages (default --out). */
  option?: string;
}

/** The path with every existing part's symlinks resolved (the path need not exist yet). */
export function realPath(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let at = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync(at), ...rest.reverse());
    } catch {
      const up = path.dirname(at);
      if (up === at) return abs;
      rest.push(path.basename(at));
      at = up;
    }
  }
}

/** stat, or undefined where nothing is (a missing path, or one running through a file). */
function statOf(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

const within = (inner: string, outer: string) => inner === outer || inner.startsWith(outer.endsWith(path.sep) ? outer : outer + path.sep);

/** The marker's command, or null when `dir` holds no readable marker. */
export function markerCommand(dir: string): string | null {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, OUTPUT_MARKER), 'utf8')) as { command?: unknown };
    return typeof m.command === 'string' ? m.command : null;
  } catch {
    return null;
  }
}

/**
 * Recognises an output written before the marker existed by a JSON file of its own format
 * (a dataset's manifest.json, an index's items.json): true when `dir/file` says `format`.
 */
export function heldFormat(dir: string, file: string, format: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { format?: unknown }).format === format;
  } catch {
    return false;
  }
}

/** Refuses output paths that are, hold, or lie inside one of the command's inputs. */
function checkNotInput(out: string, shown: string, o: OutputOptions): void {
  for (const input of o.inputs ?? []) {
    if (input === undefined || !fs.existsSync(input)) continue;
    const inp = realPath(input);
    if (within(out, inp) || within(inp, out)) {
      const how = out === inp ? 'is' : within(out, inp) ? 'lies inside' : 'holds';
      throw new OutputError(`${o.option ?? '--out'} ${shown} ${how} this command's input ${input}; write the output somewhere else`);
    }
  }
}

/** Refuses the current folder, the home folder, the filesystem root, and any folder above them. */
function checkNotHome(out: string, shown: string, o: OutputOptions): void {
  for (const [name, p] of [['the current folder', process.cwd()], ['your home folder', os.homedir()]] as const) {
    if (within(realPath(p), out)) throw new OutputError(`${o.option ?? '--out'} ${shown} is ${out === realPath(p) ? name : `a folder holding ${name}`}; name a new folder for the output`);
  }
  if (path.dirname(out) === out) throw new OutputError(`${o.option ?? '--out'} ${shown} is the filesystem root; name a new folder for the output`);
}

/**
 * Checks that `dir` may take `command`'s output: a new folder, an empty one, or one holding
 * this command's own earlier output. Returns its real path; creates nothing. Throws OutputError
 * (one line) otherwise.
 */
export function checkOutputFolder(dir: string, command: string, o: OutputOptions = {}): string {
  const opt = o.option ?? '--out';
  const out = realPath(dir);
  checkNotInput(out, dir, o);
  const st = statOf(out);
  const owner = st?.isDirectory() ? markerCommand(out) : null;
  // The command's own earlier output may be written again wherever it lies (`--resume .` from inside a run).
  if (owner === command || (st?.isDirectory() && !owner && o.isOwnLegacy?.(out))) return out;
  checkNotHome(out, dir, o);
  if (!st) {
    checkCanCreate(out, dir, opt);
    return out;
  }
  if (!st.isDirectory()) throw new OutputError(`${opt} ${dir} is a file, not a folder; name a new folder for the output of ${command}`);
  const entries = fs.readdirSync(out);
  if (entries.length === 0) return out;
  if (owner) throw new OutputError(`${opt} ${dir} holds the output of '${owner}', not of '${command}'; name a new folder`);
  const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', …' : '');
  throw new OutputError(`${opt} ${dir} already holds files that '${command}' did not write (${shown}); name a new or empty folder, nothing was changed`);
}

/** Fails now, not after the work, when `out` (which does not exist) cannot be created. */
function checkCanCreate(out: string, shown: string, opt: string): void {
  let parent = path.dirname(out);
  while (!fs.existsSync(parent)) parent = path.dirname(parent);
  if (!fs.statSync(parent).isDirectory()) throw new OutputError(`${opt} ${shown}: ${parent} is a file, not a folder; name a new folder`);
  try {
    fs.rmdirSync(fs.mkdtempSync(path.join(parent, '.coca-probe-')));
  } catch (e) {
    throw new OutputError(`${opt} ${shown}: cannot create a folder in ${parent} (${fsReason(e)}); choose a place you can write to`);
  }
}

/** Creates `dir` (checked as by checkOutputFolder) and leaves the marker in it. Returns the real path. */
export function claimOutputFolder(dir: string, command: string, o: OutputOptions = {}): string {
  const out = checkOutputFolder(dir, command, o);
  try {
    fs.mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new OutputError(`${o.option ?? '--out'} ${dir}: cannot create the folder (${fsReason(e)}); choose a folder you can write to`);
  }
  writeOutputMarker(out, command);
  return out;
}

/** Leaves the marker naming `command` in `dir` (which exists). */
export function writeOutputMarker(dir: string, command: string): void {
  if (markerCommand(dir) === command) return;
  try {
    fs.writeFileSync(path.join(dir, OUTPUT_MARKER), JSON.stringify({ command, at: new Date().toISOString() }) + '\n');
  } catch (e) {
    throw new OutputError(`cannot write in ${dir} (${fsReason(e)}); choose a folder you can write to`);
  }
}

/**
 * Checks that a single output file may be written at `file`: not a folder, not one of the
 * command's inputs nor inside an input folder, in a folder that exists or can be made.
 */
export function checkOutputFile(file: string, o: OutputOptions = {}): string {
  const opt = o.option ?? '--out';
  const out = realPath(file);
  const st = statOf(out);
  if (st?.isDirectory()) throw new OutputError(`${opt} ${file} is a folder; name a file to write`);
  checkNotInput(out, file, o);
  if (!st) checkCanCreate(out, file, opt);
  return out;
}

/** The errno of a failed file operation in words ("permission denied", "read-only file system"). */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  const words: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EISDIR: 'it is a folder',
    ENOENT: 'no such file or folder',
    EEXIST: 'it already exists',
  };
  return code && words[code] ? `${words[code]}, ${code}` : ((e as Error)?.message ?? String(e)).split('\n')[0]!;
}
