//! The figures of a run: for each, gridsync's value (C) beside the plain-SQLite floor
//! (A) and naive automerge (B), the goal and whether C meets it. Printed as a markdown
//! table or as JSON.

use serde::Serialize;

/// A target C's value is held against.
#[derive(Debug, Clone, Copy, Serialize)]
pub enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtMost(limit) => value <= limit,
            Goal::AtLeast(floor) => value >= floor,
        }
    }

    fn describe(self, unit: &str) -> String {
        match self {
            Goal::AtMost(limit) => format!("≤ {} {unit}", number(limit)),
            Goal::AtLeast(floor) => format!("≥ {} {unit}", number(floor)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub scenario: String,
    pub size: String,
    pub unit: &'static str,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub c: f64,
    pub goal: Option<Goal>,
    pub met: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub machine: String,
    pub mode: &'static str,
    pub figures: Vec<Figure>,
}

impl Report {
    /// Adds a figure; `goal` applies to C.
    pub fn add(
        &mut self,
        scenario: impl Into<String>,
        size: impl Into<String>,
        unit: &'static str,
        (a, b, c): (Option<f64>, Option<f64>, f64),
        goal: Option<Goal>,
    ) {
        let figure =
            Figure { scenario: scenario.into(), size: size.into(), unit, a, b, c, goal, met: goal.map(|g| g.met(c)) };
        eprintln!("  {:<58} {:>8}  C {:>12} {unit}", figure.scenario, figure.size, number(c));
        self.figures.push(figure);
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "gridsync benchmark ({} run) on {}\n\nA: plain rusqlite, same rows, no sync metadata (the floor). B: naive \
             automerge, one document per record saved whole, automerge's per-document sync. C: gridsync.\n\n",
            self.mode, self.machine
        );
        out.push_str(
            "| scenario | records | C | unit | C/A | C/B | goal (C) | met |\n|---|---:|---:|---|---:|---:|---|:-:|\n",
        );
        for f in &self.figures {
            let ratio = |base: Option<f64>| match base {
                Some(base) if base > 0.0 => format!("{:.2}", f.c / base),
                Some(_) => "∞".into(),
                None => "—".into(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                f.scenario,
                f.size,
                number(f.c),
                f.unit,
                ratio(f.a),
                ratio(f.b),
                f.goal.map(|g| g.describe(f.unit)).unwrap_or_default(),
                match f.met {
                    Some(true) => "✅",
                    Some(false) => "❌",
                    None => "",
                }
            ));
        }
        out
    }
}

/// A figure as people read it: integers above 100, three significant digits below.
pub fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}
