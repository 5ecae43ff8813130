//! Exports of what arrived, for the township's own desk: households, persons and
//! incidents of an area, with Chinese headers and values, as an Excel workbook (every
//! cell text, so an 18-digit ID number stays itself instead of becoming 4.4E+17) or as
//! UTF-8 CSV with a byte-order mark (which Excel needs to read Chinese).

use std::io::Write;

use gridsync_core::store::{HouseholdRow, IncidentRow, PersonRow};
use gridsync_core::zh::{Zh, china_time, yes_no};
use gridsync_core::{Household, Incident, Person, Record};

use crate::center::Center;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Households,
    Persons,
    Incidents,
}

/// How to write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An Excel workbook (.xlsx).
    Xlsx,
    /// UTF-8 CSV with a byte-order mark.
    Csv,
    /// Each record's automerge document, whole history, as `<record id>.automerge` in the
    /// folder `--out` (any automerge implementation loads them).
    Automerge,
}

impl Format {
    /// The format a file name asks for: `.xlsx` is a workbook, anything else CSV.
    pub fn for_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("xlsx") => Format::Xlsx,
            _ => Format::Csv,
        }
    }
}

/// One kind's rows under an area: headers and text cells.
#[derive(Debug)]
pub struct Table {
    pub sheet: &'static str,
    pub headers: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// Reads the rows of `kind` under `area` (empty: everything), from the documents on
/// either storage, deleted records left out, ordered by area and id.
pub fn table(center: &Center, kind: Kind, area: &str) -> Result<Table, String> {
    let area_name = |code: &str| center.area_name(code).unwrap_or_default();
    let text = |value: Option<String>| value.unwrap_or_default();
    Ok(match kind {
        Kind::Households => Table {
            sheet: "户",
            headers: &["户号", "户别", "地址", "标签", "区域代码", "区域名称", "记录编号"],
            rows: rows::<Household, _>(center, area, HouseholdRow::of)?
                .into_iter()
                .map(|h| {
                    let name = area_name(&h.area_code);
                    vec![
                        h.household_no,
                        h.household_type.zh().to_owned(),
                        h.address,
                        h.tags.join("、"),
                        h.area_code,
                        name,
                        h.id,
                    ]
                })
                .collect(),
        },
        Kind::Persons => Table {
            sheet: "人口",
            headers: &[
                "姓名",
                "性别",
                "出生日期",
                "公民身份号码",
                "联系电话",
                "区域代码",
                "区域名称",
                "与户主关系",
                "人口类型",
                "状态",
                "所在户记录",
                "记录编号",
            ],
            rows: rows::<Person, _>(center, area, PersonRow::of)?
                .into_iter()
                .map(|r| {
                    let name = area_name(&r.area_code);
                    let relationship = r.relationship.as_deref().and_then(gridsync_core::codes::relationship_name);
                    vec![
                        r.name,
                        r.gender.zh().to_owned(),
                        r.birth_date.to_string(),
                        text(r.id_number),
                        text(r.phone),
                        r.area_code,
                        name,
                        relationship.unwrap_or_default().to_owned(),
                        r.person_type.zh().to_owned(),
                        r.status.zh().to_owned(),
                        text(r.household_id),
                        r.id,
                    ]
                })
                .collect(),
        },
        Kind::Incidents => Table {
            sheet: "事件",
            headers: &[
                "事件编号",
                "标题",
                "类别",
                "状态",
                "加急",
                "督办",
                "重大",
                "发生时间",
                "办理期限",
                "待复核",
                "区域代码",
                "区域名称",
                "记录编号",
            ],
            rows: rows::<Incident, _>(center, area, IncidentRow::of)?
                .into_iter()
                .map(|i| {
                    let name = area_name(&i.area_code);
                    vec![
                        i.service_no,
                        i.title,
                        i.categories.join("、"),
                        i.status.zh().to_owned(),
                        yes_no(i.urgent).to_owned(),
                        i.supervision.map(|s| s.zh()).unwrap_or_default().to_owned(),
                        yes_no(i.major).to_owned(),
                        china_time(i.occurred_at),
                        i.deadline.map(china_time).unwrap_or_default(),
                        yes_no(i.needs_review).to_owned(),
                        i.area_code,
                        name,
                        i.id,
                    ]
                })
                .collect(),
        },
    })
}

/// The rows of every live record of kind `T` under `area`, read a page of documents at
/// a time, ordered by area and id.
fn rows<T: Record, R: HasArea>(center: &Center, area: &str, row: impl Fn(&str, &T) -> R) -> Result<Vec<R>, String> {
    let mut out = Vec::new();
    center.for_each_record(T::KIND, area, |id, stored| {
        let Some(doc) = readable(id, stored) else { return Ok(()) };
        match (doc.is_deleted(), doc.read::<T>()) {
            (Ok(false), Ok(record)) => out.push(row(id, &record)),
            (Ok(true), _) => {}
            (Err(_), _) | (_, Err(_)) => unreadable(id),
        }
        Ok(())
    })?;
    out.sort_by(|a, b| a.area_and_id().cmp(&b.area_and_id()));
    Ok(out)
}

/// A stored record's document, or `None` (logged for the township's IT) when it does
/// not load: one damaged record is left out of an export, never the reason it fails.
fn readable(id: &str, stored: &crate::storage::StoredRecord) -> Option<gridsync_core::doc::RecordDoc> {
    crate::push::load(stored).map_err(|_| unreadable(id)).ok()
}

/// Logs a record left out. Without the error: a value that does not read as its type
/// may be quoted in it, and values are personal data.
fn unreadable(id: &str) {
    tracing::error!(record = id, "record unreadable: left out of the export");
}

/// How exported rows are ordered.
trait HasArea {
    fn area_and_id(&self) -> (&str, &str);
}

macro_rules! has_area {
    ($($row:ty),*) => {$(
        impl HasArea for $row {
            fn area_and_id(&self) -> (&str, &str) {
                (&self.area_code, &self.id)
            }
        }
    )*};
}
has_area!(HouseholdRow, PersonRow, IncidentRow);

/// Writes every record of `kind` under `area` (deleted ones too: their history is theirs)
/// as `<id>.automerge` into the folder `out`, a page of documents at a time. Returns how
/// many were written.
pub fn write_documents(center: &Center, kind: Kind, area: &str, out: &std::path::Path) -> Result<usize, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut written = 0;
    center.for_each_record(kind.record_kind(), area, |id, stored| {
        let Some(doc) = readable(id, stored) else { return Ok(()) };
        let path = out.join(format!("{id}.automerge"));
        std::fs::write(&path, doc.save()).map_err(|e| format!("{}: {e}", path.display()))?;
        written += 1;
        Ok(())
    })?;
    Ok(written)
}

impl Kind {
    fn record_kind(self) -> gridsync_core::Kind {
        match self {
            Kind::Households => gridsync_core::Kind::Household,
            Kind::Persons => gridsync_core::Kind::Person,
            Kind::Incidents => gridsync_core::Kind::Incident,
        }
    }
}

/// Writes `table` in `format` to `sink`.
pub fn write(table: &Table, format: Format, mut sink: impl Write) -> Result<(), String> {
    match format {
        Format::Csv => {
            sink.write_all("\u{feff}".as_bytes()).map_err(|e| e.to_string())?;
            let mut writer = csv::Writer::from_writer(sink);
            writer.write_record(table.headers).map_err(|e| e.to_string())?;
            for row in &table.rows {
                writer.write_record(row).map_err(|e| e.to_string())?;
            }
            writer.flush().map_err(|e| e.to_string())
        }
        Format::Xlsx => {
            let bytes = xlsx(table).map_err(|e| format!("cannot write the workbook: {e}"))?;
            sink.write_all(&bytes).map_err(|e| e.to_string())
        }
        Format::Automerge => Err("documents are written to a folder: see write_documents".into()),
    }
}

fn xlsx(table: &Table) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format as Style, Workbook};
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(table.sheet)?;
    let bold = Style::new().set_bold();
    // Text cells: Excel keeps ID numbers, phones and codes exactly as written.
    let text = Style::new().set_num_format("@");
    for (column, header) in table.headers.iter().enumerate() {
        sheet.write_string_with_format(0, column as u16, *header, &bold)?;
    }
    for (row, cells) in table.rows.iter().enumerate() {
        for (column, cell) in cells.iter().enumerate() {
            sheet.write_string_with_format(row as u32 + 1, column as u16, cell, &text)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofit();
    workbook.save_to_buffer()
}
