// Dawn prints two "artificially reduced" warnings to the process's stderr (native fprintf, not
// JS) each time an adapter is opened on lavapipe, whose Vulkan driver reports a million dynamic
// buffers. They are harmless and confuse every newcomer, and Node has no dup2, so for the few
// milliseconds of requestAdapter fd 2 is pointed at /dev/null and then back at the same terminal.
// Only when stderr is a terminal: reopening a pipe could block, and a regular file opened by the
// shell may share its offset with stdout (`> log 2>&1`), which a reopened description would not.
import fs from 'node:fs';
import tty from 'node:tty';

export async function withDawnWarningsHidden<T>(open: () => Promise<T>): Promise<T> {
  if (process.platform !== 'linux' || process.env.COCA_DAWN_WARNINGS === '1' || !tty.isatty(2)) return open();
  let saved: number;
  try {
    saved = fs.openSync('/proc/self/fd/2', 'w');
  } catch {
    return open();
  }
  let silenced = false;
  try {
    fs.closeSync(2);
    // The lowest free descriptor is 2 now; anything else means another thread took it first.
    const nul = fs.openSync('/dev/null', 'w');
    silenced = nul === 2;
    if (!silenced) fs.closeSync(nul);
  } catch {
    silenced = false;
  }
  try {
    return await open();
  } finally {
    try {
      if (silenced) fs.closeSync(2);
      if (silenced || !isOpen(2)) fs.openSync(`/proc/self/fd/${saved}`, 'w');
    } finally {
      fs.closeSync(saved);
    }
  }
}

function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}
