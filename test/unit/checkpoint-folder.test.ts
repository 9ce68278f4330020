// The checkpoint folder writer without a GPU: a folder is replaced only whole, every crash
// window (temporary folder half-written; previous folder renamed away, new one not yet in place;
// a pruned folder half-removed) is tidied by recoverCheckpointFolders, and what a crash left is
// never loaded.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readManifest, recoverCheckpointFolders, removeCheckpointFolder, verifyCheckpoint, writeCheckpointFolder, type CheckpointFile } from '../../src/model/checkpoint-folder.ts';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-ckfolder-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const files = (v: number): CheckpointFile[] => [
  { name: 'model.safetensors', tensors: new Map([['w', { shape: [3], data: new Float32Array([v, v + 1, v + 2]) }]]) },
  { name: 'state.json', text: JSON.stringify({ step: v }) },
];
const quiet = () => {};

describe('checkpoint folders', () => {
  it('are written with a manifest and replaced whole, leaving no temporary folder', () => {
    const last = path.join(root, 'last');
    writeCheckpointFolder(last, files(1), 1);
    writeCheckpointFolder(last, files(2), 2);
    expect(fs.readdirSync(root)).toEqual(['last']);
    expect(fs.readdirSync(last).sort()).toEqual(['manifest.json', 'model.safetensors', 'state.json']);
    const m = verifyCheckpoint(last, quiet)!;
    expect(m.step).toBe(2);
    expect(m.files.map((f) => f.file)).toEqual(['model.safetensors', 'state.json']);
    expect(JSON.parse(fs.readFileSync(path.join(last, 'state.json'), 'utf8'))).toEqual({ step: 2 });
  });

  it('a folder killed between renaming the previous one away and putting the new one in place is restored', () => {
    const last = path.join(root, 'last');
    writeCheckpointFolder(last, files(1), 1);
    // The window: the previous folder renamed away, the new one still under its temporary name.
    const old = path.join(root, '.last.old-123-abc');
    fs.renameSync(last, old);
    fs.mkdirSync(path.join(root, '.last.tmp-123-abc'));
    fs.writeFileSync(path.join(root, '.last.tmp-123-abc', 'model.safetensors'), 'half');
    expect(() => verifyCheckpoint(old, quiet)).toThrow(/\.last\.old-123-abc is what an interrupted save left, never a checkpoint to load; use .*last$/);
    const lines = recoverCheckpointFolders(root);
    expect(lines).toEqual([`restored ${last} from .last.old-123-abc (a save was interrupted while replacing it)`, 'removed .last.tmp-123-abc (left by an interrupted save)']);
    expect(fs.readdirSync(root)).toEqual(['last']);
    expect(readManifest(last)!.step).toBe(1);
  });

  it('an old folder beside its replacement, a damaged old folder and a half-removed pruned folder are removed', () => {
    writeCheckpointFolder(path.join(root, 'best'), files(3), 3);
    fs.cpSync(path.join(root, 'best'), path.join(root, '.best.old-9-z'), { recursive: true });
    writeCheckpointFolder(path.join(root, 'step-000004'), files(4), 4);
    fs.cpSync(path.join(root, 'step-000004'), path.join(root, '.last.old-9-z'), { recursive: true });
    fs.truncateSync(path.join(root, '.last.old-9-z', 'model.safetensors'), 10);
    writeCheckpointFolder(path.join(root, 'step-000002'), files(2), 2);
    fs.renameSync(path.join(root, 'step-000002'), path.join(root, '.step-000002.del-9-z'));
    recoverCheckpointFolders(root);
    expect(fs.readdirSync(root).sort()).toEqual(['best', 'step-000004']);
    removeCheckpointFolder(path.join(root, 'step-000004'));
    expect(fs.readdirSync(root)).toEqual(['best']);
  });

  it('a file of another save beside the manifest is refused, naming it', () => {
    const last = path.join(root, 'last');
    writeCheckpointFolder(last, files(1), 1);
    fs.writeFileSync(path.join(last, 'optimizer.safetensors'), 'from another save');
    expect(() => verifyCheckpoint(last, quiet)).toThrow(`${path.join(last, 'optimizer.safetensors')} does not match the checkpoint's manifest (not listed: left by another save)`);
  });

  it('a write that fails part-way leaves the previous folder and no temporary one', () => {
    const last = path.join(root, 'last');
    writeCheckpointFolder(last, files(1), 1);
    process.env.COCA_TEST_CHECKPOINT_ENOSPC = '1';
    try {
      expect(() => writeCheckpointFolder(last, files(2), 2)).toThrow(`${last}: cannot write the checkpoint (ENOSPC while writing state.json); the previous checkpoint there is untouched`);
    } finally {
      delete process.env.COCA_TEST_CHECKPOINT_ENOSPC;
    }
    expect(fs.readdirSync(root)).toEqual(['last']);
    expect(verifyCheckpoint(last, quiet)!.step).toBe(1);
  });
});
