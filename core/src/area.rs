//! Area codes and scopes.
//!
//! Townships and villages use the national 12-digit statistical area code
//! (统计用区划代码: 6 digits county, 3 township, 3 village). A grid appends 3 digits to
//! its village's code, a micro-grid 2 more. A worker's scope is a set of code prefixes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::invalid::{Rule, ValidationError};

/// The level of an area in the tree, known from the code's length and shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaLevel {
    /// 乡镇/街道: 12 digits ending in `000`.
    Township,
    /// 村/社区: 12 digits.
    Village,
    /// 网格: 15 digits.
    Grid,
    /// 微网格: 17 digits.
    MicroGrid,
}

/// A validated area code (township, village, grid or micro-grid).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AreaCode(String);

impl AreaCode {
    pub fn parse(field: &'static str, code: &str) -> Result<Self, ValidationError> {
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::new(field, Rule::AreaDigits));
        }
        if !matches!(code.len(), 12 | 15 | 17) {
            return Err(ValidationError::new(field, Rule::AreaLength));
        }
        if &code[..2] < "11" || &code[..2] > "82" {
            return Err(ValidationError::new(field, Rule::ProvinceCode));
        }
        Ok(Self(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> AreaLevel {
        match self.0.len() {
            12 if self.0.ends_with("000") => AreaLevel::Township,
            12 => AreaLevel::Village,
            15 => AreaLevel::Grid,
            _ => AreaLevel::MicroGrid,
        }
    }

    /// The code of the area this one belongs to, or `None` for a township.
    pub fn parent(&self) -> Option<AreaCode> {
        let parent = match self.level() {
            AreaLevel::Township => return None,
            AreaLevel::Village => format!("{}000", &self.0[..9]),
            AreaLevel::Grid => self.0[..12].to_owned(),
            AreaLevel::MicroGrid => self.0[..15].to_owned(),
        };
        Some(AreaCode(parent))
    }

    /// Whether this area lies in (or is) the area coded `ancestor`.
    pub fn is_within(&self, ancestor: &AreaCode) -> bool {
        match ancestor.level() {
            // A township's villages share its first 9 digits, not its whole code.
            AreaLevel::Township => self.0.starts_with(&ancestor.0[..9]),
            _ => self.0.starts_with(&ancestor.0),
        }
    }
}

impl TryFrom<String> for AreaCode {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        AreaCode::parse("area_code", &value)
    }
}

impl From<AreaCode> for String {
    fn from(code: AreaCode) -> Self {
        code.0
    }
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The set of area-code prefixes a worker (and so a device) may see and change.
///
/// A prefix is any leading run of digits of an area code: a township worker holds the
/// 9-digit township prefix, a grid worker the 15-digit grid code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    prefixes: Vec<String>,
}

impl Scope {
    pub fn new<I, S>(prefixes: I) -> Result<Self, ValidationError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut prefixes: Vec<String> = prefixes.into_iter().map(Into::into).collect();
        for prefix in &prefixes {
            if prefix.len() < 2 || prefix.len() > 17 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ValidationError::new("scope", Rule::ScopePrefix));
            }
        }
        prefixes.sort();
        prefixes.dedup();
        // Drop prefixes already covered by a shorter one.
        let mut kept: Vec<String> = Vec::with_capacity(prefixes.len());
        for prefix in prefixes {
            if !kept.iter().any(|k| prefix.starts_with(k.as_str())) {
                kept.push(prefix);
            }
        }
        Ok(Self { prefixes: kept })
    }

    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    pub fn contains(&self, code: &AreaCode) -> bool {
        self.covers(code.as_str())
    }

    /// Whether every area under `prefix` (a code or a code prefix) lies in this scope.
    pub fn covers(&self, prefix: &str) -> bool {
        self.prefixes.iter().any(|p| prefix.starts_with(p.as_str()))
    }
}

/// The half-open range of area codes under `prefix`, for index range scans:
/// every code starting with `prefix` sorts in `[prefix, prefix + "~")` because codes
/// are ASCII digits and `~` sorts after them.
pub(crate) fn prefix_range(prefix: &str) -> (String, String) {
    (prefix.to_owned(), format!("{prefix}~"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_parents() {
        let township = AreaCode::parse("a", "440106012000").unwrap();
        let village = AreaCode::parse("a", "440106012003").unwrap();
        let grid = AreaCode::parse("a", "440106012003001").unwrap();
        let micro = AreaCode::parse("a", "44010601200300102").unwrap();
        assert_eq!(township.level(), AreaLevel::Township);
        assert_eq!(village.level(), AreaLevel::Village);
        assert_eq!(grid.level(), AreaLevel::Grid);
        assert_eq!(micro.level(), AreaLevel::MicroGrid);
        assert_eq!(micro.parent(), Some(grid.clone()));
        assert_eq!(grid.parent(), Some(village.clone()));
        assert_eq!(village.parent(), Some(township.clone()));
        assert_eq!(township.parent(), None);
        assert!(micro.is_within(&township));
        assert!(micro.is_within(&village));
        assert!(!village.is_within(&grid));
    }

    #[test]
    fn rejects_bad_codes_naming_the_field() {
        for bad in ["", "4401060120", "44010601200a", "990106012000", "4401060120031"] {
            let err = AreaCode::parse("grid_code", bad).unwrap_err();
            assert_eq!(err.field, "grid_code");
        }
    }

    #[test]
    fn scope_keeps_the_shortest_prefixes() {
        let scope = Scope::new(["440106012003", "440106012", "440106013001001"]).unwrap();
        assert_eq!(scope.prefixes(), ["440106012", "440106013001001"]);
        assert!(scope.contains(&AreaCode::parse("a", "440106012003001").unwrap()));
        assert!(!scope.contains(&AreaCode::parse("a", "440106013002001").unwrap()));
        assert!(Scope::new(["4"]).is_err());
    }
}
