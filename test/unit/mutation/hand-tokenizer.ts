// A tokenizer.json written by hand, whose ids follow from the BPE rules rather than from coca's
// output: GPT-2's byte alphabet, one merge "a"+"b", and the added tokens a test asks for.
import type { TokenizerJson } from '../../../src/data/tokenizer-core.ts';

/** GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest map to 256 + n in byte order. */
function gpt2Alphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let n = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + n++));
}

export type Added = { id: number; content: string; special?: boolean };

/**
 * Byte b → `first` + b, the merge "ab" → `first` + 256, then `added` (in the order given, each also
 * in the model's vocabulary). With first = 3 and coca's specials: "a" 100, "b" 101, " " (Ġ) 35, "ab" 259.
 */
export function handJson(added: Added[], first = 3): TokenizerJson {
  const vocab: Record<string, number> = {};
  gpt2Alphabet().forEach((ch, b) => (vocab[ch] = first + b));
  vocab['ab'] = first + 256;
  for (const a of added) vocab[a.content] = a.id;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added.map((a) => ({ id: a.id, content: a.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: a.special ?? true })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    pre_tokenizer: byteLevel,
    post_processor: null,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [['a', 'b']] },
  } as unknown as TokenizerJson;
}

/** coca's specials at ids 0, 1, 2. */
export const COCA: Added[] = [
  { id: 0, content: '[PAD]' },
  { id: 1, content: '[SOT]' },
  { id: 2, content: '[EOT]' },
];
