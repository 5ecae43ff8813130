//! Any bytes as any envelope: a clean error or a message, never a panic or a huge
//! allocation.
#![no_main]

use gridsync_core::sync::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wire::decode::<wire::PushRequest>(data);
    let _ = wire::decode::<wire::PushResponse>(data);
    let _ = wire::decode::<wire::PullRequest>(data);
    let _ = wire::decode::<wire::PullResponse>(data);
    let _ = wire::decode::<wire::EnrolRequest>(data);
    let _ = wire::decode::<wire::EnrolResponse>(data);
    let _ = wire::decode::<wire::DigestResponse>(data);
    let _ = wire::decode::<wire::FetchResponse>(data);
    let _ = wire::decode::<wire::ErrorBody>(data);
});
