#![no_main]
//! cargo fuzz run comment_command — see fuzz/targets.rs for what it checks.

#[path = "../targets.rs"]
#[allow(dead_code)]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::TARGETS
    .iter()
    .find(|(name, _)| *name == "comment_command")
    .expect("the target is listed")
    .1(data));
