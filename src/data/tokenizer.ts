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
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { CLIP_ASSETS, clipClean } from './clip-text.ts';
import { DataError } from './errors.ts';
import { normaliseCaption } from './text.ts';
import { DEFAULT_LANGUAGE, languageOfToken, languageToken } from './lang.ts';
import { writeFileAtomic } from '../util/atomic.ts';

export const PAD = '[PAD]';
export const SOT = '[SOT]';
export const EOT = '[EOT]';
const SPECIALS = [PAD, SOT, EOT];
export const CLIP_SOT = '<start_of_text>';
export const CLIP_EOT = '<end_of_text>';
const CACHE_LIMIT = 200_000;

interface TokenizerJson {
  added_tokens: { id: number; content: string; special: boolean }[];
  model: { type: string; vocab: Record<string, number>; merges: ([string, string] | string)[] };
  [k: string]: unknown;
}

export class Tokenizer {
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** coca's own, or CLIP's (open_clip's SimpleTokenizer). */
  readonly kind: 'coca' | 'clip';
  /** Whether padId is a token of its own; CLIP's pad id 0 is also "!", so it may be generated. */
  readonly padIsSpecial: boolean;
  readonly vocabSize: number;
  /** Caption languages with a token of their own, in id order; empty for a tokenizer without them. */
  readonly languages: readonly string[];
  private readonly langIds: ReadonlyMap<string, number>;
  private readonly hf: HfTokenizer;
  private readonly cache = new Map<string, number[]>();
  private readonly literals: string[];

  private constructor(readonly json: TokenizerJson) {
    const idOf = (t: string) => json.added_tokens?.find((a) => a.content === t)?.id;
    const ids = SPECIALS.map(idOf);
    const clip = [idOf(CLIP_SOT), idOf(CLIP_EOT)];
    if (ids[0] === 0 && ids[1] === 1 && ids[2] === 2) {
      [this.kind, this.padId, this.bosId, this.eosId, this.padIsSpecial, this.literals] = ['coca', 0, 1, 2, true, SPECIALS];
    } else if (clip[0] !== undefined && clip[1] !== undefined) {
      [this.kind, this.padId, this.bosId, this.eosId, this.padIsSpecial, this.literals] = ['clip', 0, clip[0], clip[1], false, [CLIP_SOT, CLIP_EOT]];
    } else {
      throw new DataError(`tokenizer.json has neither coca's special tokens ${SPECIALS.join(' ')} at ids 0 1 2 nor CLIP's ${CLIP_SOT} ${CLIP_EOT}; train one with 'coca data build' or 'coca data tokenizer'`);
    }
    const langs = (json.added_tokens ?? []).flatMap((a) => {
      const lang = this.kind === 'coca' ? languageOfToken(a.content) : undefined;
      return lang ? [[lang, a.id] as const] : [];
    });
    langs.sort((a, b) => a[1] - b[1]);
    this.langIds = new Map(langs);
    this.languages = langs.map(([l]) => l);
    this.literals = [...this.literals, ...langs.map(([l]) => languageToken(l))];
    this.hf = new HfTokenizer(json, { clean_up_tokenization_spaces: false });
    this.vocabSize = Math.max(...Object.values(json.model.vocab), ...json.added_tokens.map((a) => a.id)) + 1;
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

  static fromJSON(json: TokenizerJson): Tokenizer {
    if (json?.model?.type !== 'BPE') throw new DataError('tokenizer.json is not a BPE tokenizer; coca expects the byte-level BPE written by coca data build');
    return new Tokenizer(json);
  }

  /**
   * [SOT] text [EOT], normalised like the stored captions; with `contextLength`, truncated so that
   * [EOT] stays last. A literal "[SOT]" in the text is dropped rather than read as the token.
   * A multilingual tokenizer puts the language's token after [SOT] (English when not given).
   */
  encode(text: string, contextLength?: number, lang?: string): number[] {
    const body = this.cache.get(text) ?? this.encodeBody(text);
    const head = [this.bosId, ...this.languagePrefix(lang)];
    const max = contextLength === undefined ? body.length : Math.max(0, contextLength - head.length - 1);
    return [...head, ...body.slice(0, max), this.eosId];
  }

  /**
   * The tokens after [SOT] that say a caption's language: [lang:xx] for a multilingual tokenizer
   * (English when `lang` is not given), nothing for one without language tokens when `lang` is
   * English or not given. Any other language throws one line saying which languages there are.
   */
  languagePrefix(lang?: string): number[] {
    if (this.languages.length === 0) {
      if (lang === undefined || lang === DEFAULT_LANGUAGE) return [];
      throw new DataError(`this model's tokenizer has no language tokens (it was trained on English captions only), so it cannot write or read '${lang}'; leave out --lang, or train on a dataset with languages (coca data build)`);
    }
    const id = this.langIds.get(lang ?? DEFAULT_LANGUAGE);
    if (id === undefined) throw new DataError(`this model's tokenizer has no language '${lang}'; it has ${this.languages.join(', ')}`);
    return [id];
  }

  private encodeBody(text: string): number[] {
    // A literal special token in the text is dropped, never read as the token (open_clip would
    // read "<end_of_text>" typed in a caption as the real one).
    const dropLiterals = (s: string) => this.literals.reduce((acc, t) => acc.replaceAll(t, ' '), s);
    const clean = this.kind === 'clip' ? dropLiterals(clipClean(text)) : normaliseCaption(dropLiterals(text));
    const body = this.hf.encode(clean, { add_special_tokens: false }).ids;
    // Training re-encodes the same captions every epoch; past the bound, start afresh.
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(text, body);
    return body;
  }

  /**
   * The ids a caption search needs; pad -1 when the pad id is a real token that may be generated
   * (CLIP's "!"). A multilingual tokenizer adds the language token the search starts with after
   * [SOT] (`prefix`) and the language tokens it must never generate (`banned`).
   */
  searchIds(lang?: string): { sot: number; eot: number; pad: number; prefix?: number[]; banned?: number[] } {
    const ids = { sot: this.bosId, eot: this.eosId, pad: this.padIsSpecial ? this.padId : -1 };
    const prefix = this.languagePrefix(lang);
    return prefix.length > 0 ? { ...ids, prefix, banned: [...this.langIds.values()] } : ids;
  }

  /** Token ids in a row of `contextLength`, padded with padId. */
  encodePadded(text: string, contextLength: number, out = new Int32Array(contextLength), offset = 0, lang?: string): Int32Array {
    const ids = this.encode(text, contextLength, lang);
    out.fill(this.padId, offset, offset + contextLength);
    for (let i = 0; i < ids.length; i++) out[offset + i] = ids[i]!;
    return out;
  }

  /** A [texts.length, contextLength] row-major matrix of padded ids; `langs`: one language for all, or one per text. */
  encodeBatch(texts: readonly string[], contextLength: number, langs?: string | readonly (string | undefined)[]): Int32Array {
    const out = new Int32Array(texts.length * contextLength);
    texts.forEach((t, i) => this.encodePadded(t, contextLength, out, i * contextLength, typeof langs === 'string' ? langs : langs?.[i]));
    return out;
  }

  /** Text of the ids up to the first [EOT], specials and padding removed. */
  decode(ids: ArrayLike<number>): string {
    const body: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === this.eosId) break;
      if ((this.padIsSpecial && id === this.padId) || id === this.bosId || this.isLanguageId(id)) continue;
      body.push(id);
    }
    // An immediate [EOT] is an empty caption (an untrained decoder emits one), not an error.
    if (body.length === 0) return '';
    return this.hf.decode(body, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  private isLanguageId(id: number): boolean {
    return this.languages.length > 0 && this.languages.some((l) => this.langIds.get(l) === id);
  }

  /** The sub-word strings of a text (for inspection and stats). */
  pieces(text: string): string[] {
    return (this.cache.get(text) ?? this.encodeBody(text)).map((id) => this.hf.id_to_token(id) ?? '?');
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
