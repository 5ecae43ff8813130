//! 网格: per-grid and per-worker figures, as a township is assessed (考核): households,
//! persons, incidents reported, average time to acceptance, overdue, completion and
//! call-back rates, and when each worker's phone last synced; with a chart drawn on the
//! server (SVG, no script). Every figure is counted from the records in the staff
//! member's scope, at the moment the page is drawn.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use gridsync_core::zh::{Zh, china_time};
use gridsync_core::{Incident, IncidentStatus, Kind, Millis, Step, Store};
use maud::{Markup, html};

use super::web::{SignedIn, blocking, incidents_under, layout, now, page};
use crate::app::AppState;
use crate::workers::Worker;

/// Digits of a grid's code.
const GRID_DIGITS: usize = 15;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/grid", get(grid_page))
}

/// What a set of incidents adds up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentFigures {
    pub reported: u64,
    /// Accepted ones, and the hours from report to acceptance summed over them.
    pub accepted: u64,
    accept_hours: f64,
    /// Given a deadline, and of those past it undone (or done after it).
    pub with_deadline: u64,
    pub overdue: u64,
    /// Handled to completion (办结 or later), and called back (回访).
    pub completed: u64,
    pub called_back: u64,
}

impl IncidentFigures {
    /// Adds one incident, judged at `now`.
    pub fn add(&mut self, incident: &Incident, now: Millis) {
        let at = |step: Step| incident.timeline.iter().find(|e| e.step == step).map(|e| e.at);
        let Some(reported) = at(Step::Report) else { return };
        self.reported += 1;
        if let Some(accepted) = at(Step::Accept) {
            self.accepted += 1;
            self.accept_hours += (accepted - reported).max(0) as f64 / 3_600_000.0;
        }
        // Judged by the status the fold gives, as the board judges it: a completion
        // that concurrent steps overtook (an escalation after it) is not one.
        let state = incident.state();
        let completed =
            matches!(state.status, IncidentStatus::Completed | IncidentStatus::Verified | IncidentStatus::Closed);
        if let Some(deadline) = state.deadline {
            self.with_deadline += 1;
            let done_at = [Step::Complete, Step::ResolveOnSite].into_iter().filter_map(at).min();
            let late = state.overdue(now) || (completed && done_at.is_some_and(|done| done > deadline));
            self.overdue += u64::from(late);
        }
        if completed {
            self.completed += 1;
            self.called_back += u64::from(at(Step::CallBack).is_some());
        }
    }

    /// Average hours from report to acceptance.
    pub fn accept_hours(&self) -> Option<f64> {
        (self.accepted > 0).then(|| self.accept_hours / self.accepted as f64)
    }
}

/// `part / whole` as a percentage, or a dash.
fn rate(part: u64, whole: u64) -> String {
    if whole == 0 { "—".into() } else { format!("{:.0}%", part as f64 * 100.0 / whole as f64) }
}

#[derive(Debug, Default)]
struct GridRow {
    households: u64,
    persons: u64,
    incidents: IncidentFigures,
}

struct WorkerRow {
    worker: Worker,
    /// The incidents this worker reported.
    incidents: IncidentFigures,
    last_sync: Option<Millis>,
}

fn figures(
    store: &Store,
    prefixes: &[String],
    // The workers within the staff member's scope.
    workers: Vec<Worker>,
    devices: &[crate::storage::DeviceRow],
) -> Result<(BTreeMap<String, GridRow>, Vec<WorkerRow>), String> {
    let mut grids: BTreeMap<String, GridRow> = BTreeMap::new();
    for prefix in prefixes {
        for (kind, field) in [(Kind::Household, 0), (Kind::Person, 1)] {
            for (grid, count) in store.count_by_area(kind, prefix, GRID_DIGITS as u32).map_err(|e| e.to_string())? {
                let row = grids.entry(grid).or_default();
                if field == 0 { row.households += count } else { row.persons += count }
            }
        }
    }
    let at = now();
    let mut reported_by: BTreeMap<String, IncidentFigures> = BTreeMap::new();
    for row in incidents_under(store, prefixes)? {
        let incident = store.get::<Incident>(&row.id).map_err(|e| e.to_string())?.record;
        let grid: String = row.area_code.chars().take(GRID_DIGITS).collect();
        grids.entry(grid).or_default().incidents.add(&incident, at);
        if let Some(report) = incident.timeline.iter().find(|e| e.step == Step::Report) {
            reported_by.entry(report.by.clone()).or_default().add(&incident, at);
        }
    }
    let workers = workers
        .into_iter()
        .map(|worker| WorkerRow {
            incidents: reported_by.remove(&worker.id).unwrap_or_default(),
            last_sync: devices.iter().filter(|d| d.worker_id == worker.id).filter_map(|d| d.last_seen).max(),
            worker,
        })
        .collect();
    Ok((grids, workers))
}

/// Bars of incidents reported per grid, the completed part darker.
fn chart(grids: &BTreeMap<String, GridRow>) -> Markup {
    let most = grids.values().map(|g| g.incidents.reported).max().unwrap_or(0).max(1);
    let (bar_height, label_width, bar_width) = (26, 150, 420);
    let height = grids.len() * bar_height + 30;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(label_width + bar_width + 60) height=(height)
            role="img" aria-label="各网格上报事件数" {
            @for (n, (grid, row)) in grids.iter().enumerate() {
                @let y = n * bar_height + 4;
                @let reported = row.incidents.reported as usize * bar_width / most as usize;
                @let completed = row.incidents.completed as usize * bar_width / most as usize;
                text x="0" y=(y + 16) font-size="13" fill="#333" { (grid) }
                rect x=(label_width) y=(y) width=(reported) height="18" fill="#9ec5e8" {}
                rect x=(label_width) y=(y) width=(completed) height="18" fill="#2a6fb0" {}
                text x=(label_width + reported + 6) y=(y + 14) font-size="12" fill="#333" {
                    (row.incidents.reported) " / 办结 " (row.incidents.completed)
                }
            }
            text x="0" y=(height - 6) font-size="12" fill="#666" { "浅色：上报事件；深色：已办结" }
        }
    }
}

fn figure_headers() -> Markup {
    html! { th { "上报事件" } th { "平均受理用时" } th { "超期率" } th { "办结率" } th { "回访率" } }
}

fn figure_cells(f: &IncidentFigures) -> Markup {
    html! {
        td.number { (f.reported) }
        td.number { (f.accept_hours().map(|h| format!("{h:.1} 小时")).unwrap_or_else(|| "—".into())) }
        td.number { (rate(f.overdue, f.with_deadline)) }
        td.number { (rate(f.completed, f.reported)) }
        td.number { (rate(f.called_back, f.completed)) }
    }
}

async fn grid_page(State(state): State<AppState>, SignedIn { staff, csrf, .. }: SignedIn) -> Response {
    let (center, model) = (state.center.clone(), state.read_model.clone());
    let (prefixes, scope) = (staff.scope.prefixes().to_vec(), staff.scope.clone());
    let counted = blocking(move || {
        let workers = center.workers().map_err(|e| e.to_string())?.into_iter().filter_map(Worker::from_row);
        let workers = workers.filter(|worker| worker.within(&scope)).collect();
        let devices = center.devices().map_err(|e| e.to_string())?;
        let (grids, workers) = model.read(&center, |store| figures(store, &prefixes, workers, &devices))?;
        // The register's name of each grid (or of the village above it).
        let names: BTreeMap<String, String> =
            grids.keys().map(|grid| (grid.clone(), center.area_name(grid).unwrap_or_default())).collect();
        Ok((grids, workers, names))
    })
    .await;
    let (grids, workers, names) = match counted {
        Ok(counted) => counted,
        Err(response) => return response,
    };
    let content = html! {
        h2 { "各网格" }
        (chart(&grids))
        table {
            thead { tr { th { "网格" } th { "户" } th { "人口" } (figure_headers()) } }
            tbody {
                @for (grid, row) in &grids {
                    tr {
                        td {
                            @match names.get(grid).filter(|name| !name.is_empty()) {
                                Some(name) => { a href={ "/console/people?area=" (grid) } { (name) } " " span.muted { (grid) } }
                                None => { a href={ "/console/people?area=" (grid) } { (grid) } }
                            }
                        }
                        td.number { (row.households) }
                        td.number { (row.persons) }
                        (figure_cells(&row.incidents))
                    }
                }
            }
        }
        h2 { "网格员" }
        table {
            thead { tr {
                th { "网格员" } th { "岗位" } th { "负责区域" } (figure_headers()) th { "手机最近同步" }
            } }
            tbody {
                @for row in &workers {
                    tr {
                        td { (row.worker.name) " " span.muted { (row.worker.id) } }
                        td { (row.worker.employment.zh()) (row.worker.role.zh()) }
                        td { (row.worker.scope.prefixes().join("、")) }
                        (figure_cells(&row.incidents))
                        td { (row.last_sync.map(china_time).unwrap_or_else(|| "从未同步".into())) }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout("网格", Some((&staff, &csrf)), content), Vec::new())
}

#[cfg(test)]
mod tests {
    use gridsync_core::sample::{Sample, follow_up};

    use super::*;

    fn incident(steps: &[(Step, i64)], deadline: Option<i64>) -> Incident {
        let area = gridsync_core::AreaCode::parse("area_code", "44010601200300101").unwrap();
        let mut incident = Sample::new(1).incident(&area, 1, 0);
        incident.timeline = steps
            .iter()
            .map(|(step, hour)| {
                let mut entry = follow_up(*step, "w", hour * 3_600_000);
                if *step == Step::Assign {
                    entry.deadline = deadline;
                }
                entry
            })
            .collect();
        incident
    }

    #[test]
    fn figures_count_what_the_timelines_hold() {
        let mut figures = IncidentFigures::default();
        let hour = 3_600_000;
        // Accepted after 2 h, assigned with a deadline at 10 h, completed at 12 h: late.
        let late = incident(
            &[(Step::Report, 0), (Step::Accept, 2), (Step::Assign, 3), (Step::StartHandling, 4), (Step::Complete, 12)],
            Some(10 * hour),
        );
        figures.add(&late, 20 * hour);
        // Accepted after 4 h, still open at 20 h with a deadline at 30 h: not overdue.
        figures.add(&incident(&[(Step::Report, 0), (Step::Accept, 4), (Step::Assign, 5)], Some(30 * hour)), 20 * hour);
        // Resolved on site and called back.
        figures.add(&incident(&[(Step::Report, 0), (Step::ResolveOnSite, 1), (Step::CallBack, 2)], None), 20 * hour);
        // Completed on a phone while the center escalated: the merged timeline holds the
        // escalation first, the completion goes to review. Past its deadline: overdue,
        // not completed.
        figures.add(
            &incident(
                &[
                    (Step::Report, 0),
                    (Step::Accept, 1),
                    (Step::Assign, 1),
                    (Step::StartHandling, 2),
                    (Step::Escalate, 4),
                    (Step::Complete, 3),
                ],
                Some(5 * hour),
            ),
            20 * hour,
        );
        // A draft is not counted.
        figures.add(&incident(&[], None), 20 * hour);
        assert_eq!((figures.reported, figures.accepted, figures.with_deadline, figures.overdue), (4, 3, 3, 2));
        assert_eq!((figures.completed, figures.called_back), (2, 1));
        assert_eq!(figures.accept_hours(), Some(7.0 / 3.0));
        assert_eq!((rate(1, 2), rate(0, 0)), ("50%".to_owned(), "—".to_owned()));
    }
}
