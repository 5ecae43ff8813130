//! Spoiling real inputs for the property tests of untrusted bytes: flipped bits,
//! truncation, junk, another record kind. Shared by core's tests and the center's
//! (center/tests/push_rules.rs includes this file).

use gridsync_core::Kind;
use proptest::prelude::*;

/// How an input is spoiled.
#[derive(Debug, Clone)]
pub enum Spoil {
    Flip(Vec<(usize, u8)>),
    Truncate(usize),
    Junk(Vec<u8>),
    Relabel(Kind),
}

pub fn spoil() -> impl Strategy<Value = Spoil> {
    prop_oneof![
        prop::collection::vec((any::<usize>(), 1..=255u8), 1..6).prop_map(Spoil::Flip),
        any::<usize>().prop_map(Spoil::Truncate),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Spoil::Junk),
        prop_oneof![Just(Kind::Household), Just(Kind::Person), Just(Kind::Visit), Just(Kind::Incident)]
            .prop_map(Spoil::Relabel),
    ]
}

pub fn apply_spoil(bytes: &mut Vec<u8>, kind: &mut Kind, spoil: &Spoil) {
    match spoil {
        Spoil::Flip(flips) => {
            for (at, mask) in flips {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] ^= mask;
                }
            }
        }
        Spoil::Truncate(at) => bytes.truncate(at % bytes.len().max(1)),
        Spoil::Junk(junk) => *bytes = junk.clone(),
        Spoil::Relabel(other) => *kind = *other,
    }
}
