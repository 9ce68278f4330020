// The tokenizer's encoding and decoding (tokenizer.ts says what it is), with no file and no Node
// module: the browser encodes and decodes with it through the same @huggingface/tokenizers as
// Node. Reading, writing and training tokenizers, and CLIP's text clean-up, are tokenizer.ts's.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { DataError } from './errors.ts';
import { DEFAULT_LANGUAGE, languageOfToken, languageToken } from './lang.ts';
import { normaliseCaption } from './text.ts';

export const PAD = '[PAD]';
export const SOT = '[SOT]';
export const EOT = '[EOT]';
export const SPECIALS = [PAD, SOT, EOT];
export const CLIP_SOT = '<start_of_text>';
export const CLIP_EOT = '<end_of_text>';
const CACHE_LIMIT = 200_000;

export interface TokenizerJson {
  added_tokens: { id: number; content: string; special: boolean }[];
  model: { type: string; vocab: Record<string, number>; merges: ([string, string] | string)[] };
  [k: string]: unknown;
}

export function checkBpe(json: TokenizerJson): void {
  if (json?.model?.type !== 'BPE') throw new DataError('tokenizer.json is not a BPE tokenizer; coca expects the byte-level BPE written by coca data build');
}

export class TokenizerCore {
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

  /** `clipClean`: open_clip's text clean-up, which a CLIP tokenizer needs before encoding (clip-text.ts, Node only). */
  protected constructor(
    readonly json: TokenizerJson,
    private readonly clipClean?: (text: string) => string,
  ) {
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

  /** A tokenizer of coca's own kind (a CLIP one needs clip-text.ts's clean-up: tokenizer.ts's Tokenizer). */
  static fromJSON(json: TokenizerJson): TokenizerCore {
    checkBpe(json);
    return new TokenizerCore(json);
  }

  /**
   * [SOT] text [EOT], normalised like the stored captions; with `contextLength`, truncated so that
   * [EOT] stays last. A literal "[SOT]" in the text is dropped rather than read as the token.
   * A multilingual tokenizer puts the language's token after [SOT] (English when not given).
   * A context too short for [SOT] (language) [EOT] is refused: the ids would spill past the row.
   */
  encode(text: string, contextLength?: number, lang?: string): number[] {
    const body = this.cache.get(text) ?? this.encodeBody(text);
    const head = [this.bosId, ...this.languagePrefix(lang)];
    const need = head.length + 1;
    if (contextLength !== undefined && contextLength < need) {
      throw new DataError(`context length ${contextLength} cannot hold the ${need} tokens around every caption (start${need > 2 ? ', language' : ''} and end); the model's context_length must be at least ${need}`);
    }
    const max = contextLength === undefined ? body.length : contextLength - need;
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
    if (this.kind === 'clip' && !this.clipClean) throw new DataError("CLIP's tokenizer cleans text with open_clip's tables, which this build does not carry; use a tokenizer coca trained");
    const clean = this.kind === 'clip' ? dropLiterals(this.clipClean!(text)) : normaliseCaption(dropLiterals(text));
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
}
