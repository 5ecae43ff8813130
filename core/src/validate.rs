//! Validation rules shared by every record kind: ID numbers (GB 11643), phone numbers,
//! dates and text limits. Each rule fails with a [`ValidationError`] that names the field
//! and the rule, never the value.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::invalid::{Rule, ValidationError};
use crate::time::{china_day, civil_from_days};

/// A calendar date (no time zone), written `YYYY-MM-DD` in documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Today in China, by this machine's clock.
    pub fn today() -> Self {
        let (year, month, day) = civil_from_days(china_day(crate::time::system_clock()));
        Self { year: year.clamp(0, i64::from(u16::MAX)) as u16, month: month as u8, day: day as u8 }
    }

    pub fn new(field: &'static str, year: u16, month: u8, day: u8) -> Result<Self, ValidationError> {
        let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(ValidationError::new(field, Rule::Month)),
        };
        if !(1900..=2999).contains(&year) {
            return Err(ValidationError::new(field, Rule::Year));
        }
        if day == 0 || day > days_in_month {
            return Err(ValidationError::new(field, Rule::Day));
        }
        Ok(Self { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, ValidationError> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(ValidationError::new(field, Rule::DateFormat));
        }
        let number = |range: std::ops::Range<usize>| -> Result<u16, ValidationError> {
            text[range].parse().map_err(|_| ValidationError::new(field, Rule::DateFormat))
        };
        Date::new(field, number(0..4)?, number(5..7)? as u8, number(8..10)? as u8)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl TryFrom<String> for Date {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Date::parse("date", &value)
    }
}

impl From<Date> for String {
    fn from(date: Date) -> Self {
        date.to_string()
    }
}

/// Gender as recorded on ID documents (GB/T 2261.1: 1 male, 2 female).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

/// What a valid 18-character resident ID number (GB 11643-1999) encodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumberFacts {
    pub birth_date: Date,
    pub gender: Gender,
    /// The GB/T 2260 code of the county where the number was issued (first 6 digits).
    /// Whether it names a county that exists is not checked: that needs the national
    /// division table (about 3,000 counties, changing every year), which gridsync does
    /// not carry; its province is checked.
    pub region: String,
    /// The province-level division the region lies in (`广东省`); a number naming none
    /// is refused.
    pub province: &'static str,
}

/// The province-level divisions of GB/T 2260, by the first two digits of a region code.
const PROVINCES: [(&str, &str); 34] = [
    ("11", "北京市"),
    ("12", "天津市"),
    ("13", "河北省"),
    ("14", "山西省"),
    ("15", "内蒙古自治区"),
    ("21", "辽宁省"),
    ("22", "吉林省"),
    ("23", "黑龙江省"),
    ("31", "上海市"),
    ("32", "江苏省"),
    ("33", "浙江省"),
    ("34", "安徽省"),
    ("35", "福建省"),
    ("36", "江西省"),
    ("37", "山东省"),
    ("41", "河南省"),
    ("42", "湖北省"),
    ("43", "湖南省"),
    ("44", "广东省"),
    ("45", "广西壮族自治区"),
    ("46", "海南省"),
    ("50", "重庆市"),
    ("51", "四川省"),
    ("52", "贵州省"),
    ("53", "云南省"),
    ("54", "西藏自治区"),
    ("61", "陕西省"),
    ("62", "甘肃省"),
    ("63", "青海省"),
    ("64", "宁夏回族自治区"),
    ("65", "新疆维吾尔自治区"),
    ("71", "台湾省"),
    ("81", "香港特别行政区"),
    ("82", "澳门特别行政区"),
];

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character (ISO 7064 MOD 11-2) of an ID number's first 17
/// digits, given as ASCII digits.
pub fn id_check_character(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(ID_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    ID_CHECK_CHARS[(sum % 11) as usize]
}

/// Checks a resident ID number against GB 11643-1999: 17 digits then an ISO 7064
/// MOD 11-2 check character (`0`–`9` or `X`), a province that exists and a real
/// birth date. Returns the birth date and gender it encodes. A lowercase `x` is
/// accepted; [`normalize_id_number`] upper-cases it before storing.
pub fn check_id_number(field: &'static str, id: &str) -> Result<IdNumberFacts, ValidationError> {
    let bytes = id.as_bytes();
    if id.chars().any(char::is_whitespace) {
        return Err(ValidationError::new(field, Rule::IdSpace));
    }
    if bytes.len() != 18 {
        return Err(ValidationError::new(field, Rule::IdLength));
    }
    if !bytes[..17].iter().all(u8::is_ascii_digit) {
        return Err(ValidationError::new(field, Rule::IdDigits));
    }
    if bytes[17].to_ascii_uppercase() != id_check_character(&bytes[..17]) {
        return Err(ValidationError::new(field, Rule::IdChecksum));
    }
    let Some((_, province)) = PROVINCES.iter().find(|(code, _)| *code == &id[..2]) else {
        return Err(ValidationError::new(field, Rule::ProvinceCode));
    };
    let digits = |range: std::ops::Range<usize>| -> u16 {
        id[range].parse().unwrap_or_default() // all ASCII digits, checked above
    };
    let birth_date = Date::new(field, digits(6..10), digits(10..12) as u8, digits(12..14) as u8)
        .map_err(|_| ValidationError::new(field, Rule::IdBirthDate))?;
    if birth_date > Date::today() {
        return Err(ValidationError::new(field, Rule::IdBirthDateFuture));
    }
    let gender = if (bytes[16] - b'0') % 2 == 1 { Gender::Male } else { Gender::Female };
    Ok(IdNumberFacts { birth_date, gender, region: id[..6].to_owned(), province })
}

/// What a resident ID number says: birth date, gender and issuing region, or the rule it
/// breaks. For forms that fill those in as the worker types the number.
pub fn parse_id_number(id: &str) -> Result<IdNumberFacts, ValidationError> {
    check_id_number("id_number", &normalize_id_number(id))
}

/// The stored form of an ID number: what a Chinese input method types folded to ASCII
/// (full-width ０-９ and Ｘ, NFKC), surrounding spaces removed, upper case.
pub fn normalize_id_number(id: &str) -> String {
    normalize_typed(id).to_ascii_uppercase()
}

/// Text as typed on a phone, for fields of digits and Latin letters (ID and phone
/// numbers): full-width forms folded to ASCII (Unicode NFKC), surrounding spaces (and
/// the ideographic space) removed.
pub fn normalize_typed(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfkc().collect::<String>().trim().to_owned()
}

/// Checks a phone number: an 11-digit mainland mobile number (`1[3-9]` then 9 digits) or
/// a landline with its area code (`0` + 2–3 digits, optional `-`, 7–8 digits).
pub fn check_phone(field: &'static str, phone: &str) -> Result<(), ValidationError> {
    let b = phone.as_bytes();
    let mobile = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit);
    let landline = {
        let digits: Vec<u8> = b.iter().copied().filter(|c| *c != b'-').collect();
        let dashes = b.iter().filter(|c| **c == b'-').count();
        b.first() == Some(&b'0')
            && dashes <= 1
            && (10..=12).contains(&digits.len())
            && digits.iter().all(u8::is_ascii_digit)
            && (dashes == 0 || matches!(b.iter().position(|c| *c == b'-'), Some(3 | 4)))
    };
    if mobile || landline { Ok(()) } else { Err(ValidationError::new(field, Rule::PhoneFormat)) }
}

/// Checks a required text field: not blank, at most `max_chars` characters, no control
/// characters except newlines in multi-line fields.
pub fn check_text(field: &'static str, text: &str, max_chars: usize) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(ValidationError::new(field, Rule::Required));
    }
    check_optional_text(field, text, max_chars)
}

/// Like [`check_text`] but an empty value is allowed.
pub fn check_optional_text(field: &'static str, text: &str, max_chars: usize) -> Result<(), ValidationError> {
    if text.chars().count() > max_chars {
        return Err(ValidationError::new(field, Rule::TooLong { max: max_chars }));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ValidationError::new(field, Rule::ControlCharacters));
    }
    Ok(())
}

/// Whether `c` would change how the text around it shows on a terminal or a page:
/// control characters, the line and paragraph separators (U+2028, U+2029, which some
/// log viewers and terminals break lines at) and the bidirectional controls (U+202E
/// shows `gnp.exe` as `exe.png`). Names that reach an admin's table hold none.
pub fn reshapes_display(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Checks a GPS position (WGS-84 degrees).
pub fn check_gps(field: &'static str, lat: f64, lon: f64) -> Result<(), ValidationError> {
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) || lat.is_nan() || lon.is_nan() {
        return Err(ValidationError::new(field, Rule::GpsRange));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::with_check_character;

    #[test]
    fn valid_id_numbers_give_birth_date_and_gender() {
        // The standard's own example and one with an X check character.
        let facts = check_id_number("id_number", "11010519491231002X").unwrap();
        assert_eq!(facts.birth_date, Date::new("d", 1949, 12, 31).unwrap());
        assert_eq!(facts.gender, Gender::Female);
        let facts = check_id_number("id_number", &with_check_character("44052419800101001")).unwrap();
        assert_eq!(facts.birth_date.to_string(), "1980-01-01");
        assert_eq!(facts.gender, Gender::Male);
        assert!(check_id_number("id_number", "11010519491231002x").is_ok());
    }

    #[test]
    fn invalid_id_numbers_name_the_rule() {
        let cases = [
            ("11010519491231002", "18 characters"),
            ("110105194912310021", "check character"),
            ("1101051949123100AX", "first 17"),
            ("110105194902300024", "birth date"), // Feb 30th, check char recomputed below
        ];
        for (id, rule) in &cases[..3] {
            let err = check_id_number("id_number", id).unwrap_err();
            assert_eq!(err.field, "id_number");
            assert!(err.rule.contains(rule), "{id}: {}", err.rule);
            assert!(!err.to_string().contains(id), "error must not echo the value");
        }
        let feb30 = with_check_character("11010519490230002");
        let err = check_id_number("id_number", &feb30).unwrap_err();
        assert!(err.rule.contains("birth date"), "{}", err.rule);
        // 16 lies between 15 (内蒙古) and 21 (辽宁): no province has it.
        let nowhere = with_check_character("16010519491231002");
        assert_eq!(check_id_number("id_number", &nowhere).unwrap_err().kind, Rule::ProvinceCode);
    }

    #[test]
    fn typed_numbers_are_normalised_and_explained() {
        // Full-width digits and X from a Chinese input method, an ideographic space.
        let typed = "\u{3000}１１０１０５１９４９１２３１００２Ｘ ";
        assert_eq!(normalize_id_number(typed), "11010519491231002X");
        assert_eq!(parse_id_number(typed).unwrap().region, "110105");
        assert_eq!(parse_id_number(typed).unwrap().province, "北京市");
        assert_eq!(normalize_typed("１３８００１３８０００"), "13800138000");
        let spaced = check_id_number("id_number", "110105 19491231002X").unwrap_err();
        assert_eq!(spaced.code(), "id_number.space");
        assert_eq!(check_id_number("id_number", "1101051949").unwrap_err().code(), "id_number.length");
    }

    #[test]
    fn a_birth_date_in_the_future_is_refused() {
        let next_year = Date::today().year + 1;
        let future = with_check_character(&format!("110105{next_year}0101001"));
        assert_eq!(check_id_number("id_number", &future).unwrap_err().code(), "id_number.birth_date_future");
        let pre_1900 = with_check_character("11010518990101001");
        assert_eq!(check_id_number("id_number", &pre_1900).unwrap_err().code(), "id_number.birth_date");
    }

    #[test]
    fn every_rule_has_a_code_and_both_texts() {
        let mut codes = std::collections::BTreeSet::new();
        for rule in Rule::SAMPLES {
            assert!(!rule.en().is_empty() && !rule.zh().is_empty(), "{rule:?}");
            assert!(rule.code().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{rule:?}");
            codes.insert((rule.code(), rule.en()));
        }
        assert_eq!(codes.len(), Rule::SAMPLES.len(), "each rule says something of its own");
    }

    #[test]
    fn phones() {
        for ok in ["13800138000", "19912345678", "020-12345678", "0755-1234567", "07551234567"] {
            assert!(check_phone("phone", ok).is_ok(), "{ok}");
        }
        for bad in ["12800138000", "1380013800", "138001380001", "abc", "20-12345678", "0-20-1234567"] {
            assert_eq!(check_phone("phone", bad).unwrap_err().field, "phone", "{bad}");
        }
    }

    #[test]
    fn dates_and_text() {
        assert!(Date::parse("d", "2024-02-29").is_ok());
        assert!(Date::parse("d", "2023-02-29").is_err());
        assert!(Date::parse("d", "2023-2-28").is_err());
        assert!(check_text("name", "  ", 10).is_err());
        assert!(check_text("name", "王芳", 2).is_ok());
        assert!(check_text("name", "王芳芳", 2).is_err());
        assert!(check_text("name", "王\u{0}芳", 10).is_err());
        assert!(check_gps("gps", 23.1, 113.3).is_ok());
        assert!(check_gps("gps", 91.0, 113.3).is_err());
    }
}
