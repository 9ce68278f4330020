// Caption languages. A multilingual tokenizer has one token per language, put right after [SOT]
// in training and decoding ([SOT] [lang:ru] морда собаки [EOT]); a tokenizer without them (every
// one made before languages, and any user's) encodes as before.

/** The languages the built-in set has captions in: English, and the seeds' Russian, Chinese and Malay. */
export const LANGUAGES = ['en', 'ru', 'zh', 'ms'] as const;

export const LANGUAGE_NAMES: Record<string, string> = { en: 'English', ru: 'Russian', zh: 'Chinese (simplified)', ms: 'Malay' };

/** The language every caption without one is in (users' datasets, the built-in English-only sources). */
export const DEFAULT_LANGUAGE = 'en';

/** The tokenizer.json content of a language's token. */
export function languageToken(lang: string): string {
  return `[lang:${lang}]`;
}

/** The language a token names, or undefined when it is not a language token. */
export function languageOfToken(content: string): string | undefined {
  return /^\[lang:([a-z]{2,3})\]$/.exec(content)?.[1];
}

const CYRILLIC = /\p{Script=Cyrillic}/u;
const HAN = /\p{Script=Han}/u;

/**
 * The language a query's script says: Han → zh, Cyrillic → ru, anything else → undefined (Latin
 * script cannot tell English from Malay: the caller falls back to English or to --lang). A
 * query mixing Han and Cyrillic counts as Chinese; no caption of the built-in set mixes them.
 */
export function detectLanguage(text: string): string | undefined {
  if (HAN.test(text)) return 'zh';
  if (CYRILLIC.test(text)) return 'ru';
  return undefined;
}

/** A caption drawn for training, with the language whose token goes after [SOT]. */
export interface LangCaption {
  text: string;
  lang: string;
}

/**
 * What training draws a picture's caption from: its English captions, then those in each of
 * `languages` (English skipped) in that order. The folder's loader and the shard stream share it,
 * so a set draws the same whichever way it is stored.
 */
export function captionChoices(english: readonly string[], languages: readonly string[], captionsIn: (lang: string) => readonly string[]): LangCaption[] {
  const caps = english.map((text) => ({ text, lang: DEFAULT_LANGUAGE }));
  for (const lang of languages) if (lang !== DEFAULT_LANGUAGE) for (const text of captionsIn(lang)) caps.push({ text, lang });
  return caps;
}

const HANDED = /\b(left|right)/;

/**
 * Whether a drawn caption says left or right, so the picture must not be mirrored. A translation
 * is read through the picture's English captions: the words are English.
 */
export function saysHandedness(c: LangCaption, english: readonly string[]): boolean {
  return HANDED.test(c.lang === DEFAULT_LANGUAGE ? c.text : english.join(' '));
}
