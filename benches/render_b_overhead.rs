//! Render B's overhead around a builder: on a repository of 10,000 files, the time patchgate
//! itself takes to make the scratch worktree of the base, capture what the builder changed,
//! validate it and commit it as render B — the builder's own run is timed apart and excluded.
//! Target: at most 1 s, by default. 10 runs of each placement of the scratch worktree,
//! interleaved so that both see the same machine: the system's temporary directory (the old
//! default, `render_b.scratch_dir: <TMPDIR>`) and `auto` (the default: a tmpfs with room, else
//! the temporary directory). Prints the median and the worst of each phase.
//!
//! Run: `cargo bench --bench render_b_overhead` (see benches/README.md, "Render B overhead").
//! The builder is `sh -c` editing two files and adding one — a stand-in whose cost is not
//! patchgate's.

use std::path::Path;
use std::time::{Duration, Instant};

use git2::{Repository, Signature};
use patchgate::builder::command::{run, Run};
use patchgate::builder::commit::{commit, BuildFacts};
use patchgate::builder::place::ScratchPlace;
use patchgate::builder::worktree::{ChangeLimits, Scratch};

const DIRS: usize = 100;
const FILES_PER_DIR: usize = 100;
const RUNS: usize = 10;

/// A bare repository whose one commit holds DIRS × FILES_PER_DIR files of ~1 KiB, packed.
fn build(path: &Path) -> (Repository, git2::Oid) {
    let repo = Repository::init_bare(path).expect("init");
    let base = {
        let mut root = repo.treebuilder(None).expect("treebuilder");
        for d in 0..DIRS {
            let mut tb = repo.treebuilder(None).expect("treebuilder");
            for f in 0..FILES_PER_DIR {
                let text = format!("// file {d}/{f}\n{}", "fn x() -> u32 { 42 }\n".repeat(48));
                let blob = repo.blob(text.as_bytes()).expect("blob");
                tb.insert(format!("f{f:03}.rs"), blob, 0o100644)
                    .expect("insert");
            }
            let tree = tb.write().expect("tree");
            root.insert(format!("d{d:03}"), tree, 0o040000)
                .expect("insert");
        }
        let tree = repo.find_tree(root.write().expect("tree")).expect("tree");
        let sig = Signature::now("t", "t@example.com").expect("signature");
        repo.commit(Some("refs/heads/main"), &sig, &sig, "base", &tree, &[])
            .expect("commit")
    };
    if std::env::var_os("PATCHGATE_BENCH_LOOSE").is_none() {
        // Packed, as a server's mirror holds a base it fetched (libgit2 keeps the pack it
        // receives); PATCHGATE_BENCH_LOOSE=1 keeps the 10,000 blobs as loose objects.
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(path)
            .args(["repack", "-adq"])
            .output()
            .expect("git repack");
        assert!(out.status.success(), "git repack failed");
    }
    (repo, base)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The timings of one placement, per phase.
#[derive(Default)]
struct Phases {
    checkout: Vec<Duration>,
    capture: Vec<Duration>,
    commit: Vec<Duration>,
    builder: Vec<Duration>,
    total: Vec<Duration>,
    placed: String,
}

fn one_run(repo: &Repository, base: git2::Oid, place: &ScratchPlace, key: &str, p: &mut Phases) {
    let argv: Vec<String> = [
        "sh",
        "-c",
        "echo '// edited' >> d000/f000.rs && echo '// edited' >> d099/f099.rs && echo 'new' > d050/new.rs && echo 'Edited two files, added one.'",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = vec![(
        "PATH".to_string(),
        std::env::var("PATH").unwrap_or_default(),
    )];
    let t0 = Instant::now();
    let scratch = Scratch::checkout(repo, base, place, &[], "the request").expect("checkout");
    let t1 = Instant::now();
    p.placed = match &scratch.placement().note {
        None => scratch.placement().dir.display().to_string(),
        Some(_) => format!("{} (fallback)", scratch.placement().dir.display()),
    };
    run(&Run {
        argv: &argv,
        work: scratch.work(),
        request_file: &scratch.request_file(),
        base: &base.to_string(),
        env,
        timeout: Duration::from_secs(60),
        max_output_bytes: 1 << 16,
    })
    .expect("the builder runs");
    let t2 = Instant::now();
    let changes = scratch
        .capture(ChangeLimits {
            max_files: 50,
            max_bytes: 1 << 20,
        })
        .expect("capture");
    assert_eq!(changes.len(), 3);
    let t3 = Instant::now();
    let facts = BuildFacts {
        builder: "bench".into(),
        kind: "command".into(),
        model: None,
        command: Some("sh -c".into()),
        cost_usd: 0.0,
        seconds: 0.0,
        request_hash: format!("sha256:{key:0>64}"),
        request_source: "file".into(),
        base: base.to_string(),
        files: changes.len(),
    };
    commit(
        repo,
        base,
        &changes,
        "Edited two files, added one.\n",
        &facts,
        &[format!("refs/patchgate/render-b/bench/{key}")],
    )
    .expect("commit");
    drop(scratch); // the scratch directory is removed: part of the overhead
    let t4 = Instant::now();
    p.checkout.push(t1 - t0);
    p.builder.push(t2 - t1);
    p.capture.push(t3 - t2);
    p.commit.push(t4 - t3);
    p.total.push((t1 - t0) + (t4 - t2));
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (repo, base) = build(&dir.path().join("repo.git"));
    let placements = [
        (
            "system temporary directory (old default)",
            ScratchPlace::Dir(std::env::temp_dir()),
        ),
        ("auto (the default)", ScratchPlace::Auto),
    ];
    let mut phases: Vec<Phases> = placements.iter().map(|_| Phases::default()).collect();
    for i in 0..RUNS {
        for (j, (_, place)) in placements.iter().enumerate() {
            one_run(&repo, base, place, &format!("{i}-{j}"), &mut phases[j]);
        }
    }
    let worst = |v: &[Duration]| *v.iter().max().expect("runs");
    let cell = |v: &[Duration]| format!("{} / {}", ms(median(v.to_vec())), ms(worst(v)));
    println!(
        "render B overhead on {} files, {RUNS} runs of each placement, interleaved (median / worst):",
        DIRS * FILES_PER_DIR
    );
    for ((name, _), p) in placements.iter().zip(&phases) {
        println!("scratch: {name}, made in {}", p.placed);
        for (phase, v) in [
            ("worktree (checkout of the base)", &p.checkout),
            ("capture + validate", &p.capture),
            ("commit + refs + note, cleanup", &p.commit),
        ] {
            println!("  {phase:<34} {}", cell(v));
        }
        println!(
            "  {:<34} {}   (target <= 1000 ms)",
            "patchgate's overhead, total",
            cell(&p.total)
        );
        println!(
            "  {:<34} {}   (excluded)",
            "the builder itself",
            cell(&p.builder)
        );
    }
}
