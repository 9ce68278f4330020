// `coca serve` as a process on an ephemeral loopback port: real HTTP, and SIGTERM while a
// request is in flight: the request is answered, then the process exits 0.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { testGpu } from '../helpers/gpu.ts';
import { form, read, serveFixture, type Fixture } from './helpers.ts';

let gpu: Gpu;
let dir: string;
let fx: Fixture;
const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'coca.js');

beforeAll(async () => {
  gpu = await testGpu();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-serve-cli-'));
  fx = await serveFixture(gpu, dir);
});
afterAll(() => {
  fx?.ck.release();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('listens on loopback, answers over HTTP, and on SIGTERM finishes the request in flight before exiting 0', async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--checkpoint', path.join(dir, 'ck'), '--index', path.join(dir, 'index'), '--port', '0', '--log'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const seen = (re: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = out.match(re);
        if (m) resolve(m);
      };
      child.stdout.on('data', (d: Buffer) => ((out += d), check()));
      child.on('exit', (c) => reject(new Error(`coca serve exited ${c}: ${err}`)));
      check();
    });
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  try {
    const [, url] = await seen(/coca serve: (http:\/\/127\.0\.0\.1:\d+)/);
    expect(out).toMatch(/index .*index \(4 pictures\)/);
    const health = (await (await fetch(`${url}/api/health`)).json()) as { checkpoint: { id: string } };
    expect(health.checkpoint.id).toBe(fx.ck.id);
    const f = await form({ bytes: read(fx.pics.blue), type: 'image/jpeg' }, { beams: 4, maxLen: 12 });
    const pending = fetch(`${url}/api/caption`, { method: 'POST', body: new Uint8Array(f.payload), headers: f.headers });
    await seen(/"url":"\/api\/caption"/);
    child.kill('SIGTERM');
    const res = await pending;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { captions: unknown[] }).captions).toHaveLength(1);
    expect(await exited).toBe(0);
    expect(out).toMatch(/SIGTERM: finishing requests in flight, then exiting/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
