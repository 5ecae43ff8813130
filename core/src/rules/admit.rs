//! One admission pipeline for every change that enters a replica: the phone receiving
//! the center's changes, the center receiving a device's push (a sealed bundle is
//! judged as its author's push) and a staff member's change from the console. Both ends
//! run the same stages, so a change one end accepts the other never refuses; a profile
//! says which stages run and why.
//!
//! | stage | replica | device push | staff change | why |
//! |---|---|---|---|---|
//! | bytes, ops, layout, encoding (`check_change`) | ✓ | ✓ | ✓ | what any change must be |
//! | made by the device's actor, named for its worker | — | ✓ | ✓ | a phone writes as itself only; the center relays others' |
//! | steps the author's role takes, under its own name (`check_duties`) | — | ✓ | ✓ | judged where the author is known |
//! | no change waiting for a missing one | — | ✓ | ✓ | a replica holds them until their history arrives |
//! | record bounds (`check_bounds`) | ✓ | ✓ | ✓ | every load costs what a record holds |
//! | the center's area checks (scope after, register) | — | ✓ | ✓ | the register lives at the center |
//! | valid as each change's author left it | ✓ | ✓ | ✓ | both ends judge the same view |
//! | steps legal in their own history, photos kept | ✓ | ✓ | ✓ | the loop and the evidence |
//! | the center's identity check (a derived person id) | — | ✓ | ✓ | the township key lives at the center |
//!
//! Stages that need what only the center holds come in through [`CenterChecks`].

use automerge::Change;

use super::{Breach, check_bounds, check_change, check_duties, check_photos, check_steps, check_valid_as_authored};
use crate::doc::RecordDoc;
use crate::model::Kind;
use crate::roles::Duties;
use crate::sync::wire::RejectCode;

/// Who the changes come from, and so which stages run (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A phone receiving what the center relays: anyone's changes, judged by what
    /// they are, waiting ones kept until their history arrives.
    Replica,
    /// The center receiving a device's push (or a sealed bundle, judged the same).
    DevicePush,
    /// A staff member's change made by the console on the center.
    StaffChange,
}

/// The author a push or a staff change must be: its actor (hex), the worker every
/// change names, and the steps their role takes.
#[derive(Debug, Clone, Copy)]
pub struct Author<'a> {
    pub actor: &'a str,
    pub worker: &'a str,
    pub duties: &'a Duties,
}

/// How a batch of changes is judged.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    pub profile: Profile,
    /// Required by [`Profile::DevicePush`] and [`Profile::StaffChange`].
    pub author: Option<Author<'a>>,
}

/// The stages only the center can run, over what it holds (the area register, the
/// township key, the device's scope). `E` is the center's own failure (its storage),
/// which is no refusal.
pub trait CenterChecks {
    type Error;
    /// After the bounds: the record's area, as the changes leave it, is one the author
    /// may reach and one of the township's register.
    fn check_area(&mut self, doc: &RecordDoc) -> Result<Result<(), Breach>, Self::Error>;
    /// Last: the record's identity (a person whose id derives from their ID number).
    fn check_identity(&mut self, id: &str, doc: &RecordDoc) -> Result<Result<(), Breach>, Self::Error>;
}

impl Admission<'_> {
    /// Judges `changes` of a record of `kind` by what they say by themselves, before
    /// anything is applied or looked up.
    pub fn alone(&self, kind: Kind, changes: &[Change]) -> Result<(), Breach> {
        for change in changes {
            if let Some(author) = self.author.filter(|_| self.profile != Profile::Replica) {
                if change.actor_id().to_hex_string() != author.actor {
                    return Err(Breach::new(
                        RejectCode::WrongAuthor,
                        "changes must be made by the pushing device's actor",
                    ));
                }
                if change.message() != Some(author.worker) {
                    return Err(Breach::new(RejectCode::WrongWorker, "a change must name the device's worker"));
                }
            }
            check_change(kind, change)?;
            if let Some(author) = self.author.filter(|_| self.profile != Profile::Replica) {
                check_duties(kind, change, author.duties, author.worker)?;
            }
        }
        Ok(())
    }

    /// Judges `applied`, the changes an apply brought into `doc` (for a replica, those
    /// that waited for them too), once they are applied; `center` runs the center's own
    /// stages (`None` on a phone).
    pub fn applied<E>(
        &self,
        id: &str,
        doc: &RecordDoc,
        applied: &[Change],
        mut center: Option<&mut dyn CenterChecks<Error = E>>,
    ) -> Result<Result<(), Breach>, E> {
        if self.profile != Profile::Replica && doc.has_queued_changes() {
            return Ok(Err(Breach::new(
                RejectCode::MissingDependencies,
                "an earlier change of this record is missing",
            )));
        }
        if let Err(breach) = check_bounds(doc) {
            return Ok(Err(breach));
        }
        if let Some(center) = center.as_deref_mut()
            && let Err(breach) = center.check_area(doc)?
        {
            return Ok(Err(breach));
        }
        let judged = check_valid_as_authored(doc, applied).and_then(|()| {
            applied.iter().try_for_each(|change| check_steps(doc, change).and_then(|()| check_photos(doc, change)))
        });
        if let Err(breach) = judged {
            return Ok(Err(breach));
        }
        match center {
            Some(center) => center.check_identity(id, doc),
            None => Ok(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failure here is a test failure

    use automerge::ActorId;

    use super::*;
    use crate::doc::Author as Writer;
    use crate::roles::{Policy, Role};

    /// Two changes of a household by `actor` for `worker`: a registration and an edit
    /// on top of it.
    fn two_changes(actor: [u8; 16], worker: &str) -> (Change, Change) {
        let mut doc = RecordDoc::new(Kind::Household, &ActorId::from(actor)).unwrap();
        let area = crate::AreaCode::parse("area_code", "110101001001001").unwrap();
        let mut household = crate::sample::Sample::new(3).household(&area, 1);
        let mut changes = Vec::new();
        for address in ["建设街1号", "建设街2号"] {
            let heads = doc.heads();
            household.address = address.into();
            doc.write(&household, &Writer { worker, at: 1_767_000_000_000 }).unwrap();
            changes.extend(doc.changes_since(&heads));
        }
        let second = changes.pop().unwrap();
        (changes.pop().unwrap(), second)
    }

    fn judged(admission: &Admission<'_>, changes: Vec<Change>) -> Result<(), RejectCode> {
        admission.alone(Kind::Household, &changes).map_err(|b| b.code)?;
        let mut doc = RecordDoc::new(Kind::Household, &ActorId::from([9u8; 16])).unwrap();
        doc.apply_changes(changes.clone()).unwrap();
        // What the apply brought in (a change still waiting is judged once it is applied).
        let applied: Vec<Change> = changes.into_iter().filter(|c| doc.holds(&c.hash())).collect();
        let Ok(judged) = admission.applied::<std::convert::Infallible>("id", &doc, &applied, None);
        judged.map_err(|b| b.code)
    }

    #[test]
    fn each_profile_runs_its_stages() {
        let duties = Duties::new(Role::GridWorker, Policy::default());
        let actor = hex::encode([1u8; 16]);
        let device =
            |profile| Admission { profile, author: Some(Author { actor: &actor, worker: "w-one", duties: &duties }) };
        let replica = Admission { profile: Profile::Replica, author: None };
        let (first, second) = two_changes([1u8; 16], "w-one");
        for admission in [replica, device(Profile::DevicePush), device(Profile::StaffChange)] {
            assert_eq!(judged(&admission, vec![first.clone(), second.clone()]), Ok(()), "{:?}", admission.profile);
        }
        // Another device's changes: relayed to a replica, refused from a push.
        let (theirs, _) = two_changes([2u8; 16], "w-one");
        assert_eq!(judged(&replica, vec![theirs.clone()]), Ok(()));
        assert_eq!(judged(&device(Profile::DevicePush), vec![theirs]), Err(RejectCode::WrongAuthor));
        let (named_otherwise, _) = two_changes([1u8; 16], "w-two");
        assert_eq!(judged(&device(Profile::StaffChange), vec![named_otherwise]), Err(RejectCode::WrongWorker));
        // A change whose history is missing: kept waiting by a replica, refused from a push.
        assert_eq!(judged(&replica, vec![second.clone()]), Ok(()));
        assert_eq!(judged(&device(Profile::DevicePush), vec![second]), Err(RejectCode::MissingDependencies));
    }
}
