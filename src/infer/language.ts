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
