// A checkpoint is a folder that is either whole or absent. It is written under a temporary name
// beside its final place (`.last.tmp-<pid>-<time>`), every file and the folder fsynced, with a
// manifest.json listing each file's size and sha256, then renamed into place; a previous folder
// of the same name is renamed away (`.last.old-...`) only once the new one is complete, and
// removed after. Loaders verify the manifest, so a folder mixing files of two saves, or holding a
// truncated file, is refused naming the file. Folders whose names start with a dot are never
// loaded; recoverCheckpointFolders() tidies what a crash left of them (and of folders being
// removed, renamed `.step-000100.del-...` first).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeSafetensors } from './safetensors.ts';
import { CHECKPOINT_FORMAT, MANIFEST, manifestText, type CheckpointFile, type Manifest, type ManifestEntry } from './checkpoint-files.ts';
import { CheckpointError } from './errors.ts';

/** The names writeCheckpointFolder and removeCheckpointFolder give folders on their way in or out. */
const LEFTOVER = /^\.(.+)\.(tmp|old|del)-[0-9]+-[0-9a-z]+$/;
const FORMAT = CHECKPOINT_FORMAT;

// The files' and manifest's shapes are browser-safe (checkpoint-files.ts); kept importable from here.
export { MANIFEST, type CheckpointFile, type Manifest, type ManifestEntry };

export function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function writeTextSynced(file: string, text: string): void {
  const fd = fs.openSync(file, 'wx');
  try {
    const bytes = Buffer.from(text);
    for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Test-only hooks (documented in docs/checkpoints.md), read at each write so a test can aim
 * faults at the writer: COCA_TEST_CHECKPOINT_PAUSE_MS sleeps that long before each file, so a
 * kill lands mid-checkpoint; COCA_TEST_CHECKPOINT_ENOSPC=1 fails the second file with ENOSPC,
 * for machines where a small disk cannot be mounted.
 */
function testHooks(fileIndex: number): void {
  const pause = Number(process.env.COCA_TEST_CHECKPOINT_PAUSE_MS ?? 0);
  if (pause > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
  if (process.env.COCA_TEST_CHECKPOINT_ENOSPC === '1' && fileIndex === 1) {
    throw Object.assign(new Error('no space left on device (COCA_TEST_CHECKPOINT_ENOSPC)'), { code: 'ENOSPC' });
  }
}

const errText = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Writes `files` and their manifest as the folder `dir`, replacing a previous one only when complete. */
export function writeCheckpointFolder(dir: string, files: readonly CheckpointFile[], step?: number): void {
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const tmp = path.join(parent, `.${base}.tmp-${tag}`);
  let current = 'the folder';
  try {
    fs.mkdirSync(tmp, { recursive: true });
    const entries: ManifestEntry[] = [];
    files.forEach((f, i) => {
      current = f.name;
      testHooks(i);
      const file = path.join(tmp, f.name);
      if ('text' in f) writeTextSynced(file, f.text);
      else writeSafetensors(file, f.tensors, f.metadata);
      entries.push({ file: f.name, bytes: fs.statSync(file).size, sha256: sha256File(file) });
    });
    current = MANIFEST;
    writeTextSynced(path.join(tmp, MANIFEST), manifestText(entries, step));
    fsyncDir(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const what = e instanceof Error && e.name === 'SafetensorsError' ? /\(([^)]*)\)/.exec(e.message)?.[1] ?? e.message : errText(e);
    throw new CheckpointError(`${dir}: cannot write the checkpoint (${what} while writing ${current}); the previous checkpoint there is untouched`);
  }
  const old = fs.existsSync(dir) ? path.join(parent, `.${base}.old-${tag}`) : null;
  try {
    if (old) fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
  } catch (e) {
    if (old && !fs.existsSync(dir)) fs.renameSync(old, dir);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new CheckpointError(`${dir}: cannot put the new checkpoint in place (${errText(e)}); the previous checkpoint there is untouched`);
  }
  fsyncDir(parent);
  if (old) fs.rmSync(old, { recursive: true, force: true });
}

export function readManifest(dir: string): Manifest | null {
  const file = path.join(dir, MANIFEST);
  if (!fs.existsSync(file)) return null;
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
  } catch (e) {
    throw new CheckpointError(`${file} is not valid JSON (${(e as Error).message}); the checkpoint is damaged: use another one`);
  }
  if (m?.format !== FORMAT || !Array.isArray(m.files)) throw new CheckpointError(`${file} is not a coca checkpoint manifest (format ${JSON.stringify(m?.format)}); the checkpoint is damaged: use another one`);
  return m;
}

// Files a checkpoint may hold: one of these beside a manifest that does not list it came from another save.
const CHECKPOINT_FILES = ['model.safetensors', 'config.json', 'tokenizer.json', 'optimizer.safetensors', 'state.json'];
const warnedLegacy = new Set<string>();

/**
 * Checks every file against the manifest; throws one line naming the first file that does not
 * match. A folder written before manifests existed loads with a one-line notice. Returns the
 * manifest, or null for such an older folder.
 */
export function verifyCheckpoint(dir: string, notice: (line: string) => void = (l) => console.error(l)): Manifest | null {
  const left = LEFTOVER.exec(path.basename(path.resolve(dir)));
  if (left) throw new CheckpointError(`${dir} is what an interrupted save left, never a checkpoint to load; use ${path.join(path.dirname(dir), left[1]!)}`);
  const m = readManifest(dir);
  if (!m) {
    if (!warnedLegacy.has(dir)) notice(`coca: note: ${dir} has no ${MANIFEST} (written before coca checked its checkpoints); its files are loaded unverified`);
    warnedLegacy.add(dir);
    return null;
  }
  checkAgainstManifest(dir, m);
  return m;
}

function checkAgainstManifest(dir: string, m: Manifest): void {
  const refuse = (file: string, why: string): never => {
    throw new CheckpointError(`${path.join(dir, file)} does not match the checkpoint's manifest (${why}); the folder is mixed or damaged: use another checkpoint of the run (best, last or step-N)`);
  };
  for (const e of m.files) {
    const file = path.join(dir, e.file);
    if (!fs.existsSync(file)) refuse(e.file, 'missing');
    const bytes = fs.statSync(file).size;
    if (bytes !== e.bytes) refuse(e.file, `${bytes} bytes, the manifest says ${e.bytes}`);
    if (sha256File(file) !== e.sha256) refuse(e.file, 'its sha256 differs: written by another save');
  }
  const listed = new Set(m.files.map((e) => e.file));
  for (const f of CHECKPOINT_FILES) if (!listed.has(f) && fs.existsSync(path.join(dir, f))) refuse(f, 'not listed: left by another save');
}

/** Removes a checkpoint folder; renamed away first, so a kill part-way never leaves half of one under its name. */
export function removeCheckpointFolder(dir: string): void {
  const gone = path.join(path.dirname(dir), `.${path.basename(dir)}.del-${process.pid}-${Date.now().toString(36)}`);
  fs.renameSync(dir, gone);
  fs.rmSync(gone, { recursive: true, force: true });
}

/**
 * Tidies what a crash left among checkpoint folders: temporary folders are removed; a previous
 * folder renamed away whose replacement never arrived is renamed back when its manifest holds.
 * Returns a line per folder acted on. Only the run's own writer may call this.
 */
export function recoverCheckpointFolders(parent: string): string[] {
  if (!fs.existsSync(parent)) return [];
  const done: string[] = [];
  for (const name of fs.readdirSync(parent).sort()) {
    const m = LEFTOVER.exec(name);
    if (!m) continue;
    const [, base, kind] = m as unknown as [string, string, 'tmp' | 'old' | 'del'];
    const leftover = path.join(parent, name);
    const target = path.join(parent, base);
    if (kind === 'old' && !fs.existsSync(target)) {
      try {
        const m = readManifest(leftover);
        if (m) {
          checkAgainstManifest(leftover, m);
          fs.renameSync(leftover, target);
          done.push(`restored ${target} from ${name} (a save was interrupted while replacing it)`);
          continue;
        }
      } catch {
        // Not whole: removed below like any other leftover.
      }
    }
    fs.rmSync(leftover, { recursive: true, force: true });
    done.push(`removed ${name} (left by an interrupted save)`);
  }
  return done;
}
