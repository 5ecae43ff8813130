//! Deterministic, realistic sample records: Chinese names (多音字 surnames included),
//! valid GB 11643 ID numbers, mobile numbers and addresses. Used by tests, the center's
//! demo and the benchmarks, so all of them exercise the same shapes of data.

use std::collections::{BTreeMap, BTreeSet};

use crate::area::AreaCode;
use crate::model::{
    FollowUp, Household, HouseholdType, Housing, IdType, Incident, Millis, Person, PersonStatus, PersonType, Step,
    Visit, VisitTarget,
};
use crate::validate::{Date, Gender};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗", "郑", "梁", "谢", "宋", "唐", "单", "曾", "覃", "区", "欧阳", "吕", "律",
];
/// Names written with a separator dot, as 维吾尔 and other minority names are.
const DOTTED: &[&str] = &["阿依古丽·买买提", "阿卜杜·热合曼", "买买提·艾力", "古丽娜尔·吐尔逊", "热依拉·阿不都"];
const GIVEN: &[&str] = &[
    "芳", "伟", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞",
    "平", "刚", "桂英", "建华", "文", "华", "红", "玉兰", "志强", "海燕", "国强", "长生", "乐",
];
const ROADS: &[&str] = &["幸福路", "建设街", "人民路", "龙潭村", "新村", "河东组", "石桥头", "东风巷"];

/// A small, fast, seedable generator (SplitMix64): sample data must be identical for the
/// same seed on every machine, and nothing here needs cryptographic randomness.
#[derive(Debug, Clone)]
pub struct Sample {
    state: u64,
}

impl Sample {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn name(&mut self) -> String {
        if self.below(25) == 0 {
            return (*self.pick(DOTTED)).to_owned();
        }
        let surname = *self.pick(SURNAMES);
        let given = *self.pick(GIVEN);
        if self.below(3) == 0 {
            format!("{surname}{given}{}", self.pick(GIVEN).chars().next().unwrap_or('华'))
        } else {
            format!("{surname}{given}")
        }
    }

    pub fn mobile(&mut self) -> String {
        format!("1{}{:09}", 3 + self.below(7), self.below(1_000_000_000))
    }

    /// A valid resident ID number for someone born on `birth` with `gender`, registered
    /// in the county of `area`.
    pub fn id_number(&mut self, area: &AreaCode, birth: Date, gender: Gender) -> String {
        let order = self.below(50) * 2 + u64::from(gender == Gender::Male);
        let first17 = format!(
            "{}{:04}{:02}{:02}{:02}{}",
            &area.as_str()[..6],
            birth.year,
            birth.month,
            birth.day,
            self.below(100),
            order % 10
        );
        with_check_character(&first17)
    }

    pub fn birth_date(&mut self) -> Date {
        let year = 1935 + self.below(85) as u16;
        let month = 1 + self.below(12) as u8;
        let day = 1 + self.below(28) as u8;
        Date { year, month, day }
    }

    pub fn household(&mut self, area: &AreaCode, number: u32) -> Household {
        let mut tags = BTreeSet::new();
        if self.below(5) == 0 {
            tags.insert((*self.pick(crate::model::HOUSEHOLD_TAGS)).to_owned());
        }
        Household {
            area_code: area.clone(),
            household_no: format!("{}{:05}", &area.as_str()[9..], number),
            household_type: if self.below(20) == 0 { HouseholdType::Collective } else { HouseholdType::Family },
            address: format!("{}{}号", self.pick(ROADS), 1 + self.below(300)),
            gps: None,
            residence_matches: self.below(4) != 0,
            housing: if self.below(6) == 0 { Housing::Rented } else { Housing::Owned },
            tags,
            phone: Some(self.mobile()),
            notes: String::new(),
        }
    }

    /// A resident of `area` with a valid ID number; pass the household to make them a
    /// member (`relationship` a GB/T 4761 code such as `02` 户主).
    pub fn person(&mut self, area: &AreaCode, household: Option<(&str, &str)>) -> Person {
        let gender = if self.below(2) == 0 { Gender::Male } else { Gender::Female };
        let birth_date = self.birth_date();
        let mut focus_groups = BTreeMap::new();
        if self.below(15) == 0 {
            focus_groups.insert(
                (*self.pick(crate::model::FOCUS_GROUPS)).to_owned(),
                crate::model::FocusGroup {
                    worker: "w-sample".into(),
                    from: Date { year: 2024, month: 1, day: 1 },
                    until: None,
                },
            );
        }
        Person {
            area_code: area.clone(),
            name: self.name(),
            former_name: None,
            id_type: IdType::ResidentId,
            id_number: Some(self.id_number(area, birth_date, gender)),
            gender,
            ethnicity: if self.below(10) == 0 { "03".into() } else { "01".into() },
            birth_date,
            phone: (self.below(3) != 0).then(|| self.mobile()),
            household_id: household.map(|(id, _)| id.to_owned()),
            relationship: household.map(|(_, rel)| rel.to_owned()),
            person_type: PersonType::Registered,
            registered_address: None,
            current_address: None,
            occupation: None,
            status: PersonStatus::Active,
            status_changed_at: None,
            focus_groups,
            notes: String::new(),
        }
    }

    pub fn visit(&mut self, area: &AreaCode, target: VisitTarget, at: Millis, visitor: &str) -> Visit {
        Visit {
            area_code: area.clone(),
            target,
            visited_at: at,
            visitor: visitor.to_owned(),
            gps: None,
            purpose: (*self.pick(&["入户走访", "重点人员回访", "安全检查", "政策宣传"])).to_owned(),
            next_due: None,
            findings: Vec::new(),
            notes: String::new(),
        }
    }

    pub fn incident(&mut self, area: &AreaCode, number: u32, at: Millis) -> Incident {
        let category = *self.pick(&["矛盾纠纷/邻里纠纷", "安全隐患", "环境卫生", "民生诉求", "矛盾纠纷/土地纠纷"]);
        Incident {
            area_code: area.clone(),
            service_no: format!("SJ{}{:06}", &area.as_str()[..9], number),
            title: format!("{}{}", self.pick(ROADS), category.rsplit('/').next().unwrap_or(category)),
            categories: BTreeSet::from([category.to_owned()]),
            location: Some(format!("{}{}号", self.pick(ROADS), 1 + self.below(300))),
            gps: None,
            occurred_at: at,
            people_count: 1 + self.below(5) as u32,
            involved_persons: BTreeSet::new(),
            involved_households: BTreeSet::new(),
            major: false,
            timeline: Vec::new(),
            notes: String::new(),
        }
    }

    /// A camera-like JPEG of `width`×`height` (quality 92): gradients with noise, so
    /// it compresses as a photo does rather than as a flat colour.
    pub fn photo(&mut self, width: u32, height: u32) -> Vec<u8> {
        self.photo_with_noise(width, height, 0x1f)
    }

    /// [`Sample::photo`] with noise of `mask` (0x1f: grainy; 0x07: a phone camera's
    /// 12 MP photo of about 3 MB).
    pub fn photo_with_noise(&mut self, width: u32, height: u32, mask: u8) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| {
            let noise = (self.next_u64() as u8) & mask;
            image::Rgb([(x * 255 / width) as u8 ^ noise, (y * 255 / height) as u8, noise.wrapping_mul(3)])
        });
        let mut jpeg = Vec::new();
        #[allow(clippy::expect_used)] // encoding into memory does not fail
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92).encode_image(&image).expect("JPEG encoding");
        jpeg
    }
}

/// A follow-up entry for `step` by `by` at `at` (the store assigns the id).
pub fn follow_up(step: Step, by: &str, at: Millis) -> FollowUp {
    FollowUp { id: String::new(), at, by: by.to_owned(), step, note: String::new(), deadline: None, supervision: None }
}

/// `first17` (17 ASCII digits) followed by its GB 11643 check character.
pub fn with_check_character(first17: &str) -> String {
    format!("{first17}{}", crate::validate::id_check_character(first17.as_bytes()) as char)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Record;

    #[test]
    fn samples_are_valid_and_deterministic() {
        let area = AreaCode::parse("a", "44010601200300102").unwrap();
        let mut a = Sample::new(7);
        let mut b = Sample::new(7);
        for n in 0..200 {
            let person = a.person(&area, None);
            person.validate().unwrap();
            assert_eq!(person, b.person(&area, None));
            a.household(&area, n).validate().unwrap();
            b.household(&area, n);
        }
    }
}
