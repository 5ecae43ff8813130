//! `gridsync-center admin …`: areas, workers and scopes, enrolment codes, devices,
//! revocation, CSV export and statistics.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use gridsync_core::store::IncidentFilter;
use gridsync_core::{Page, Paged};

use crate::center::Center;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Imports areas from a CSV file with the columns `code,name` (header row first).
    ImportAreas { file: PathBuf },
    /// Adds a worker, or replaces their name and scope.
    AddWorker {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// An area-code prefix the worker covers; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// Issues a one-time enrolment code for a worker's phone.
    EnrolCode {
        #[arg(long)]
        worker: String,
        #[arg(long, default_value_t = 24)]
        valid_hours: i64,
    },
    /// Lists enrolled devices.
    Devices,
    /// Revokes a device; `--wipe` also orders it to erase its data (lost or stolen).
    Revoke {
        #[arg(long)]
        device: String,
        #[arg(long)]
        wipe: bool,
    },
    /// Exports the households, persons or incidents of an area to CSV.
    Export {
        #[arg(long, value_parser = ["households", "persons", "incidents"])]
        kind: String,
        /// Area-code prefix (empty for everything).
        #[arg(long, default_value = "")]
        area: String,
        /// Output file (standard output if omitted).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Prints what arrived: records, changes, devices, refusals.
    Stats,
    /// Makes a township CA and a server certificate for the given host names or IP
    /// addresses, writes `ca.pem`, `server.pem` and `server.key` to `--out`, and hands
    /// the CA to phones at enrolment from now on.
    InitTls {
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(center: &mut Center, command: AdminCommand) -> Result<(), String> {
    match command {
        AdminCommand::ImportAreas { file } => {
            let mut reader = csv::Reader::from_path(&file).map_err(|e| e.to_string())?;
            let mut count = 0;
            for row in reader.records() {
                let row = row.map_err(|e| e.to_string())?;
                center.import_area(row.get(0).unwrap_or_default(), row.get(1).unwrap_or_default())?;
                count += 1;
            }
            println!("imported {count} areas");
        }
        AdminCommand::AddWorker { id, name, scopes } => {
            center.set_worker(&id, &name, &scopes)?;
            println!("worker {id} covers {}", scopes.join(", "));
        }
        AdminCommand::EnrolCode { worker, valid_hours } => {
            let code = center.issue_enrolment_code(&worker, valid_hours * 3_600_000)?;
            println!("{code}");
        }
        AdminCommand::Devices => {
            println!("{:<38} {:<12} {:<8} {:<8} name", "device", "worker", "revoked", "wipe");
            for d in center.devices().map_err(|e| e.to_string())? {
                println!("{:<38} {:<12} {:<8} {:<8} {}", d.id, d.worker_id, d.revoked, d.wipe, d.name);
            }
        }
        AdminCommand::Revoke { device, wipe } => {
            center.revoke(&device, wipe)?;
            println!("revoked {device}{}", if wipe { " (wipe ordered)" } else { "" });
        }
        AdminCommand::Export { kind, area, out } => {
            let sink: Box<dyn Write> = match out {
                Some(path) => Box::new(std::fs::File::create(path).map_err(|e| e.to_string())?),
                None => Box::new(std::io::stdout()),
            };
            let count = export(center, &kind, &area, sink).map_err(|e| e.to_string())?;
            eprintln!("exported {count} {kind}");
        }
        AdminCommand::InitTls { hosts, out } => {
            let generated = crate::tls::generate(&hosts)?;
            std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            std::fs::write(out.join("ca.pem"), &generated.ca_pem).map_err(|e| e.to_string())?;
            std::fs::write(out.join("server.pem"), &generated.cert_pem).map_err(|e| e.to_string())?;
            crate::center::write_private(&out.join("server.key"), generated.key_pem.as_bytes())
                .map_err(|e| format!("cannot write server.key: {e}"))?;
            center.set_ca_certificate(&generated.ca_pem).map_err(|e| e.to_string())?;
            println!("wrote {}/{{ca.pem,server.pem,server.key}}; serve with --tls-cert and --tls-key", out.display());
            println!("phones enrol with ca.pem (give it to the app with the enrolment code)");
        }
        AdminCommand::Stats => {
            let store = center.store();
            println!("changes: {}", store.max_seq().map_err(|e| e.to_string())?);
            println!("records: {}", store.heads_in_area("").map_err(|e| e.to_string())?.len());
            println!("devices: {}", center.devices().map_err(|e| e.to_string())?.len());
            for (reason, count) in center.refusals().map_err(|e| e.to_string())? {
                println!("refused {reason}: {count}");
            }
        }
    }
    Ok(())
}

/// Walks every page of a list.
fn each_page<T>(
    mut page_of: impl FnMut(&Page) -> gridsync_core::Result<Paged<T>>,
    mut each: impl FnMut(T) -> csv::Result<()>,
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut page = Page::first(500);
    let mut count = 0;
    loop {
        let result = page_of(&page)?;
        for item in result.items {
            each(item)?;
            count += 1;
        }
        match result.next {
            Some(next) => page.after = Some(next),
            None => return Ok(count),
        }
    }
}

fn code<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Writes one kind's rows under `area` as CSV; returns how many.
pub fn export(center: &Center, kind: &str, area: &str, sink: impl Write) -> Result<usize, Box<dyn std::error::Error>> {
    let store = center.store();
    let mut writer = csv::Writer::from_writer(sink);
    let count = match kind {
        "households" => {
            writer.write_record(["id", "area_code", "household_no", "household_type", "address", "tags"])?;
            each_page(
                |p| store.list_households(area, p),
                |h| {
                    writer.write_record([
                        h.id,
                        h.area_code,
                        h.household_no,
                        code(&h.household_type),
                        h.address,
                        h.tags.join("|"),
                    ])
                },
            )?
        }
        "persons" => {
            writer.write_record([
                "id",
                "area_code",
                "name",
                "gender",
                "birth_date",
                "id_number",
                "phone",
                "household_id",
                "relationship",
                "person_type",
                "status",
            ])?;
            each_page(
                |p| store.list_persons(area, p),
                |r| {
                    writer.write_record([
                        r.id,
                        r.area_code,
                        r.name,
                        code(&r.gender),
                        r.birth_date.to_string(),
                        r.id_number.unwrap_or_default(),
                        r.phone.unwrap_or_default(),
                        r.household_id.unwrap_or_default(),
                        r.relationship.unwrap_or_default(),
                        code(&r.person_type),
                        code(&r.status),
                    ])
                },
            )?
        }
        _ => {
            writer.write_record([
                "id",
                "area_code",
                "service_no",
                "title",
                "categories",
                "status",
                "urgent",
                "major",
                "occurred_at",
                "needs_review",
            ])?;
            each_page(
                |p| store.list_incidents(area, IncidentFilter::All, p),
                |i| {
                    writer.write_record([
                        i.id,
                        i.area_code,
                        i.service_no,
                        i.title,
                        i.categories.join("|"),
                        i.status.as_str().to_owned(),
                        i.urgent.to_string(),
                        i.major.to_string(),
                        i.occurred_at.to_string(),
                        i.needs_review.to_string(),
                    ])
                },
            )?
        }
    };
    writer.flush()?;
    Ok(count)
}
