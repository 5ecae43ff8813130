//! Who may take which incident step: part of the merge rules, enforced where changes
//! enter the center (a phone's push, a staff member's step on the console) and offered
//! by the apps from the same table (docs/merge.md, "Roles").
//!
//! "综治中心负责程序性推进，办理部门负责实质性解决": the grid worker reports and handles on
//! site; the center accepts, diverts, assigns, escalates, presses, reviews and closes.

use serde::{Deserialize, Serialize};

use crate::model::{ALL_STEPS, Step};

/// A person's role: grid workers carry phones, staff work at the center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 网格员 (专职 or 兼职): reports, handles on site, comments.
    GridWorker,
    /// 网格长: a grid worker who also verifies and calls back in the grid.
    GridChief,
    /// 调度员: moves the loop at the center.
    Dispatcher,
    /// 领导: reads everything in scope, presses (督办) and comments.
    Leader,
    /// 管理员: workers, devices, enrolment, staff; takes no step.
    Admin,
}

/// What a member of the center's staff may do besides the incident steps (those are
/// [`Role::may_take`]): the one policy every console page and the server's handlers ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffAction {
    /// Settle a field's concurrent values (冲突).
    ResolveConflict,
    /// Issue enrolment codes and QR links for phones.
    EnrolDevice,
    /// Stop a device, or order it wiped.
    RevokeDevice,
    /// See an ID number or phone number whole (audited).
    RevealPersonalData,
    /// Export records holding personal data (audited).
    ExportPersonalData,
}

impl Role {
    /// Whether a member of the staff with this role may take `action`.
    pub fn may(self, action: StaffAction) -> bool {
        match action {
            StaffAction::ResolveConflict => self == Role::Dispatcher,
            StaffAction::EnrolDevice | StaffAction::RevokeDevice => self == Role::Admin,
            // Those who act on records read them whole; an admin manages devices and
            // accounts and needs no one's number.
            StaffAction::RevealPersonalData | StaffAction::ExportPersonalData => {
                matches!(self, Role::Dispatcher | Role::Leader)
            }
        }
    }
}

/// The steps only the field takes: a report, and handling on site.
const FIELD_STEPS: [Step; 4] = [Step::Report, Step::ResolveOnSite, Step::StartHandling, Step::Complete];

impl Role {
    pub const ALL: [Role; 5] = [Role::GridWorker, Role::GridChief, Role::Dispatcher, Role::Leader, Role::Admin];
    /// The roles of the center's staff (the console's accounts).
    pub const STAFF: [Role; 3] = [Role::Admin, Role::Dispatcher, Role::Leader];
    /// The roles of grid workers (the phones').
    pub const WORKERS: [Role; 2] = [Role::GridWorker, Role::GridChief];

    /// The code the wire, the database and the command line spell it with.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::GridChief => "grid_chief",
            Role::Dispatcher => "dispatcher",
            Role::Leader => "leader",
            Role::Admin => "admin",
        }
    }

    pub fn parse(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == code)
    }

    /// Whether `step` is this role's to take.
    pub fn may_take(self, step: Step, policy: Policy) -> bool {
        let field = FIELD_STEPS.contains(&step);
        match self {
            Role::GridWorker => {
                field
                    || matches!(step, Step::Comment | Step::MarkUrgent)
                    || (step == Step::CallBack && policy.workers_call_back)
            }
            Role::GridChief => {
                field
                    || matches!(
                        step,
                        Step::Comment | Step::MarkUrgent | Step::CallBack | Step::Verify | Step::VerifyFail
                    )
            }
            // Every step but the field's: 程序性推进.
            Role::Dispatcher => !field,
            Role::Leader => matches!(step, Step::Supervise | Step::Comment),
            Role::Admin => false,
        }
    }
}

/// What a township decides for its grid workers beyond their roles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Policy {
    /// Grid workers record the 回访 themselves (where the center does not call back).
    #[serde(default)]
    pub workers_call_back: bool,
}

/// A person's role with their township's policy: which steps are theirs. A phone learns
/// its worker's at enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Duties {
    pub role: Role,
    #[serde(default)]
    pub policy: Policy,
}

impl Duties {
    pub fn new(role: Role, policy: Policy) -> Self {
        Self { role, policy }
    }

    pub fn may_take(&self, step: Step) -> bool {
        self.role.may_take(step, self.policy)
    }

    /// Every step that is theirs, in loop order.
    pub fn steps(&self) -> Vec<Step> {
        ALL_STEPS.iter().copied().filter(|step| self.may_take(*step)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staff_policy_says_who_may_do_what() {
        use StaffAction::*;
        let may = |role: Role| {
            [ResolveConflict, EnrolDevice, RevokeDevice, RevealPersonalData, ExportPersonalData].map(|a| role.may(a))
        };
        assert_eq!(may(Role::Dispatcher), [true, false, false, true, true]);
        assert_eq!(may(Role::Leader), [false, false, false, true, true]);
        assert_eq!(may(Role::Admin), [false, true, true, false, false]);
        for worker in Role::WORKERS {
            assert_eq!(may(worker), [false; 5], "{worker:?}: a phone's worker is no staff");
        }
    }

    #[test]
    fn every_step_is_someones_and_the_field_and_the_center_split_the_loop() {
        let anyone = |step: Step| Role::ALL.iter().any(|role| role.may_take(step, Policy::default()));
        assert!(ALL_STEPS.iter().all(|step| anyone(*step)), "a step nobody may take");
        let worker = Duties::new(Role::GridWorker, Policy::default());
        assert_eq!(
            worker.steps(),
            [Step::Report, Step::StartHandling, Step::Complete, Step::ResolveOnSite, Step::MarkUrgent, Step::Comment]
        );
        for step in [Step::Accept, Step::Assign, Step::Divert, Step::Escalate, Step::Close, Step::Supervise] {
            assert!(!worker.may_take(step) && Role::Dispatcher.may_take(step, Policy::default()), "{step:?}");
        }
        for step in FIELD_STEPS {
            assert!(!Role::Dispatcher.may_take(step, Policy::default()), "{step:?}");
        }
        assert!(Duties::new(Role::GridWorker, Policy { workers_call_back: true }).may_take(Step::CallBack));
        assert!(!worker.may_take(Step::CallBack));
        assert!(Role::GridChief.may_take(Step::Verify, Policy::default()));
        assert_eq!(Duties::new(Role::Leader, Policy::default()).steps(), [Step::Supervise, Step::Comment]);
        assert!(Duties::new(Role::Admin, Policy::default()).steps().is_empty());
        assert!(Role::ALL.iter().all(|role| Role::parse(role.as_str()) == Some(*role)));
    }
}
