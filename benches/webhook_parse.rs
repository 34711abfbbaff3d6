//! The CPU cost of reading one delivery, in process: `webhook::parse` (one pass: the payload
//! type the event name calls for, the `action` picked up on the way) against
//! `webhook::diagnose` (the reading intake used before: the envelope, then the typed payload,
//! both with serde_path_to_error's path bookkeeping), on the recorded deliveries, alternating
//! the two in rounds so the machine's load falls on both alike.
//!
//! ```sh
//! cargo bench --bench webhook_parse               # 15 rounds of 2,000 parses per recording
//! cargo bench --bench webhook_parse -- 31 5000    # rounds, parses per round
//! ```
//!
//! It prints, per recording, the median over rounds of the mean time of one parse, each way,
//! and their ratio; and checks that both readings agree on every recording.

use std::hint::black_box;
use std::time::Instant;

use patchgate::webhook::{diagnose, parse};

const RECORDINGS: [(&str, &str); 4] = [
    ("pull_request.opened.json", "pull_request"),
    ("issue_comment.created.json", "issue_comment"),
    ("check_run.completed.json", "check_run"),
    ("push.json", "push"),
];

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rounds = args.first().copied().unwrap_or(15).max(1);
    let per_round = args.get(1).copied().unwrap_or(2_000).max(1);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/github/webhooks");
    println!(
        "{rounds} rounds of {per_round} parses each way, alternating; median over rounds of \
         the mean µs per parse"
    );
    println!(
        "{:<30} {:>8} {:>14} {:>14} {:>8}",
        "recording", "bytes", "two passes", "one pass", "ratio"
    );
    for (file, event) in RECORDINGS {
        let body = std::fs::read(format!("{dir}/{file}")).expect("the recording");
        assert_eq!(
            parse(event, &body),
            diagnose(event, &body),
            "{file}: the readings differ"
        );
        let time = |f: &dyn Fn() -> bool| {
            let started = Instant::now();
            for _ in 0..per_round {
                black_box(f());
            }
            started.elapsed().as_secs_f64() * 1e6 / per_round as f64
        };
        let (mut slow, mut fast) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            slow.push(time(&|| {
                diagnose(black_box(event), black_box(&body)).is_ok()
            }));
            fast.push(time(&|| parse(black_box(event), black_box(&body)).is_ok()));
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (s, f) = (median(&mut slow), median(&mut fast));
        println!(
            "{file:<30} {:>8} {s:>11.2} µs {f:>11.2} µs {:>7.2}x",
            body.len(),
            s / f
        );
    }
}
