// open_clip's text clean-up (src/data/clip-text.ts) against ftfy 6.3.1 and open_clip's tokenizer.py,
// without running either: ftfy is not installed here. Expected values come from two places only:
// - ftfy's own tests and docstrings (rspeer/python-ftfy at 6.3.1: tests/test_entities.py,
//   tests/test_characters.py, tests/test-cases/*.json, the doctests of ftfy/fixes.py), quoted as
//   they are there, restricted to cases where ftfy's mojibake repair (fix_encoding, not ported, see
//   clip-text.ts's header) leaves the text alone: those whose "fixed-encoding" is their "original";
// - ftfy's rules applied by hand (fix_text: segments ending at '\n', unescape_html "auto" off from the
//   first segment holding '<'; fix_and_explain: unescape_html, fix_c1_controls, fix_latin_ligatures,
//   fix_character_width, uncurl_quotes, fix_line_breaks, fix_surrogates, remove_terminal_escapes,
//   remove_control_chars, NFC, repeated until nothing changes), then open_clip's
//   whitespace_clean(basic_clean(x)).lower(): html.unescape twice, " ".join(x.split()).
import { describe, expect, it } from 'vitest';
import { clipClean, ftfyFixText, htmlUnescape } from '../../../src/data/clip-text.ts';

describe("ftfy's own tests and docstrings (ftfy 6.3.1)", () => {
  it('tests/test_entities.py: HTML unescaped until a line holds "<"', () => {
    expect(ftfyFixText('&amp;\n<html>\n&amp;')).toBe('&\n<html>\n&amp;');
    // fix_text_segment with the default config: one segment, as these have no '\n'.
    const segment: [string, string][] = [
      ['&lt;&gt;', '<>'],
      ['jednocze&sacute;nie', 'jednocześnie'],
      ['JEDNOCZE&Sacute;NIE', 'JEDNOCZEŚNIE'],
      ['broken&#x81;', 'broken\x81'],
      ['&amp;amp;amp;', '&'],
      ['this is just informal english &not html', 'this is just informal english &not html'],
      // unescape_html's cases (fix_text changes nothing more in them).
      ['euro &#x80;', 'euro €'],
      ['EURO &EURO;', 'EURO €'],
      ['not an entity &#20x6;', 'not an entity &#20x6;'],
      ['JEDNOCZE&SACUTE;NIE', 'JEDNOCZEŚNIE'],
      ['V&SCARON;ICHNI', 'VŠICHNI'],
      ['&#xffff;', ''],
      ['&#xffffffff;', '\ufffd'],
    ];
    for (const [input, want] of segment) expect(ftfyFixText(input), JSON.stringify(input)).toBe(want);
  });

  it("unescape_html's docstring", () => {
    const cases: [string, string][] = [
      ['&lt;tag&gt;', '<tag>'],
      ['&Jscr;ohn &HilbertSpace;ancock', '𝒥ohn ℋancock'],
      ['&checkmark;', '✓'],
      ['P&eacute;rez', 'Pérez'],
      ['P&EACUTE;REZ', 'PÉREZ'],
      ['BUNDESSTRA&SZLIG;E', 'BUNDESSTRASSE'],
      ['&ntilde; &Ntilde; &NTILDE; &nTILDE;', 'ñ Ñ Ñ &nTILDE;'],
    ];
    for (const [input, want] of cases) expect(ftfyFixText(input), input).toBe(want);
  });

  it('tests/test_characters.py: control characters, tag characters kept, terminal escapes', () => {
    // remove_control_chars's case; fix_text also makes the final \r\n a \n.
    expect(ftfyFixText('\ufeffSometimes, \ufffcbad ideas \x7f\ufffalike these characters\ufffb \u206aget standardized.\r\n')).toBe(
      'Sometimes, bad ideas like these characters get standardized.\n',
    );
    const ohio = '#superman #ohio 🏴\u{e0075}\u{e0073}\u{e006f}\u{e0068}\u{e007f} #cleveland #usa 🇺🇸';
    expect(ftfyFixText(ohio)).toBe(ohio);
    const wales = 'This flag has a dragon on it 🏴\u{e0067}\u{e0062}\u{e0077}\u{e006c}\u{e0073}\u{e007f}';
    expect(ftfyFixText(wales)).toBe(wales);
    expect(ftfyFixText('\x01\x1b[36;44mfoo')).toBe('foo');
  });

  it("ftfy/fixes.py's doctests", () => {
    expect(ftfyFixText('\u201chere\u2019s a test\u201d')).toBe('"here\'s a test"');
    expect(ftfyFixText('ﬂuﬃeﬆ')).toBe('fluffiest');
    expect(ftfyFixText('ＬＯＵＤ　ＮＯＩＳＥＳ')).toBe('LOUD NOISES');
    expect(ftfyFixText('Ｕﾀｰﾝ')).toBe('Uターン');
    expect(ftfyFixText('This string is made of two things:\u20291. Unicode\u20282. Spite')).toBe('This string is made of two things:\n1. Unicode\n2. Spite');
    expect(ftfyFixText('Content-type: text/plain\r\n\r\nHi.')).toBe('Content-type: text/plain\n\nHi.');
    expect(ftfyFixText('This is how Microsoft \r trolls Mac users')).toBe('This is how Microsoft \n trolls Mac users');
    expect(ftfyFixText("\x1b[36;44mI'm blue, da ba dee da ba doo...\x1b[0m")).toBe("I'm blue, da ba dee da ba doo...");
    // fix_surrogates: a low surrogate before a high one is two lone ones.
    expect(ftfyFixText('\udca9\ud83d')).toBe('\ufffd\ufffd');
    expect(ftfyFixText('\ud83d\udca9')).toBe('💩');
  });

  // tests/test-cases/*.json, "expect": "pass", whose fix_encoding result is the original.
  it.each([
    ['synthetic', "I'm not such a fan of Charlotte Brontë…”", 'I\'m not such a fan of Charlotte Brontë…"'],
    ['synthetic', 'These control characters \u001a are apparently intentional ', 'These control characters  are apparently intentional '],
    ['synthetic', "Here's a control character: \u001a", "Here's a control character: "],
    ['synthetic', 'There are a lot of Ã’s in mojibake text', "There are a lot of Ã's in mojibake text"],
    ['synthetic', 'NICIODATĂ\u00a0', 'NICIODATĂ\u00a0'],
    ['negative', 'higher values (“+” and “×” curves) in the superficial region', 'higher values ("+" and "×" curves) in the superficial region'],
    ['negative', 'L’épisode 8 est trop fou ouahh', "L'épisode 8 est trop fou ouahh"],
    ['negative', '4288×…', '4288×…'],
    ['negative', 'OK??:(   `¬´    ):', 'OK??:(   `¬´    ):'],
    ['in-the-wild', 'ŉ Chloroplas is ŉ organel wat in fotosinterende plante voorkom.', "'n Chloroplas is 'n organel wat in fotosinterende plante voorkom."],
    [
      'in-the-wild',
      'izum „bootstrap load“ koji je korišteǌem polisilicijskog sloja proizveo dovoǉno dobre kondenzatore na čipu',
      'izum "bootstrap load" koji je korištenjem polisilicijskog sloja proizveo dovoljno dobre kondenzatore na čipu',
    ],
  ])('test-cases/%s.json: %j', (_file, original, fixed) => {
    expect(ftfyFixText(original)).toBe(fixed);
  });
});

describe("ftfy's rules, applied by hand", () => {
  it('segments end after each "\\n"; unescaping stops from the first segment holding "<", for good', () => {
    expect(ftfyFixText('a &amp; b\n<b> &amp;\nc &amp;')).toBe('a & b\n<b> &amp;\nc &amp;');
    // A first segment that is only "\n" is its own segment: the second is unescaped, the third has '<'.
    expect(ftfyFixText('\n&amp;\n<')).toBe('\n&\n<');
    // '<' made by unescaping is no literal '<': the next segment is unescaped too.
    expect(ftfyFixText('&lt;\n&lt;')).toBe('<\n<');
    expect(ftfyFixText('x &gt;\n')).toBe('x >\n');
    expect(ftfyFixText('')).toBe('');
    expect(ftfyFixText('\n\n')).toBe('\n\n');
    // A '\r' is no segment end: its line's '<' holds back the unescaping of the text before it.
    expect(ftfyFixText('&amp;\r<')).toBe('&amp;\n<');
  });

  it('every fix repeated until nothing changes; the unescaping decided once per segment', () => {
    expect(ftfyFixText('&amp;#x41;')).toBe('A');
    expect(ftfyFixText('&amp;lt;')).toBe('<');
    // A control character removed in one pass makes an entity the next pass unescapes.
    expect(ftfyFixText('&am\x00p; &#6\x015;')).toBe('& A');
    expect(ftfyFixText('<&am\x00p;')).toBe('<&amp;');
    // Unescaped characters get the later fixes of the same pass.
    // (&#x1b; is one of html.unescape's invalid code points: gone, so "[1m" stays.)
    expect(ftfyFixText('&#xFF21;&#x201C;&#x2018;&#x2028;&#xFB01;&#x80;&#x1b;[1m')).toBe('A"\'\nfi€[1m');
  });

  it('a numeric reference html.unescape decodes only in part is left whole', () => {
    expect(ftfyFixText('&#65a;')).toBe('&#65a;');
    expect(ftfyFixText('&#x41g;')).toBe('&#x41g;');
    expect(ftfyFixText('&#65;&#x42;&#X43;')).toBe('ABC');
    // Names ftfy does not know (not an html5 name with ';', nor an upper-cased one it adds) stay.
    expect(ftfyFixText('&notit; &AMP; &Amp; &amp')).toBe('&notit; & &Amp; &amp');
  });

  it('C1 controls read as Windows-1252, the five bytes it leaves undefined kept; quotes then straightened', () => {
    const c1 = Array.from({ length: 32 }, (_, i) => String.fromCharCode(0x80 + i)).join('');
    expect(ftfyFixText(`\x7f${c1}\xa0`)).toBe('€\x81\'ƒ"…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90\'\'""•–—˜™š›œ\x9džŸ\xa0');
  });

  it('ligatures and width forms, then NFC', () => {
    expect(ftfyFixText('ĲĳǄǅǆǇǈǉǊǋǌǱǲǳﬀﬁﬂﬃﬄﬅﬆ')).toBe('IJijDŽDždžLJLjljNJNjnjDZDzdzfffiflffifflſtst');
    // Halfwidth KA and voiced mark: KA and U+3099, which NFC composes to GA.
    expect(ftfyFixText('ｶﾞ')).toBe('ガ');
    expect(ftfyFixText('ｆｕｌｌ　ｗｉｄｔｈ！')).toBe('full width!');
    expect(ftfyFixText('e\u0301 \u212b')).toBe('\u00e9 \u00c5');
  });

  it('curly quotes: U+201C–U+201F to ", U+02BC and U+2018–U+201B to \', their neighbours kept', () => {
    expect(ftfyFixText('\u02bb\u02bc\u02bd\u2017\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2020')).toBe('\u02bb\'\u02bd\u2017\'\'\'\'""""\u2020');
  });

  it('line breaks: CRLF, CR, U+2028, U+2029 to LF', () => {
    expect(ftfyFixText('a\r\nb\rc\u2028d\u2029e\r\r\n')).toBe('a\nb\nc\nd\ne\n\n');
  });

  it('lone surrogates to U+FFFD, pairs kept', () => {
    expect(ftfyFixText('a\ud800b\udc00c\ud83d\ude00d\ud800')).toBe('a\ufffdb\ufffdc\u{1f600}d\ufffd');
  });

  it('terminal escapes: ESC [ digits and semicolons, then a letter; anything else loses only its control characters', () => {
    expect(ftfyFixText('\x1b[mA\x1b[1;31mB\x1b[12;Cc\x1b[0z')).toBe('ABc');
    expect(ftfyFixText('\x1b[1;2 x\x1b]0;title\x07 \x1b[1:2m')).toBe('[1;2 x]0;title [1:2m');
  });

  it("control characters: ftfy's ranges removed, whitespace controls and their neighbours kept", () => {
    expect(ftfyFixText('[\x00\x08\t\x0b\x0c\x0e\x1f \x7f\x80\u200b\u2069\u206a\u206f\u2070\ufeff\ufff8\ufff9\ufffc\ufffd\u{1d173}\u{e0001}]')).toBe(
      '[\t\x0c \u20ac\u200b\u2069\u2070\ufff8\ufffd\u{1d173}\u{e0001}]',
    );
  });
});

describe("open_clip's clean='lower': whitespace_clean(basic_clean(x)).lower()", () => {
  it('html.unescape twice after ftfy, so a line with "<" is unescaped twice only', () => {
    expect(clipClean('<b>&amp;amp;amp;</b>')).toBe('<b>&amp;</b>');
    expect(clipClean('&amp;amp;amp;amp;')).toBe('&');
    // ftfy leaves &amp (no ';'); html.unescape's legacy names take it.
    expect(clipClean('fish &amp chips &ltb')).toBe('fish & chips <b');
  });

  it("Python's str.split(): every str.isspace() character splits, others do not", () => {
    // ftfy does not unescape a line with '<'; html.unescape then gives U+2028, U+2029, U+3000, CR
    // and U+0085's windows-1252 reading (an ellipsis, no space).
    expect(clipClean('<i>a&#x2028;b&#x2029;c&#x3000;d&#13;e&#x85;f')).toBe('<i>a b c d e…f');
    expect(clipClean('\ta\u00a0b\u1680c\u2000d\u2005e\u200af\u202fg\u205fh\x0ci\nj  ')).toBe('a b c d e f g h i j');
    // Not spaces to Python: zero-width space, U+180E, U+2060; U+001C is removed by ftfy first.
    expect(clipClean('a\u200bb\u180ec\u2060d\x1ce')).toBe('a\u200bb\u180ec\u2060de');
    expect(clipClean('   ')).toBe('');
  });

  it('lower-cased after the clean-up', () => {
    expect(clipClean('ÀB &EACUTE; ＱＲ')).toBe('àb é qr');
  });
});

describe("Python's html.unescape (its regular expression and _replace_charref)", () => {
  it('references Python decodes, and those it leaves', () => {
    const cases: [string, string][] = [
      ['&#65;&#0065;&#x41;&#X41;&#x0041;', 'AAAAA'],
      ['&#65&#x42 &#x4a;', 'AB J'],
      ['&#xD800; &#xDFFF; &#xd7ff; &#xe000;', '\ufffd \ufffd \ud7ff \ue000'],
      ['&#x10FFFD;&#x10FFFF;&#x110000;', '\u{10fffd}\ufffd'],
      ['&#99999999999999999999;', '\ufffd'],
      ['&#x0; &#x80; &#x9F; &#x8d; &#13;', '\ufffd \u20ac \u0178 \x8d \r'],
      ['&#x1; &#xb; &#x7f; &#xfdd0; &#xfffe; &#x1fffe;', '     '],
      ['&#; &#x; &#xg; &# 65;', '&#; &#x; &#xg; &# 65;'],
      ['&amp &ampx &amp;x &notin; &notin &notit;', '& &x &x ∉ ¬in ¬it;'],
      ['&abcdefghijklmnopqrstuvwxyzabcdef; &', '&abcdefghijklmnopqrstuvwxyzabcdef; &'],
      ['&lt&gt&quot&LT&GT', '<>"<>'],
      ['&a;&\t;&Aacute', '&a;&\t;Á'],
    ];
    for (const [input, want] of cases) expect(htmlUnescape(input), input).toBe(want);
  });
});
