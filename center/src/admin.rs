//! `gridsync-center admin …`: areas, workers and scopes, enrolment codes, devices,
//! revocation, CSV export and statistics.

use std::path::PathBuf;

use clap::Subcommand;

use crate::center::Center;
use crate::export::Format;
use gridsync_core::sync::enrolment_link;
use gridsync_core::zh::Zh;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Imports areas from a CSV file with the columns `code,name` (header row first).
    ImportAreas { file: PathBuf },
    /// Adds a grid worker, or replaces their name, role, employment and scope.
    AddWorker {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// An area-code prefix the worker covers; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// grid_worker (网格员) or grid_chief (网格长, who also verifies and calls back).
        #[arg(long, default_value = "grid_worker", value_parser = crate::workers::parse_worker_role)]
        role: gridsync_core::Role,
        #[arg(long, value_enum, default_value_t = crate::workers::Employment::FullTime)]
        employment: crate::workers::Employment,
    },
    /// Sets the township's policy for its grid workers: whether they record the 回访
    /// (call-back) themselves, where the center does not call back.
    Policy {
        #[arg(long, action = clap::ArgAction::Set)]
        workers_call_back: bool,
    },
    /// Adds a member of the center's staff for the township console (or replaces their
    /// name, role, scope and password). The password is read from standard input, or
    /// asked for without echo at a terminal: never on the command line, where the shell's
    /// history and the process list would show it.
    AddStaff {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// admin (管理员), dispatcher (调度员) or leader (领导).
        #[arg(long, value_parser = crate::console::accounts::parse_staff_role)]
        role: gridsync_core::Role,
        /// An area-code prefix the staff member covers (a township code or narrower);
        /// repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
    /// Shows what the photo folder holds; with `--prune-uploads-older-than-days`, first
    /// removes uploads no phone has continued for that many days (a phone that comes
    /// back sends that photo again).
    Photos {
        #[arg(long)]
        prune_uploads_older_than_days: Option<u64>,
    },
    /// Issues a one-time enrolment code for a worker's phone. With `--center` (the address
    /// phones reach the center at, `https://host[:port]`), also prints the enrolment link
    /// and its QR code, as the console's 设备 page shows them.
    EnrolCode {
        #[arg(long)]
        worker: String,
        #[arg(long, default_value_t = 24)]
        valid_hours: i64,
        #[arg(long)]
        center: Option<String>,
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
    /// Exports the households, persons or incidents of an area, with Chinese headers and
    /// values: an Excel workbook when `--out` ends in `.xlsx` (or `--format xlsx`), else
    /// UTF-8 CSV with a byte-order mark; or with `--format automerge` each record's
    /// automerge document as `<id>.automerge` in the folder `--out`.
    Export {
        #[arg(long, value_enum)]
        kind: crate::export::Kind,
        /// Area-code prefix (empty for everything).
        #[arg(long, default_value = "")]
        area: String,
        /// Output file (standard output if omitted).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum)]
        format: Option<Format>,
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
    /// Moves a township's embedded center into PostgreSQL (beside townships moved
    /// before): devices, workers, codes and every record with its history; phones keep
    /// syncing without re-enrolment. Idempotent: run it again after an interruption.
    /// Checks that every change arrived and the digests match. Stop the township's
    /// center first; serve it from PostgreSQL after.
    Migrate {
        /// The township's center database file.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database, `postgres://user@host/dbname`.
        #[arg(long)]
        to: String,
    },
}

/// Runs the commands that work on a database named in their own arguments.
pub fn run_standalone(command: AdminCommand) -> Result<(), String> {
    match command {
        AdminCommand::Migrate { from, to } => {
            let report = crate::migrate::migrate(&from, &to)?;
            println!(
                "moved township {}: {} records, {} changes, {} workers, {} devices (sequences +{})",
                report.townships.join(", "),
                report.records,
                report.changes,
                report.workers,
                report.devices,
                report.offset
            );
            if !report.digest_equal {
                return Err("the digests of the source and the target differ: run the command again".into());
            }
            println!("digest equal: the township's records in PostgreSQL match the file");
            Ok(())
        }
        _ => Err("this command needs --db".into()),
    }
}

/// A password from a terminal (not echoed) or from standard input's first line.
fn read_password() -> Result<String, String> {
    use std::io::IsTerminal;
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("password: ").map_err(|e| e.to_string())?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
        line
    };
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn run(center: &Center, command: AdminCommand) -> Result<(), String> {
    match command {
        AdminCommand::Photos { prune_uploads_older_than_days } => {
            let prune = prune_uploads_older_than_days.map(|days| std::time::Duration::from_secs(days * 86_400));
            let (usage, removed) = center.photo_usage(prune).map_err(|e| format!("the photo folder: {e}"))?;
            if prune.is_some() {
                println!("removed {removed} abandoned uploads");
            }
            println!("photo folder: {}", center.photo_folder());
            println!("stored: {} blobs, {} bytes", usage.stored, usage.stored_bytes);
            println!("uploads under way: {}, {} bytes", usage.uploads, usage.upload_bytes);
        }
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
        AdminCommand::AddWorker { id, name, scopes, role, employment } => {
            let scope = gridsync_core::Scope::new(scopes.iter().cloned()).map_err(|e| e.to_string())?;
            center.put_worker(&crate::workers::Worker { id: id.clone(), name, role, employment, scope })?;
            println!("worker {id} ({}{}) covers {}", employment.zh(), role.zh(), scopes.join(", "));
        }
        AdminCommand::Policy { workers_call_back } => {
            center.set_policy(gridsync_core::Policy { workers_call_back })?;
            println!("grid workers record call-backs: {}", if workers_call_back { "yes" } else { "no" });
        }
        AdminCommand::AddStaff { id, name, role, scopes } => {
            let password = read_password()?;
            let now = gridsync_core::store::system_clock();
            let account =
                crate::console::accounts::Account { id: &id, name: &name, role, scope: &scopes, password: &password };
            crate::console::accounts::add_staff(center, "cli", account, now)?;
            println!("staff {id} ({}) covers {}", role.zh(), scopes.join(", "));
        }
        AdminCommand::EnrolCode { worker, valid_hours, center: address } => {
            let address = address
                .map(|a| enrolment_link::center_origin(&a).ok_or("--center: http(s)://host[:port], nothing more"))
                .transpose()?;
            let code = center.issue_enrolment_code(&worker, valid_hours * 3_600_000)?;
            println!("{code}");
            if let Some(address) = address {
                let ca = center.ca_certificate().map_err(|e| e.to_string())?;
                let link = crate::console::devices::enrolment_link(&address, &code, ca.as_deref());
                let qr = qrcode::QrCode::new(link.as_bytes()).map_err(|e| e.to_string())?;
                println!("{link}\n{}", qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
            }
        }
        AdminCommand::Devices => {
            println!("{:<38} {:<12} {:<8} {:<8} {:<16} name", "device", "worker", "revoked", "wipe", "records/changes");
            for d in center.devices().map_err(|e| e.to_string())? {
                // Today's new records / changes (China date), against the daily write budget.
                let (records, changes) = center.device_writes_today(&d.id).map_err(|e| e.to_string())?;
                let today = format!("{records}/{changes}");
                println!("{:<38} {:<12} {:<8} {:<8} {:<16} {}", d.id, d.worker_id, d.revoked, d.wipe, today, d.name);
            }
        }
        AdminCommand::Revoke { device, wipe } => {
            if !center.revoke(&device, wipe, "admin-cli").map_err(|e| e.to_string())? {
                return Err(format!("no device {device}"));
            }
            println!("revoked {device}{}", if wipe { " (wipe ordered)" } else { "" });
        }
        AdminCommand::Export { kind, area, out, format: Some(Format::Automerge) } => {
            let out = out.ok_or("--format automerge writes one file per record: give the folder as --out")?;
            let written = crate::export::write_documents(center, kind, &area, &out)?;
            eprintln!("exported {written} documents to {}", out.display());
        }
        AdminCommand::Export { kind, area, out, format } => {
            let format = format.unwrap_or_else(|| out.as_deref().map_or(Format::Csv, Format::for_path));
            let table = crate::export::table(center, kind, &area)?;
            match out {
                Some(path) => {
                    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    crate::export::write(&table, format, std::io::BufWriter::new(file))?;
                }
                None => crate::export::write(&table, format, std::io::stdout().lock())?,
            }
            eprintln!("exported {} rows", table.rows.len());
        }
        AdminCommand::InitTls { hosts, out } => {
            let generated = crate::tls::generate(&hosts)?;
            std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            std::fs::write(out.join("ca.pem"), &generated.ca_pem).map_err(|e| e.to_string())?;
            std::fs::write(out.join("server.pem"), &generated.cert_pem).map_err(|e| e.to_string())?;
            crate::storage::write_private(&out.join("server.key"), generated.key_pem.as_bytes())
                .map_err(|e| format!("cannot write server.key: {e}"))?;
            center.set_ca_certificate(&generated.ca_pem).map_err(|e| e.to_string())?;
            println!("wrote {}/{{ca.pem,server.pem,server.key}}; serve with --tls-cert and --tls-key", out.display());
            println!("phones enrol with ca.pem (give it to the app with the enrolment code)");
        }
        AdminCommand::Migrate { .. } => return run_standalone(command),
        AdminCommand::Stats => {
            println!("changes: {}", center.max_seq().map_err(|e| e.to_string())?);
            println!("records: {}", center.digest_of(&[String::new()]).map_err(|e| e.to_string())?.records);
            println!("devices: {}", center.devices().map_err(|e| e.to_string())?.len());
            for (reason, count) in center.refusals().map_err(|e| e.to_string())? {
                println!("refused {reason}: {count}");
            }
        }
    }
    Ok(())
}
