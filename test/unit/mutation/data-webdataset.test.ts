// The WebDataset reader (src/data/readers/webdataset.ts) in process, fast: shard arguments (URL,
// brace pattern, .tar, list file, folder) and their splits, the folder the shards live in, the
// reading of one shard from disk and from a loopback server (grouping by key, retries that go on
// after the samples already handed out, the one line about a shard that fails), and what makes a
// sample a usable pair. The tars are made here member by member; the "pictures" are never decoded
// here, so they are a few bytes. Expected values are worked out from WebDataset's rules.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tar from 'tar-stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DataError } from '../../../src/data/errors.ts';
import { Problems } from '../../../src/data/readers/common.ts';
import {
  besideShards,
  expandBraces,
  isShardSpec,
  pairOf,
  pairTranslations,
  readAllPairs,
  readShard,
  resolveShards,
  shardFolderSplits,
  shardHome,
  shardsOfSplit,
  splitKey,
  type RawSample,
  type ShardPair,
} from '../../../src/data/readers/webdataset.ts';
import { tempDir } from '../data/fixtures.ts';

type Member = { name: string; data?: Buffer; type?: 'file' | 'contiguous-file' | 'directory' | 'symlink' };

async function tarOf(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const m of members) {
    if (m.type === 'directory') pack.entry({ name: m.name, type: 'directory' });
    else if (m.type === 'symlink') pack.entry({ name: m.name, type: 'symlink', linkname: 'elsewhere' });
    else pack.entry({ name: m.name, size: m.data!.length, type: m.type ?? 'file' }, m.data!);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Samples k0..k(n-1), each a png and a txt "caption k". */
const simple = (n: number, prefix = 'k'): Member[] =>
  Array.from({ length: n }, (_, k) => [
    { name: `${prefix}${k}.png`, data: Buffer.from(`png ${k}`) },
    { name: `${prefix}${k}.txt`, data: Buffer.from(`caption ${k}`) },
  ]).flat();

async function collect(shard: string, o: Parameters<typeof readShard>[1] = {}): Promise<RawSample[]> {
  const out: RawSample[] = [];
  for await (const s of readShard(shard, o)) out.push(s);
  return out;
}
const summary = (s: RawSample) => `${s.index}:${s.key}:${[...s.parts.keys()].join('+')}`;

let root: string;
beforeAll(() => {
  root = tempDir('coca-wds-unit-');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function write(rel: string, data: string | Buffer = ''): string {
  const f = path.join(root, rel);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, data);
  return f;
}

describe('shard arguments', () => {
  it('a URL, a brace pattern or a .tar name is shards without looking at the disk', () => {
    for (const spec of ['http://host/a', 'HTTPS://host/x.zip', 'nowhere/{1..2}.x', 'nowhere/{a,b}', 'nowhere/x.TAR', 'nowhere/x.tar']) expect(isShardSpec(spec), spec).toBe(true);
    for (const spec of ['ftp://host/a', 'nowhere/x.tar.gz', 'nowhere/{a}', 'nowhere/{1..}', 'xhttp://h/a', path.join(root, 'missing')]) expect(isShardSpec(spec), spec).toBe(false);
  });

  it('a list file is one whose every line names a .tar (a query, a pattern); comments and blanks aside', () => {
    const yes = ['a.tar\n# c\n\n  b.TAR  \n', 'http://h/a.tar?x=1\n', 'p/{0..3}.tar\n', 'p/{a,b}-x.tar.idx\n'];
    yes.forEach((t, k) => expect(isShardSpec(write(`lists/yes${k}.txt`, t)), t).toBe(true));
    const no = ['# only a comment\n\n', 'a.tar\nb.zip\n', 'a.tar.gz\n', 'p/{0..3}.zip\n', 'a.tarx\n', 'a.tar?\nb.png\n'];
    no.forEach((t, k) => expect(isShardSpec(write(`lists/no${k}.txt`, t)), t).toBe(false));
  });

  it('a list file over 16 MiB is not read', () => {
    const limit = 16 * 2 ** 20;
    // A small list file whose size the disk reports as the limit, then one byte over it.
    const list = write('lists/sized.txt', 'a.tar\n');
    const realStat = fs.statSync;
    let size = 0;
    vi.spyOn(fs, 'statSync').mockImplementation(((p: fs.PathLike) => Object.assign(realStat(p), { size })) as typeof fs.statSync);
    size = limit;
    expect(isShardSpec(list)).toBe(true);
    size = limit + 1;
    expect(isShardSpec(list)).toBe(false);
  });

  it('a folder is shards when it holds .tar files at its top or in split folders, and no caption file', () => {
    write('flat/00001.tar');
    write('flat/00000.TAR');
    write('flat/notes.tar.gz');
    expect(shardFolderSplits(path.join(root, 'flat'))).toEqual({ flat: [path.join(root, 'flat/00000.TAR'), path.join(root, 'flat/00001.tar')] });
    write('split/val/1.tar');
    write('split/train/b.tar');
    write('split/train/a.tar');
    write('split/empty/readme.md');
    write('split/loose.md');
    expect(shardFolderSplits(path.join(root, 'split'))).toEqual({
      splits: { train: [path.join(root, 'split/train/a.tar'), path.join(root, 'split/train/b.tar')], val: [path.join(root, 'split/val/1.tar')] },
    });
    expect(Object.keys((shardFolderSplits(path.join(root, 'split')) as { splits: object }).splits)).toEqual(['train', 'val']);
    write('none/readme.md');
    fs.mkdirSync(path.join(root, 'none/sub'));
    expect(shardFolderSplits(path.join(root, 'none'))).toBeNull();
    expect(isShardSpec(path.join(root, 'none'))).toBe(false);
    expect(isShardSpec(path.join(root, 'split'))).toBe(true);
  });

  it('a folder a dataset reader recognises stays that dataset; names that only look alike do not count', () => {
    const captionFiles = ['manifest.json', 'captions.jsonl', 'Flickr8k.token.txt', 'annotations', 'dataset_flickr8k.json', 'captions_train2017.json', 'pairs.tsv', '.tsv'];
    for (const [k, name] of captionFiles.entries()) {
      write(`ds${k}/x.tar`);
      write(`ds${k}/${name}`);
      expect(shardFolderSplits(path.join(root, `ds${k}`)), name).toBeNull();
    }
    const lookalikes = ['old-manifest.json', 'manifest.json.bak', 'captions.jsonl.1', 'my_Flickr8k.token.txt', 'annotations2', 'dataset_.json', 'dataset_a-b.json', 'captions_.json', 'pairs.tsv.gz'];
    for (const [k, name] of lookalikes.entries()) {
      write(`like${k}/x.tar`);
      write(`like${k}/${name}`);
      expect(shardFolderSplits(path.join(root, `like${k}`)), name).toEqual({ flat: [path.join(root, `like${k}/x.tar`)] });
    }
  });

  it('expands brace ranges (width kept only for zero-padded bounds of one width) and lists, several braces multiplied', () => {
    expect(expandBraces('a/{08..11}.tar')).toEqual(['a/08.tar', 'a/09.tar', 'a/10.tar', 'a/11.tar']);
    expect(expandBraces('{8..11}')).toEqual(['8', '9', '10', '11']);
    expect(expandBraces('{09..100}')).toHaveLength(92);
    expect(expandBraces('{09..100}')[0]).toBe('9');
    expect(expandBraces('{10..12}')).toEqual(['10', '11', '12']);
    expect(expandBraces('{3..3}')).toEqual(['3']);
    expect(expandBraces('s{a,b}-{0..1}.t{x,y}')).toEqual(['sa-0.tx', 'sa-0.ty', 'sa-1.tx', 'sa-1.ty', 'sb-0.tx', 'sb-0.ty', 'sb-1.tx', 'sb-1.ty']);
    expect(expandBraces('x{a,}y')).toEqual(['xay', 'xy']);
    expect(expandBraces('plain.tar')).toEqual(['plain.tar']);
    expect(() => expandBraces('p{5..3}.tar')).toThrow(new DataError('shard pattern p{5..3}.tar: the range {5..3} runs backwards; write the smaller number first'));
    expect(() => expandBraces('p{1..1000001}')).toThrow(new DataError('shard pattern p{1..1000001}: the range {1..1000001} names over a million shards; check the pattern'));
  });

  it('resolves a folder, a list file (relative to its folder), a pattern and a URL into shards', () => {
    expect(resolveShards(path.join(root, 'flat'))).toEqual({ splits: null, all: [path.join(root, 'flat/00000.TAR'), path.join(root, 'flat/00001.tar')] });
    expect(resolveShards(path.join(root, 'split'))).toEqual({
      splits: { train: [path.join(root, 'split/train/a.tar'), path.join(root, 'split/train/b.tar')], val: [path.join(root, 'split/val/1.tar')] },
      all: [path.join(root, 'split/train/a.tar'), path.join(root, 'split/train/b.tar'), path.join(root, 'split/val/1.tar')],
    });
    expect(() => resolveShards(path.join(root, 'none'))).toThrow(new DataError(`${path.join(root, 'none')} holds no .tar shards`));
    const list = write('lists/mixed.shards', `rel/{0..1}.tar\n# skip\n/abs/x.tar\nhttp://h/y.tar\n`);
    expect(resolveShards(list)).toEqual({ splits: null, all: [path.join(root, 'lists/rel/0.tar'), path.join(root, 'lists/rel/1.tar'), '/abs/x.tar', 'http://h/y.tar'] });
    expect(resolveShards('http://h/s-{0..1}.tar')).toEqual({ splits: null, all: ['http://h/s-0.tar', 'http://h/s-1.tar'] });
    expect(resolveShards('nowhere/one.tar')).toEqual({ splits: null, all: ['nowhere/one.tar'] });
  });

  it('gives a split’s shards, every shard for all, and refuses a split a set does not have in one line', () => {
    const split = path.join(root, 'split');
    expect(shardsOfSplit(split, 'val')).toEqual([path.join(root, 'split/val/1.tar')]);
    expect(shardsOfSplit(split, 'all')).toHaveLength(3);
    expect(() => shardsOfSplit(split, 'test')).toThrow(new DataError(`${split} has no split 'test'; it has train, val`));
    const flat = path.join(root, 'flat');
    expect(shardsOfSplit(flat, 'train')).toHaveLength(2);
    expect(shardsOfSplit(flat, 'all')).toHaveLength(2);
    expect(() => shardsOfSplit(flat, 'val')).toThrow(
      new DataError(`${flat} is a set of shards without splits, so it has no 'val'; pass --split train (or all), or lay shards out as <folder>/<split>/*.tar (coca data shards does)`),
    );
  });

  it('finds the shards’ folder, and a file beside them or one folder up', () => {
    expect(shardHome(path.join(root, 'split'))).toBe(path.join(root, 'split'));
    expect(shardHome(path.join(root, 'lists/mixed.shards'))).toBe(path.join(root, 'lists'));
    expect(shardHome(path.join(root, 'split/val/1.tar'))).toBe(path.join(root, 'split/val'));
    expect(shardHome('far/away/{0..2}.tar')).toBe('far/away');
    expect(shardHome('https://h/data/s-{0..2}.tar')).toBe('https://h/data');
    write('split/tokenizer.json', '{}');
    write('split/val/shards.json', '{}');
    write('split/shards.json', '{}');
    const val = path.join(root, 'split/val');
    expect(besideShards(val, 'shards.json')).toBe(path.join(val, 'shards.json'));
    expect(besideShards(val, 'tokenizer.json')).toBe(path.join(root, 'split/tokenizer.json'));
    expect(besideShards(val, 'nothing.json')).toBeUndefined();
    expect(besideShards('https://h/data/s.tar', 'tokenizer.json')).toBeUndefined();
  });

  it('keys a member by its path up to the first dot of its basename, the rest lower case', () => {
    expect(splitKey('a.b/c/0001.seg.JPG')).toEqual({ key: 'a.b/c/0001', ext: 'seg.jpg' });
    expect(splitKey('k.txt')).toEqual({ key: 'k', ext: 'txt' });
    expect(splitKey('dir/.hidden')).toBeNull();
    expect(splitKey('.hidden')).toBeNull();
    expect(splitKey('dir.d/noext')).toBeNull();
    expect(splitKey('k.')).toEqual({ key: 'k', ext: '' });
    // A dot just before the slash belongs to the folder, not to the basename.
    expect(splitKey('v1./k0.txt')).toEqual({ key: 'v1./k0', ext: 'txt' });
  });
});

describe('reading one shard from disk', () => {
  it('groups consecutive members by key, numbers the samples, and passes over folders, links and names without a key', async () => {
    const f = write(
      'read/a.tar',
      await tarOf([
        { name: 'd', type: 'directory' },
        { name: 'd/k0.PNG', data: Buffer.from('p0') },
        { name: 'd/k0.txt', data: Buffer.from('t0') },
        { name: 'README', data: Buffer.from('no key') },
        { name: 'd/k0.json', data: Buffer.from('{}') },
        { name: 'd/k1.png', data: Buffer.from('p1') },
        { name: 'd/k1.jpg', data: Buffer.from('c1'), type: 'contiguous-file' },
        { name: 'd/k1.lnk', type: 'symlink' },
        { name: 'd/k0.txt', data: Buffer.from('again') },
      ]),
    );
    const got = await collect(f);
    expect(got.map(summary)).toEqual(['0:d/k0:png+txt+json', '1:d/k1:png+jpg', '2:d/k0:txt']);
    expect(got.every((s) => s.shard === f)).toBe(true);
    expect(got[0]!.parts.get('png')!.toString()).toBe('p0');
    expect(got[2]!.parts.get('txt')!.toString()).toBe('again');
  });

  it('names a truncated shard in one line, keeping the samples before the cut; strict stops there', async () => {
    const whole = await tarOf(simple(4));
    // Cut inside sample 2's picture: samples 0 and 1 are whole (4 members of 512-byte header + 512-byte body each).
    const f = write('read/cut.tar', whole.subarray(0, 4 * 1024 + 512 + 3));
    const lines: string[] = [];
    const got = await collect(f, { warn: (l) => lines.push(l) });
    expect(got.map(summary)).toEqual(['0:k0:png+txt', '1:k1:png+txt']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^warning: shard ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: truncated \\(.+\\); 2 samples read from it, the rest skipped; pass --strict to stop instead$`));
    await expect(collect(f, { strict: true })).rejects.toThrow(new RegExp(`^shard .*cut\\.tar: truncated \\(.+\\); 2 samples read from it \\(--strict stops at the first unreadable shard\\)$`));
    // Told on the console, with coca's prefix, when no one else is told.
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    await collect(f);
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]![0]).toMatch(/^coca: warning: shard .*cut\.tar: truncated/);
  });

  it('gives no sample for a shard without a keyed member, and tells nothing', async () => {
    const f = write('read/keyless.tar', await tarOf([{ name: 'd', type: 'directory' }, { name: 'README', data: Buffer.from('no key') }]));
    const lines: string[] = [];
    expect(await collect(f, { warn: (l) => lines.push(l) })).toEqual([]);
    expect(await collect(write('read/empty.tar', await tarOf([])), { warn: (l) => lines.push(l) })).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('does not take an error its reader is handed (a consumer’s throw) for a failing shard', async () => {
    const f = write('read/thrown.tar', await tarOf(simple(3)));
    const lines: string[] = [];
    const it = readShard(f, { warn: (l) => lines.push(l) });
    expect(summary((await it.next()).value as RawSample)).toBe('0:k0:png+txt');
    await expect(it.throw(new Error('the consumer stopped'))).rejects.toThrow(new Error('the consumer stopped'));
    expect(lines).toEqual([]);
  });

  it('names a truncated shard by what cut it short even when its consumer is slow', async () => {
    // The reader waits at a sample while the archive's end is met: the member it then goes on
    // reading was destroyed meanwhile ("Stream was destroyed"), which is not the failure to name.
    const whole = await tarOf(simple(4));
    const f = write('read/cut-slow.tar', whole.subarray(0, 4 * 1024 + 512 + 3));
    const lines: string[] = [];
    let n = 0;
    for await (const _ of readShard(f, { warn: (l) => lines.push(l) })) {
      n++;
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(n).toBe(2);
    expect(lines).toEqual([`warning: shard ${f}: truncated (Unexpected end of data); 2 samples read from it, the rest skipped; pass --strict to stop instead`]);
  });

  it('names a shard that is not there, without trying again', async () => {
    const lines: string[] = [];
    const f = path.join(root, 'read/none.tar');
    expect(await collect(f, { warn: (l) => lines.push(l), tries: 3, backoffMs: 1 })).toEqual([]);
    expect(lines).toEqual([`warning: shard ${f}: no such file; 0 samples read from it, the rest skipped; pass --strict to stop instead`]);
  });
});

describe('reading one shard over http', () => {
  let server: http.Server;
  let base: string;
  let body: Buffer;
  /** Per path: what each request in turn gets ('ok', 'cut' after `cutAt` bytes, or an HTTP status). */
  const plans = new Map<string, (number | 'ok' | 'cut')[]>();
  const hits = new Map<string, number>();
  const cutAt = 3 * 1024;
  beforeAll(async () => {
    body = await tarOf(simple(5));
    server = http.createServer((req, res) => {
      const p = req.url ?? '';
      const n = hits.get(p) ?? 0;
      hits.set(p, n + 1);
      const plan = plans.get(p) ?? ['ok'];
      const step = plan[Math.min(n, plan.length - 1)]!;
      if (step === 'ok') return void res.writeHead(200).end(body);
      if (step === 'cut') {
        res.writeHead(200, { 'content-length': String(body.length) });
        res.write(body.subarray(0, cutAt), () => setTimeout(() => res.destroy(), 20));
        return;
      }
      res.writeHead(step).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('tries a dropped download again and goes on after the samples it has handed out', async () => {
    plans.set('/drop.tar', ['cut', 'ok']);
    const lines: string[] = [];
    const got = await collect(`${base}/drop.tar`, { warn: (l) => lines.push(l), backoffMs: 1 });
    expect(got.map(summary)).toEqual(['0:k0:png+txt', '1:k1:png+txt', '2:k2:png+txt', '3:k3:png+txt', '4:k4:png+txt']);
    expect(got.map((s) => s.parts.get('txt')!.toString())).toEqual(['caption 0', 'caption 1', 'caption 2', 'caption 3', 'caption 4']);
    expect(hits.get('/drop.tar')).toBe(2);
    expect(lines).toEqual([]);
  });

  it('tries a server error, too many requests and a request timeout again, up to the tries, then names the shard in one line', async () => {
    for (const status of [500, 503, 429, 408]) {
      const p = `/busy${status}.tar`;
      plans.set(p, [status, 'ok']);
      expect((await collect(`${base}${p}`, { backoffMs: 1, warn: () => {} })).length, String(status)).toBe(5);
      expect(hits.get(p)).toBe(2);
    }
    plans.set('/down.tar', [503]);
    const lines: string[] = [];
    expect(await collect(`${base}/down.tar`, { tries: 2, backoffMs: 1, warn: (l) => lines.push(l) })).toEqual([]);
    expect(hits.get('/down.tar')).toBe(2);
    expect(lines).toEqual([`warning: shard ${base}/down.tar: HTTP 503 Service Unavailable after 2 tries; 0 samples read from it, the rest skipped; pass --strict to stop instead`]);
    // The default is three tries.
    plans.set('/down3.tar', [503]);
    await collect(`${base}/down3.tar`, { backoffMs: 1, warn: () => {} });
    expect(hits.get('/down3.tar')).toBe(3);
    // A download cut every time: the samples before the cut stand.
    plans.set('/cut.tar', ['cut']);
    const cut: string[] = [];
    expect((await collect(`${base}/cut.tar`, { tries: 2, backoffMs: 1, warn: (l) => cut.push(l) })).map(summary)).toEqual(['0:k0:png+txt']);
    expect(cut).toHaveLength(1);
    expect(cut[0]).toMatch(new RegExp(`^warning: shard ${base}/cut\\.tar: (truncated \\(|).*after 2 tries; 1 samples read from it`));
  });

  it('names a dropped download by its failure even when the consumer is slow', async () => {
    plans.set('/drop-slow.tar', ['cut']);
    const lines: string[] = [];
    let n = 0;
    for await (const _ of readShard(`${base}/drop-slow.tar`, { tries: 1, warn: (l) => lines.push(l) })) {
      n++;
      await new Promise((r) => setTimeout(r, 150));
    }
    // Cut after three members: k0 whole, k1's picture; k1 is never handed out.
    expect(n).toBe(1);
    expect(lines).toEqual([`warning: shard ${base}/drop-slow.tar: truncated (terminated); 1 samples read from it, the rest skipped; pass --strict to stop instead`]);
  });

  it('waits longer before each retry', async () => {
    plans.set('/slow.tar', [503, 503, 'ok']);
    const t0 = Date.now();
    expect(await collect(`${base}/slow.tar`, { backoffMs: 250, warn: () => {} })).toHaveLength(5);
    // 250 ms, then 500 ms (not the default 200 and 400, nor 1 and 2 s).
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(740);
    expect(took).toBeLessThan(2500);
  });

  it('names an answer without a body in one line, without trying again', async () => {
    plans.set('/nobody.tar', [204]);
    const lines: string[] = [];
    expect(await collect(`${base}/nobody.tar`, { backoffMs: 1, warn: (l) => lines.push(l) })).toEqual([]);
    expect(hits.get('/nobody.tar')).toBe(1);
    expect(lines).toEqual([`warning: shard ${base}/nobody.tar: HTTP 204 No Content; 0 samples read from it, the rest skipped; pass --strict to stop instead`]);
  });

  it('closes the download when the reader is stopped early', async () => {
    // A server that sends sample k0 and the first header of k1, then holds the connection open.
    let closed!: () => void;
    const done = new Promise<'closed'>((r) => (closed = () => r('closed')));
    const held = http.createServer((_req, res) => {
      res.on('close', closed);
      res.writeHead(200);
      res.write(body.subarray(0, 2 * 1024 + 512));
    });
    await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
    try {
      const it = readShard(`http://127.0.0.1:${(held.address() as AddressInfo).port}/held.tar`, { tries: 1 });
      expect(summary((await it.next()).value as RawSample)).toBe('0:k0:png+txt');
      await it.return(undefined);
      expect(await Promise.race([done, new Promise((r) => setTimeout(() => r('still open'), 3000))])).toBe('closed');
    } finally {
      held.closeAllConnections();
      await new Promise<void>((r) => held.close(() => r()));
    }
  });

  it('does not try a missing shard again, and strict stops at it', async () => {
    plans.set('/gone.tar', [404]);
    const lines: string[] = [];
    expect(await collect(`${base}/gone.tar`, { backoffMs: 1, warn: (l) => lines.push(l) })).toEqual([]);
    expect(hits.get('/gone.tar')).toBe(1);
    expect(lines).toEqual([`warning: shard ${base}/gone.tar: HTTP 404 Not Found; 0 samples read from it, the rest skipped; pass --strict to stop instead`]);
    await expect(collect(`${base}/gone.tar`, { strict: true })).rejects.toThrow(new DataError(`shard ${base}/gone.tar: HTTP 404 Not Found; 0 samples read from it (--strict stops at the first unreadable shard)`));
  });

  it('counts a server that does not answer within a minute as a failed try', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let asked = 0;
    vi.stubGlobal('fetch', (_url: string, o: { signal: AbortSignal }) => {
      asked++;
      return new Promise((_, reject) => o.signal.addEventListener('abort', () => reject(new Error('This operation was aborted'))));
    });
    try {
      const lines: string[] = [];
      const done = collect('http://silent.invalid/x.tar', { tries: 2, backoffMs: 1, warn: (l) => lines.push(l) });
      await vi.advanceTimersByTimeAsync(59_999);
      expect([asked, lines.length]).toEqual([1, 0]);
      await vi.advanceTimersByTimeAsync(1 + 1 + 60_000);
      await done;
      expect(asked).toBe(2);
      expect(lines).toEqual(['warning: shard http://silent.invalid/x.tar: no answer within 60 s after 2 tries; 0 samples read from it, the rest skipped; pass --strict to stop instead']);
    } finally {
      vi.useRealTimers();
      vi.unstubAllGlobals();
    }
  });

  it('lets a body stream past the minute the answer had: the wait for an answer ends with it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    // As fetch does, aborting the request's signal fails a body still streaming.
    vi.stubGlobal('fetch', async (_url: string, o: { signal: AbortSignal }) => {
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          o.signal.addEventListener('abort', () => c.error(new DOMException('This operation was aborted', 'AbortError')));
        },
        async pull(c) {
          // The first half at once, the rest after 61 s.
          if (sent === 1) await new Promise((r) => setTimeout(r, 61_000));
          if (sent >= 2) return c.close();
          c.enqueue(new Uint8Array(sent === 0 ? body.subarray(0, 2048) : body.subarray(2048)));
          sent++;
        },
      });
      return new Response(stream, { status: 200 });
    });
    try {
      const lines: string[] = [];
      const got = collect('http://slow.invalid/x.tar', { tries: 1, warn: (l) => lines.push(l) });
      await vi.advanceTimersByTimeAsync(62_000);
      expect((await got).map(summary)).toEqual(['0:k0:png+txt', '1:k1:png+txt', '2:k2:png+txt', '3:k3:png+txt', '4:k4:png+txt']);
      expect(lines).toEqual([]);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
      vi.unstubAllGlobals();
    }
  });

  it('names a failed request by its error when it gives no cause, and an answer without a reason phrase by its status', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new Error('socket hang up');
    });
    try {
      const lines: string[] = [];
      await collect('http://h.invalid/a.tar', { tries: 2, backoffMs: 1, warn: (l) => lines.push(l) });
      expect(lines).toEqual(['warning: shard http://h.invalid/a.tar: cannot connect (socket hang up) after 2 tries; 0 samples read from it, the rest skipped; pass --strict to stop instead']);
      // HTTP/2 answers carry no reason phrase: the line has no trailing space.
      vi.stubGlobal('fetch', async () => new Response('gone', { status: 410 }));
      lines.length = 0;
      await collect('http://h.invalid/b.tar', { backoffMs: 1, warn: (l) => lines.push(l) });
      expect(lines).toEqual(['warning: shard http://h.invalid/b.tar: HTTP 410; 0 samples read from it, the rest skipped; pass --strict to stop instead']);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('names a server that cannot be reached', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const lines: string[] = [];
    await collect(`http://127.0.0.1:${port}/x.tar`, { tries: 2, backoffMs: 1, warn: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warning: shard http:\/\/127\.0\.0\.1:\d+\/x\.tar: cannot connect \(.*ECONNREFUSED.*\) after 2 tries; 0 samples read/);
  });
});

describe('pairs', () => {
  const sample = (parts: Record<string, string>, key = 'k', index = 4): RawSample => ({ key, shard: 's.tar', index, parts: new Map(Object.entries(parts).map(([e, v]) => [e, Buffer.from(v)])) });

  it('takes the picture in order of preference: jpg, jpeg, png, webp', () => {
    const p = new Problems('test', false);
    expect(pairOf(sample({ webp: 'w', png: 'p', jpeg: 'e', jpg: 'j', txt: 'x' }), p)!.image).toEqual({ ext: 'jpg', bytes: Buffer.from('j') });
    expect(pairOf(sample({ webp: 'w', png: 'p', jpeg: 'e', txt: 'x' }), p)!.image.ext).toBe('jpeg');
    expect(pairOf(sample({ webp: 'w', png: 'p', txt: 'x' }), p)!.image.ext).toBe('png');
    expect(pairOf(sample({ webp: 'w', gif: 'g', txt: 'x' }), p)!.image.ext).toBe('webp');
    expect(pairOf(sample({ gif: 'g', txt: 'x' }), p)).toBeNull();
    expect(p.summary()).toBe('warning: skipped 1 samples without an image (jpg, jpeg, png or webp) (s.tar:k) in test; pass --strict to stop at the first instead');
  });

  it('takes the txt captions (one a line, normalised, each once), else the json field, and keeps the json', () => {
    const p = new Problems('test', false);
    expect(pairOf(sample({ png: 'p', txt: '  A  Dog\n\na dog\nＣat ', json: '{"caption": "ignored", "id": 3}' }), p)).toEqual({
      key: 'k',
      shard: 's.tar',
      index: 4,
      image: { ext: 'png', bytes: Buffer.from('p') },
      captions: ['a dog', 'cat'],
      json: { caption: 'ignored', id: 3 },
    });
    expect(pairOf(sample({ png: 'p', json: '{"caption": "One"}' }), p)!.captions).toEqual(['one']);
    expect(pairOf(sample({ png: 'p', json: '{"alt": ["Two", 7, "two", "three"]}' }), p, 'alt')!.captions).toEqual(['two', 'three']);
    const plain = pairOf(sample({ png: 'p', txt: 'x' }), p)!;
    expect('json' in plain).toBe(false);
    expect(p.total).toBe(0);
  });

  it('counts a sample without a caption (naming the field) or whose json is not JSON; a json that is no object is no json', () => {
    const p = new Problems('test', false);
    expect(pairOf(sample({ png: 'p', json: '{"caption": 5}' }), p)).toBeNull();
    expect(pairOf(sample({ png: 'p', json: '{"other": "x"}' }, 'k2'), p, 'alt')).toBeNull();
    expect(pairOf(sample({ png: 'p', txt: ' \n ' }, 'k3'), p)).toBeNull();
    expect(pairOf(sample({ png: 'p', json: '{"caption": "a"' }, 'k4'), p)).toBeNull();
    expect(pairOf(sample({ png: 'p', json: '["caption"]' }, 'k5'), p)).toBeNull();
    expect(pairOf(sample({ png: 'p', json: 'null' }, 'k6'), p)).toBeNull();
    const arr = pairOf(sample({ png: 'p', txt: 'x', json: '[1]' }), p)!;
    expect('json' in arr).toBe(false);
    // Nor is a number, a string or true (JSON, but no object): the pair keeps its txt captions and no json.
    for (const scalar of ['5', '"caption"', 'true']) {
      const q = pairOf(sample({ png: 'p', txt: 'x', json: scalar }), p)!;
      expect(q.captions, scalar).toEqual(['x']);
      expect('json' in q, scalar).toBe(false);
    }
    expect(p.count('samples without a caption (txt or json "caption")')).toBe(4);
    expect(p.count('samples without a caption (txt or json "alt")')).toBe(1);
    expect(p.count('samples whose json is not JSON')).toBe(1);
    expect(p.summary()).toContain('1 samples whose json is not JSON (s.tar:k4)');
  });

  it('reads a pair’s translations from its json, normalised, each once, strings only', () => {
    const pair = (json?: Record<string, unknown>): ShardPair => ({ key: 'k', shard: 's', index: 0, image: { ext: 'png', bytes: Buffer.from('') }, captions: ['x'], ...(json ? { json } : {}) });
    expect(pairTranslations(pair())).toEqual({});
    expect(pairTranslations(pair({ i18n: 'ru' }))).toEqual({});
    expect(pairTranslations(pair({ i18n: ['ru'] }))).toEqual({});
    expect(pairTranslations(pair({ i18n: null }))).toEqual({});
    expect(pairTranslations(pair({ i18n: { ru: [' Кот ', 'кот', 3, ''], zh: '猫', ms: [], de: 4, fr: ['  '] } }))).toEqual({ ru: ['кот'], zh: ['猫'] });
  });

  it('reads every usable pair of several shards in order, strict as its problems say', async () => {
    const a = write('all/a.tar', await tarOf([...simple(2), { name: 'bad.png', data: Buffer.from('p') }]));
    const b = write('all/b.tar', await tarOf([{ name: 'j.png', data: Buffer.from('p') }, { name: 'j.json', data: Buffer.from('{"alt": "Alt text"}') }]));
    const p = new Problems('all', false);
    const got = await readAllPairs([a, b], p, { captionField: 'alt' });
    expect(got.map((x) => `${path.basename(x.shard)}:${x.index}:${x.captions.join('|')}`)).toEqual(['a.tar:0:caption 0', 'a.tar:1:caption 1', 'b.tar:0:alt text']);
    expect(p.total).toBe(1);
    await expect(readAllPairs([a], new Problems('all', true))).rejects.toThrow(/samples without a caption .*a\.tar:bad/);
    // Strict reaches the shard reading too: a missing shard stops the read.
    await expect(readAllPairs([path.join(root, 'all/none.tar')], new Problems('all', true))).rejects.toThrow(/no such file.*--strict/);
  });
});
