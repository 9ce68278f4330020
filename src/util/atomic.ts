// A whole file or the previous one: write beside it under a temporary name, then rename over it
// (a rename within one folder is atomic), so a kill or a full disk never leaves half a file.
import fs from 'node:fs';
import path from 'node:path';

/** Writes `data` to `file` through a temporary file; on failure the temporary is removed and the error rethrown. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
