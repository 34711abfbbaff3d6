//! Where a command builder's scratch worktree is made.
//!
//! Writing the base's files is most of patchgate's own overhead around a builder, and it is
//! bound by the filesystem: on a repository of 10,000 files, `git checkout-index` takes ~0.4 s
//! on a tmpfs and from 0.9 s to over 9 s on a busy ext4 disk (benches/README.md, "Render B
//! overhead"). So by default ([`ScratchPlace::Auto`]) the worktree goes on a **tmpfs with room
//! for it**: the first of the system's temporary directory, `/dev/shm` and `$XDG_RUNTIME_DIR`
//! that is a tmpfs, is writable, is outside the mirrors and the data directory, and has free
//! space (and free memory: a tmpfs lives in it) for twice the base's footprint plus
//! [`HEADROOM`] — the builder writes there too. When none fits, the system's temporary
//! directory is used and [`Placement::note`] says why, for the log. An operator's directory
//! ([`ScratchPlace::Dir`], `render_b.scratch_dir`) is used as it is.
//!
//! Nothing about the worktree's isolation depends on where it is: it is a fresh directory
//! (mode 0700, made by `tempfile`) holding the base's files only, outside the mirrors and the
//! data directory (checked here for every candidate), and the capture refuses symlinks and
//! writes beside it wherever it lives.

use std::path::{Path, PathBuf};

/// Room left for the builder beyond twice the base's footprint.
pub const HEADROOM: u64 = 256 << 20;

/// Where scratch worktrees go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScratchPlace {
    /// A tmpfs with room, else the system's temporary directory.
    Auto,
    /// This directory, as it is.
    Dir(PathBuf),
}

/// The directory chosen for one worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub dir: PathBuf,
    /// Why no tmpfs was used, when `Auto` fell back to the system's temporary directory.
    pub note: Option<String>,
}

/// Whether `inner` is `outer` or inside it (both canonical where they exist).
pub(super) fn inside(inner: &Path, outer: &Path) -> bool {
    let c = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    c(inner).starts_with(c(outer))
}

fn refuse_forbidden(dir: &Path, forbidden: &[&Path]) -> Result<(), String> {
    for f in forbidden {
        if inside(dir, f) {
            return Err(format!(
                "the temporary directory {} is inside {}: a builder's worktree must be outside the mirrors and the data directory",
                dir.display(),
                f.display()
            ));
        }
    }
    Ok(())
}

/// What a tmpfs candidate offers: `Ok(free bytes)` or why it is not one.
pub trait Probe {
    fn tmpfs_free(&self, dir: &Path) -> Result<u64, String>;
}

/// The machine's filesystems (`statfs`, `/proc/meminfo`).
pub struct System;

impl Probe for System {
    fn tmpfs_free(&self, dir: &Path) -> Result<u64, String> {
        system_tmpfs_free(dir)
    }
}

#[cfg(target_os = "linux")]
fn system_tmpfs_free(dir: &Path) -> Result<u64, String> {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|_| "a NUL in the path")?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is a valid C string; `st` is written by statfs before it is read.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(format!("{}", std::io::Error::last_os_error()));
    }
    // SAFETY: statfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)]
    let fs_type = st.f_type as i64;
    if fs_type != TMPFS_MAGIC {
        return Err("not a tmpfs".into());
    }
    // SAFETY: as above; W_OK|X_OK on an existing directory only reads its mode.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err("not writable".into());
    }
    #[allow(clippy::unnecessary_cast)]
    let free = (st.f_bavail as u64).saturating_mul(st.f_bsize as u64);
    // A tmpfs lives in memory: its size limit may promise more than the machine has.
    Ok(match mem_available() {
        Some(m) => free.min(m),
        None => free,
    })
}

#[cfg(not(target_os = "linux"))]
fn system_tmpfs_free(_dir: &Path) -> Result<u64, String> {
    Err("tmpfs is only detected on Linux".into())
}

/// `MemAvailable` of `/proc/meminfo`, bytes.
#[cfg(target_os = "linux")]
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The candidates of `Auto`, in order, without repeats: the system's temporary directory (an
/// operator's `TMPDIR` on a tmpfs is honoured first), `/dev/shm`, `$XDG_RUNTIME_DIR`.
pub fn auto_candidates(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let tmp = env("TMPDIR")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    for c in [
        Some(tmp),
        Some(PathBuf::from("/dev/shm")),
        env("XDG_RUNTIME_DIR")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from),
    ]
    .into_iter()
    .flatten()
    {
        if c.is_absolute() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn mib(b: u64) -> String {
    format!("{} MiB", b.div_ceil(1 << 20))
}

/// Choose the directory for a worktree whose base takes `footprint` bytes on disk.
pub fn choose(
    place: &ScratchPlace,
    footprint: u64,
    forbidden: &[&Path],
    candidates: &[PathBuf],
    probe: &dyn Probe,
) -> Result<Placement, String> {
    let fallback = match place {
        ScratchPlace::Dir(d) => {
            refuse_forbidden(d, forbidden)?;
            return Ok(Placement {
                dir: d.clone(),
                note: None,
            });
        }
        ScratchPlace::Auto => candidates
            .first()
            .cloned()
            .unwrap_or_else(std::env::temp_dir),
    };
    let need = footprint.saturating_mul(2).saturating_add(HEADROOM);
    let mut why = Vec::new();
    for c in candidates {
        if refuse_forbidden(c, forbidden).is_err() {
            why.push(format!(
                "{}: inside the mirrors or the data directory",
                c.display()
            ));
            continue;
        }
        match probe.tmpfs_free(c) {
            Ok(free) if free >= need => {
                return Ok(Placement {
                    dir: c.clone(),
                    note: None,
                })
            }
            Ok(free) => why.push(format!("{}: a tmpfs with {} free", c.display(), mib(free))),
            Err(e) => why.push(format!("{}: {e}", c.display())),
        }
    }
    refuse_forbidden(&fallback, forbidden)?;
    Ok(Placement {
        note: Some(format!(
            "render B's scratch worktree is made in {} (no tmpfs with the {} it needs: {}); writing a large base there may take seconds — set `render_b.scratch_dir` in the server config to a faster directory",
            fallback.display(),
            mib(need),
            why.join("; ")
        )),
        dir: fallback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fake(HashMap<PathBuf, Result<u64, String>>);

    impl Probe for Fake {
        fn tmpfs_free(&self, dir: &Path) -> Result<u64, String> {
            self.0
                .get(dir)
                .cloned()
                .unwrap_or_else(|| Err("not a tmpfs".into()))
        }
    }

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn auto_takes_the_first_tmpfs_with_room_else_the_temporary_directory_and_says_why() {
        let cands = vec![p("/tmp"), p("/dev/shm"), p("/run/user/1000")];
        let fake = Fake(HashMap::from([
            (p("/dev/shm"), Ok(100 << 20)),
            (p("/run/user/1000"), Ok(4 << 30)),
        ]));
        // 40 MiB of base: needs 2 × 40 + 256 = 336 MiB; /dev/shm has 100.
        let got = choose(&ScratchPlace::Auto, 40 << 20, &[], &cands, &fake).unwrap();
        assert_eq!(
            got,
            Placement {
                dir: p("/run/user/1000"),
                note: None
            }
        );
        // Nothing fits: the temporary directory, and the note names every candidate.
        let got = choose(&ScratchPlace::Auto, 3 << 30, &[], &cands, &fake).unwrap();
        assert_eq!(got.dir, p("/tmp"));
        let note = got.note.unwrap();
        for needle in [
            "/tmp: not a tmpfs",
            "/dev/shm: a tmpfs with 100 MiB free",
            "/run/user/1000: a tmpfs with 4096 MiB free",
            "render_b.scratch_dir",
        ] {
            assert!(note.contains(needle), "{needle} in {note}");
        }
    }

    #[test]
    fn a_candidate_inside_the_data_directory_is_skipped_and_an_operators_directory_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let shm = data.join("shm");
        std::fs::create_dir_all(&shm).unwrap();
        let fake = Fake(HashMap::from([(shm.clone(), Ok(8 << 30))]));
        let cands = vec![dir.path().to_path_buf(), shm.clone()];
        let got = choose(&ScratchPlace::Auto, 1 << 20, &[&data], &cands, &fake).unwrap();
        assert_eq!(got.dir, dir.path());
        assert!(got
            .note
            .unwrap()
            .contains("inside the mirrors or the data directory"));
        let err = choose(&ScratchPlace::Dir(shm.clone()), 1, &[&data], &cands, &fake).unwrap_err();
        assert!(err.contains("must be outside the mirrors"), "{err}");
        let ok = choose(
            &ScratchPlace::Dir(dir.path().into()),
            1,
            &[&data],
            &[],
            &fake,
        )
        .unwrap();
        assert_eq!(ok.note, None);
    }

    #[test]
    fn candidates_are_the_temporary_directory_dev_shm_and_the_runtime_directory() {
        let env = |k: &str| match k {
            "TMPDIR" => Some("/dev/shm".to_string()),
            "XDG_RUNTIME_DIR" => Some("/run/user/7".to_string()),
            _ => None,
        };
        assert_eq!(auto_candidates(&env), vec![p("/dev/shm"), p("/run/user/7")]);
        let none = |_: &str| None;
        let c = auto_candidates(&none);
        assert_eq!(c[0], std::env::temp_dir());
        assert!(c.contains(&p("/dev/shm")));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_system_probe_tells_a_tmpfs_from_a_disk() {
        // /proc is never a tmpfs.
        assert!(System.tmpfs_free(Path::new("/proc")).is_err());
        let shm = Path::new("/dev/shm");
        if let Ok(free) = System.tmpfs_free(shm) {
            assert!(free > 0);
        }
    }
}
