// Byte-level BPE tokenizer stored as a Hugging Face `tokenizer.json`. Training uses Hugging Face's
// Rust `tokenizers` (in a child process: its trainer blocks the event loop and prints blank lines to
// stdout); encoding and decoding use the pure-JS `@huggingface/tokenizers`, which gives the same ids.
// Both libraries ignore padding/truncation settings for our purposes, so those are done here.
//
// Two kinds of tokenizer.json are read. coca's own has [PAD] [SOT] [EOT] at ids 0 1 2. CLIP's
// (open_clip's bpe_simple_vocab_16e6 as tokenizer.json, src/data/clip/, written by
// scripts/reference/clip_tokenizer.py) has <start_of_text> 49406 and <end_of_text> 49407 and pads
// with id 0, which is also the token "!"; its text is first cleaned as open_clip does
// (clip-text.ts: ftfy and html.unescape, which tokenizer.json cannot express).
//
// A multilingual tokenizer (coca data build with languages) adds one token per language after
// the merges ([lang:en], [lang:ru], ...): every caption is [SOT] [lang:xx] text [EOT], English ones
// included. One without them encodes exactly as before, and takes no language but English.
import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { CLIP_ASSETS, clipClean } from './clip-text.ts';
import { DataError } from './errors.ts';
import { languageToken } from './lang.ts';
import { normaliseCaption } from './text.ts';
import { checkBpe, SPECIALS, TokenizerCore, type TokenizerJson } from './tokenizer-core.ts';
import { writeFileAtomic } from '../util/atomic.ts';

export { CLIP_EOT, CLIP_SOT, EOT, PAD, SOT, TokenizerCore } from './tokenizer-core.ts';

/** A tokenizer that also reads and writes tokenizer.json files and cleans text as CLIP does. */
export class Tokenizer extends TokenizerCore {
  private constructor(json: TokenizerJson) {
    super(json, clipClean);
  }

  static load(file: string): Tokenizer {
    let json: TokenizerJson;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8')) as TokenizerJson;
    } catch (e) {
      throw new DataError(`cannot read tokenizer ${file} (${(e as Error).message.split('\n')[0]}); build the dataset again or pass another tokenizer.json`);
    }
    return Tokenizer.fromJSON(json);
  }

  static override fromJSON(json: TokenizerJson): Tokenizer {
    checkBpe(json);
    return new Tokenizer(json);
  }

  save(file: string): void {
    writeFileAtomic(file, JSON.stringify(this.json));
  }
}

/** CLIP's tokenizer (open_clip's bpe_simple_vocab_16e6, MIT; src/data/clip/LICENSE), as shipped with coca. */
export function clipTokenizer(): Tokenizer {
  return Tokenizer.fromJSON(JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(CLIP_ASSETS, 'tokenizer.json.gz'))).toString('utf8')) as TokenizerJson);
}

/**
 * Learns a byte-level BPE of at most `vocabSize` ids (3 specials + 256 bytes + merges, then one
 * token per language of `languages` when given) from the captions. A small corpus may run out of
 * merges before reaching it.
 */
export function trainTokenizer(captions: readonly string[], vocabSize: number, languages: readonly string[] = []): Tokenizer {
  if (vocabSize < SPECIALS.length + 256 + 1 + languages.length) throw new DataError(`vocabulary size ${vocabSize} is too small: byte-level BPE needs at least ${SPECIALS.length + 257 + languages.length}`);
  const lines = captions.map(normaliseCaption).filter((c) => c.length > 0);
  if (lines.length === 0) throw new DataError('no captions to learn a tokenizer from; the training split is empty');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coca-bpe-'));
  try {
    const corpus = path.join(tmp, 'corpus.txt');
    const raw = path.join(tmp, 'raw.json');
    fs.writeFileSync(corpus, lines.join('\n') + '\n');
    const lib = createRequire(import.meta.url).resolve('tokenizers');
    // The Node bindings take no trainer options: the default trainer runs to 30k tokens and the
    // vocabulary is cut to size below (merges are learned greedily, so a prefix is a smaller run).
    const script = `
      const T = require(${JSON.stringify(lib)});
      const tok = new T.Tokenizer(T.BPE.empty());
      tok.setNormalizer(T.sequenceNormalizer([T.nfkcNormalizer(), T.lowercase()]));
      tok.setPreTokenizer(T.byteLevelPreTokenizer(false, true));
      tok.train([${JSON.stringify(corpus)}]);
      tok.save(${JSON.stringify(raw)}, false);`;
    execFileSync(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    const trained = JSON.parse(fs.readFileSync(raw, 'utf8')) as TokenizerJson;
    return Tokenizer.fromJSON(withLanguages(cutVocabulary(trained, vocabSize - languages.length, byteAlphabet()), languages));
  } catch (e) {
    if (e instanceof DataError) throw e;
    const err = e as { stderr?: Buffer; message: string };
    throw new DataError(`tokenizer training failed (${(err.stderr?.toString().trim() || err.message).split('\n')[0]}); check that the 'tokenizers' package is installed (npm ci)`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** GPT-2's byte-to-unicode table, in byte order: the base alphabet of byte-level BPE. */
export function byteAlphabet(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const chars: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return chars;
}

/** Language tokens after the last merge, so a tokenizer's byte and merge ids do not depend on its languages. */
function withLanguages(json: TokenizerJson, languages: readonly string[]): TokenizerJson {
  if (languages.length === 0) return json;
  const vocab = { ...json.model.vocab };
  let next = Math.max(...Object.values(vocab)) + 1;
  const added = [...json.added_tokens];
  for (const lang of languages) {
    const content = languageToken(lang);
    vocab[content] = next;
    added.push({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true } as TokenizerJson['added_tokens'][number]);
  }
  return { ...json, added_tokens: added, model: { ...json.model, vocab } };
}

function cutVocabulary(trained: TokenizerJson, vocabSize: number, alphabet: string[]): TokenizerJson {
  const vocab: Record<string, number> = {};
  let next = SPECIALS.length;
  // Specials sit in the model vocabulary too, so ids 0-2 are never handed to a real token.
  SPECIALS.forEach((t, i) => (vocab[t] = i));
  for (const ch of alphabet) vocab[ch] = next++;
  const merges: [string, string][] = [];
  for (const m of trained.model.merges) {
    if (next >= vocabSize) break;
    const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
    if (!(a in vocab) || !(b in vocab)) continue;
    merges.push([a, b]);
    if (!(a + b in vocab)) vocab[a + b] = next++;
  }
  return {
    ...trained,
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { ...trained.model, vocab, merges },
  };
}
