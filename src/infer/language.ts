// Which language token a text gets when a person types it (coca retrieve, coca caption --lang).
import { DEFAULT_LANGUAGE, detectLanguage, type Tokenizer } from '../data/index.ts';

/**
 * The language a query is encoded in. `lang` (--lang) when given, checked against the model
 * (one line naming the languages it has, or saying it has none). Otherwise the script's:
 * Cyrillic → ru, Han → zh, when the model has that language; anything else (Latin script, which
 * cannot tell English from Malay) → English. A model without language tokens gets none, whatever
 * the script, so it reads every query as it always did.
 */
export function queryLanguage(tokenizer: Tokenizer, text: string, lang?: string): string | undefined {
  if (lang !== undefined) {
    tokenizer.languagePrefix(lang);
    return lang;
  }
  if (tokenizer.languages.length === 0) return undefined;
  const seen = detectLanguage(text);
  return seen !== undefined && tokenizer.languages.includes(seen) ? seen : DEFAULT_LANGUAGE;
}

/** Why a query is read in its language: given (--lang, the page's pick), its script, or the fallback for Latin script. */
export type LanguageSource = 'picked' | 'script' | 'default';

/** queryLanguage's answer with the reason, for a caller that tells the user (coca serve's search). */
export function explainQueryLanguage(tokenizer: Tokenizer, text: string, lang?: string): { lang?: string; from?: LanguageSource } {
  const chosen = queryLanguage(tokenizer, text, lang);
  if (chosen === undefined) return {};
  if (lang !== undefined) return { lang: chosen, from: 'picked' };
  return { lang: chosen, from: detectLanguage(text) === chosen ? 'script' : 'default' };
}
