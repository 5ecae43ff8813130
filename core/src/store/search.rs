//! Person search as grid workers look people up: a 汉字 substring (two-character names
//! included), full pinyin (`wangfang`), pinyin initials (`wf` → 王芳), or the tail of an
//! ID or phone number.
//!
//! Keys are computed when a person is projected. Pinyin keys hold every reading of a
//! 多音字 (up to [`MAX_READINGS`] combinations), so a surname like 单 (shàn / dān) is
//! found either way. Number tails are stored reversed, so a tail is a prefix and an
//! index range finds it.

use pinyin::ToPinyinMulti;

use crate::model::Person;

/// At most this many pinyin spellings are kept per name.
const MAX_READINGS: usize = 8;

/// The search keys of one person, as stored in `person_search`; its index terms are
/// derived from the names when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SearchKeys {
    /// Name and former name as search compares them, separated by a space.
    pub names: String,
    pub id_rev: Option<String>,
    pub phone_rev: Option<String>,
}

impl SearchKeys {
    pub fn for_person(person: &Person) -> Self {
        let names: Vec<String> =
            std::iter::once(person.name.as_str()).chain(person.former_name.as_deref()).map(searchable).collect();
        Self {
            names: names.join(" "),
            id_rev: person.id_number.as_deref().map(reversed),
            phone_rev: person.phone.as_deref().map(|p| reversed(&p.replace('-', ""))),
        }
    }

    /// The indexed terms (see migration 009): one- and two-character pieces of each
    /// name, each pinyin spelling from every syllable on, and each spelling's initials.
    pub fn terms(&self) -> std::collections::BTreeSet<String> {
        let mut terms = std::collections::BTreeSet::new();
        for name in self.names.split(' ').filter(|name| !name.is_empty()) {
            let chars: Vec<char> = name.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                terms.insert(han_term(&[*c]));
                if let Some(next) = chars.get(i + 1) {
                    terms.insert(han_term(&[*c, *next]));
                }
            }
            for spelling in spellings(name) {
                let syllables: Vec<&str> = spelling.split(' ').collect();
                for from in 0..syllables.len() {
                    terms.insert(format!("{PINYIN}{}", syllables[from..].concat()));
                }
                let initials: String = syllables.iter().filter_map(|s| s.chars().next()).collect();
                terms.insert(format!("{INITIALS}{initials}"));
            }
        }
        terms
    }

    /// The terms as the one row `person_terms` holds for this person: space-separated
    /// tokens of FTS5's `ascii` tokenizer.
    pub fn index_text(&self) -> String {
        self.terms().into_iter().collect::<Vec<_>>().join(" ")
    }
}

/// The index term of a piece of a name. FTS5's `ascii` tokenizer splits at ASCII
/// punctuation, which a name may hold (rarely: `(`, `-`); such a character is moved to
/// the private use area so that the piece stays one token, in the index and in queries.
pub(crate) fn han_term(piece: &[char]) -> String {
    let token_char = |c: char| match c {
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => char::from_u32(PRIVATE_USE + c as u32).unwrap_or(c),
        c => c,
    };
    std::iter::once(HAN).chain(piece.iter().copied().map(token_char)).collect()
}

/// Where [`han_term`] moves ASCII punctuation (U+F700..U+F77F, private use).
const PRIVATE_USE: u32 = 0xF700;

/// The separator dots names of minority and foreign people are written with, depending
/// on the keyboard: middle dot, bullet, katakana middle dot, hyphenation point, full
/// stop, full-width and half-width forms.
const SEPARATOR_DOTS: &[char] = &['·', '•', '・', '‧', '.', '．', '･', '⋅', '∙'];

/// A name or a query as search compares it: without separator dots or white space, so
/// 阿卜杜·热合曼, 阿卜杜•热合曼 and 阿卜杜热合曼 are the same.
pub(crate) fn searchable(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && !SEPARATOR_DOTS.contains(c)).collect()
}

/// Term namespaces in `person_terms`: a letter before each term, as FTS5 tokens carry no
/// field of their own and a prefix query then reads one namespace only.
const HAN: char = 'h';
pub(crate) const PINYIN: char = 'p';
pub(crate) const INITIALS: char = 'i';

fn reversed(text: &str) -> String {
    text.chars().rev().collect()
}

/// The pinyin spellings of `name`, syllables separated by spaces, every combination of
/// readings up to [`MAX_READINGS`]. Letters in the name are kept lower-cased; other
/// characters (the `·` in 维吾尔 names) are dropped.
fn spellings(name: &str) -> Vec<String> {
    let mut combos: Vec<String> = vec![String::new()];
    for ch in name.chars() {
        let readings: Vec<String> = match ch.to_pinyin_multi() {
            Some(multi) => multi.into_iter().flat_map(|p| typed_spellings(p.plain())).collect(),
            None if ch.is_ascii_alphanumeric() => {
                for combo in &mut combos {
                    combo.push(ch.to_ascii_lowercase());
                }
                continue;
            }
            None => continue,
        };
        // Readings outermost: the first combination stays "every first reading".
        let mut next = Vec::with_capacity(MAX_READINGS);
        'outer: for reading in &readings {
            for combo in &combos {
                if next.len() == MAX_READINGS {
                    break 'outer;
                }
                let sep = if combo.is_empty() { "" } else { " " };
                next.push(format!("{combo}{sep}{reading}"));
            }
        }
        combos = next;
    }
    combos.dedup();
    combos
}

/// A pinyin syllable as keyboards type it: ü as `v` (the pinyin input method's way) and
/// as `u` (how most people write 吕 lu without the dots).
fn typed_spellings(syllable: &str) -> Vec<String> {
    if syllable.contains('ü') {
        vec![syllable.replace('ü', "v"), syllable.replace('ü', "u")]
    } else {
        vec![syllable.to_owned()]
    }
}

/// What a search string asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SearchQuery {
    /// The tail of an ID number or phone number, reversed.
    NumberTail(String),
    /// A substring of a name in 汉字.
    Han(String),
    /// Lower-case pinyin: a full spelling or initials.
    Pinyin(String),
}

impl SearchQuery {
    /// Classifies user input; `None` when there is nothing to search for.
    pub fn parse(input: &str) -> Option<Self> {
        let text: String = input.chars().filter(|c| !c.is_whitespace() && *c != '\'' && *c != '-').collect();
        if text.is_empty() {
            return None;
        }
        let tail_like = |s: &str| {
            let body = s.strip_suffix(['X', 'x']).unwrap_or(s);
            s.len() >= 3 && body.bytes().all(|b| b.is_ascii_digit())
        };
        if tail_like(&text) {
            Some(SearchQuery::NumberTail(reversed(&text.to_ascii_uppercase())))
        } else if !text.is_ascii() {
            Some(SearchQuery::Han(searchable(input)))
        } else if text.bytes().all(|b| b.is_ascii_alphabetic()) {
            Some(SearchQuery::Pinyin(text.to_ascii_lowercase()))
        } else {
            None
        }
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_cover_heteronyms() {
        assert_eq!(spellings("王芳")[0], "wang fang");
        let shan = spellings("单田芳");
        assert!(shan.iter().any(|s| s == "shan tian fang"), "{shan:?}");
        assert!(shan.iter().any(|s| s == "dan tian fang"), "{shan:?}");
        assert!(spellings("长长长长长长").len() <= MAX_READINGS);
        assert_eq!(spellings("阿依古丽·买买提")[0], "a yi gu li mai mai ti");
    }

    #[test]
    fn u_umlaut_is_found_as_v_and_as_u() {
        let lv = spellings("吕女");
        assert!(lv.iter().any(|s| s == "lv nv"), "{lv:?}");
        assert!(lv.iter().any(|s| s == "lu nu"), "{lv:?}");
    }

    #[test]
    fn separator_dots_are_ignored() {
        for name in ["阿卜杜·热合曼", "阿卜杜•热合曼", "阿卜杜・热合曼", "阿卜杜.热合曼", "阿卜杜 热合曼"]
        {
            assert_eq!(searchable(name), "阿卜杜热合曼", "{name}");
        }
        assert_eq!(SearchQuery::parse("阿卜杜‧热合曼"), Some(SearchQuery::Han("阿卜杜热合曼".into())));
    }

    #[test]
    fn queries_are_classified() {
        assert_eq!(SearchQuery::parse("002X"), Some(SearchQuery::NumberTail("X200".into())));
        assert_eq!(SearchQuery::parse("8000"), Some(SearchQuery::NumberTail("0008".into())));
        assert_eq!(SearchQuery::parse("王芳"), Some(SearchQuery::Han("王芳".into())));
        assert_eq!(SearchQuery::parse("W F"), Some(SearchQuery::Pinyin("wf".into())));
        assert_eq!(SearchQuery::parse("xi'an"), Some(SearchQuery::Pinyin("xian".into())));
        assert_eq!(SearchQuery::parse("  "), None);
        assert_eq!(SearchQuery::parse("%_"), None);
    }
}
