// Every error a user can cause is one line and a non-zero exit, never a stack trace or a
// message about coca's internals: numbers out of range (refused before the GPU opens), a damaged
// config.json or items.json, a port in use; and one unreadable picture costs coca caption that
// picture, not the batch. One small checkpoint (test/infer/fixture.ts) serves the cases that
// need real weights.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCheckpoint, makePictures } from '../infer/fixture.ts';
import { testGpu } from '../helpers/gpu.ts';
import { coca, expectOneLine, folderHash } from './helpers.ts';

let dir: string;
let ck: string;
let pics: Awaited<ReturnType<typeof makePictures>>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-errors-'));
  ck = path.join(dir, 'ck');
  const gpu = await testGpu();
  await makeCheckpoint(gpu, ck);
  gpu.pool.trim();
  pics = await makePictures(path.join(dir, 'pics'));
  fs.symlinkSync(path.join(dir, 'pics'), path.join(dir, 'pics-link'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('numbers out of range are refused before any work', () => {
  // A one-step run, so that the command ends quickly wherever the check is missing.
  const short = ['--steps', '1', '--batch', '2', '--val-every', '1'];
  it.each([
    [['train', ...short, '--clip', '0'], /^coca: --clip must be a number > 0 \(the largest global gradient norm kept\), got 0$/],
    [['train', ...short, '--lr', '1e9'], /^coca: --lr must be a number > 0 and ≤ 1 \(the peak AdamW step, e\.g\. 1e-3\), got 1000000000$/],
    [['train', ...short, '--caption-weight', '0', '--contrastive-weight', '0'], /^coca: --caption-weight and --contrastive-weight are both 0: nothing would be learned; keep at least one above 0$/],
    [['eval', 'ck', '--no-baselines', '--max-items', '0'], /^coca: --max-items must be a whole number ≥ 1, got 0$/],
    [['data', 'export', '--count', '0', '--out', 'exported'], /^coca: --count must be a whole number ≥ 1, got 0$/],
    [['bench', 'pointwise', '--runs', '0'], /^coca: --runs must be a whole number ≥ 1, got 0$/],
  ])('coca %j', (args, line) => {
    const before = folderHash(dir);
    const r = coca(args, { cwd: dir });
    expectOneLine(r, line);
    expect(r.status).toBe(1);
    expect(folderHash(dir)).toBe(before);
  });
});

describe('damaged files are named in one line', () => {
  it('a checkpoint whose config.json is not JSON', () => {
    const bad = path.join(dir, 'bad-ck');
    fs.cpSync(ck, bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'config.json'), '{"embed_dim": 32,');
    // Without its manifest (as checkpoints written before coca kept one), so the damage reaches the reader.
    fs.rmSync(path.join(bad, 'manifest.json'), { force: true });
    const r = coca(['caption', pics.red, '--checkpoint', bad], { cwd: dir });
    expectOneLine(r, /^coca: \S+bad-ck\/config\.json is not valid JSON \(.+\); the checkpoint is damaged/, /^coca: note: \S+ has no manifest\.json/);
    expect(r.status).toBe(1);
  });

  it('an index whose items.json is not JSON, or not an index', () => {
    const ix = path.join(dir, 'bad-index');
    fs.mkdirSync(ix);
    fs.writeFileSync(path.join(ix, 'embeddings.safetensors'), '');
    fs.writeFileSync(path.join(ix, 'items.json'), '{"format": "coca-index-1", "items": [');
    let r = coca(['retrieve', '--text', 'a dog', '--index', 'bad-index'], { cwd: dir });
    expectOneLine(r, /^coca: bad-index\/items\.json is not valid JSON \(.+\); rebuild the index with 'coca index build'$/);
    expect(r.status).toBe(1);
    fs.writeFileSync(path.join(ix, 'items.json'), '{"format": "coca-index-1", "items": 3}');
    r = coca(['retrieve', '--text', 'a dog', '--index', 'bad-index'], { cwd: dir });
    expectOneLine(r, /^coca: bad-index\/items\.json lacks the items or checkpoint of an index; rebuild it with 'coca index build'$/);
    expect(r.status).toBe(1);
  });
});

describe('files a command writes are never its inputs', () => {
  // Refused before the GPU opens; without the check, each of these overwrites its input.
  it('coca caption --attention naming one of the pictures it captions (through a symlink)', () => {
    const before = folderHash(path.join(dir, 'pics'));
    const r = coca(['caption', pics.red, pics.blue, '--checkpoint', ck, '--beams', '1', '--max-len', '4', '--attention', 'pics-link/blue.jpg'], { cwd: dir });
    expectOneLine(r, new RegExp(`^coca: --attention pics-link/blue\\.jpg is this command's input ${pics.blue.replace(/[.]/g, '\\.')}; write the output somewhere else$`));
    expect(r.status).toBe(1);
    expect(folderHash(path.join(dir, 'pics'))).toBe(before);
  });

  it('coca eval --json naming a file of the checkpoint it evaluates', () => {
    const before = folderHash(ck);
    const r = coca(['eval', ck, '--no-baselines', '--split', 'test-concept', '--max-items', '2', '--max-len', '4', '--json', path.join(ck, 'config.json')], { cwd: dir });
    expectOneLine(r, /^coca: --json \S+\/ck\/config\.json lies inside this command's input \S+\/ck; write the output somewhere else$/);
    expect(r.status).toBe(1);
    expect(folderHash(ck)).toBe(before);
  });
});

describe('coca index build --out', () => {
  it("refuses a user's folder (whose own items.json it would overwrite) and the folder of pictures it indexes", () => {
    const user = path.join(dir, 'user');
    fs.mkdirSync(user);
    fs.writeFileSync(path.join(user, 'items.json'), '{"shopping": ["milk"]}\n');
    let before = folderHash(user);
    let r = coca(['index', 'build', 'pics', '--checkpoint', ck, '--out', 'user'], { cwd: dir });
    expectOneLine(r, /^coca: --out user already holds files that 'coca index build' did not write \(items\.json\); name a new or empty folder, nothing was changed$/);
    expect(r.status).toBe(1);
    expect(folderHash(user)).toBe(before);
    before = folderHash(path.join(dir, 'pics'));
    r = coca(['index', 'build', 'pics', '--checkpoint', ck, '--out', 'pics-link/'], { cwd: dir });
    expectOneLine(r, /^coca: --out pics-link\/ is this command's input pics; write the output somewhere else$/);
    expect(r.status).toBe(1);
    expect(folderHash(path.join(dir, 'pics'))).toBe(before);
  });
});

describe('coca serve', () => {
  it('a port in use is one line naming it', async () => {
    const holder = net.createServer();
    await new Promise<void>((ok) => holder.listen(0, '127.0.0.1', ok));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = coca(['serve', '--checkpoint', ck, '--port', String(port)], { cwd: dir });
      expect(r.status).toBe(1);
      expectOneLine(r, new RegExp(`^coca: port ${port} on 127\\.0\\.0\\.1 is in use by another program; stop it or pick another --port \\(0 takes any free one\\)$`));
    } finally {
      holder.close();
    }
  });
});

describe('coca caption', () => {
  it('captions every readable picture, names each unreadable one, and exits 1', () => {
    const r = coca(['caption', pics.red, pics.corrupt, pics.blue, 'pics/none-such.png', '--checkpoint', ck, '--beams', '1', '--max-len', '5', '--batch', '4'], { cwd: dir });
    expect(r.status).toBe(1);
    const captioned = r.stdout.trim().split('\n').map((l) => l.split('\t')[0]);
    expect(captioned).toEqual([pics.red, pics.blue]);
    const errs = r.stderr.split('\n').filter((l) => l.startsWith('coca: '));
    expect(errs).toHaveLength(2);
    expect(errs[0]).toMatch(/^coca: cannot decode image \S+corrupt\.png/);
    expect(errs[1]).toBe('coca: pics/none-such.png: no such file');
  });
});
