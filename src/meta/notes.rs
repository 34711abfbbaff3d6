//! Decision records as git notes: `meta.yaml` attached to the head commit under
//! `refs/notes/patchgate`, so the record travels with the repository (`git notes --ref
//! patchgate show <commit>`; fetch with `git fetch origin refs/notes/patchgate:refs/notes/patchgate`).
//!
//! Works on bare and non-bare repositories. The note is written by the configured
//! `user.name`/`user.email`, or by `patchgate <patchgate@localhost>` when none is configured.
//!
//! Attaching is idempotent: the same record (same text) on the same commit writes nothing.
//! A different record for a commit that already has one replaces it (a forced note write) —
//! which loses nothing: the notes ref is itself a chain of commits, so the earlier note stays
//! in `refs/notes/patchgate`'s history (`git log -p refs/notes/patchgate`), and the ledger
//! keeps every record regardless.
//!
//! When the deployment signs its records (`PATCHGATE_SIGNING_KEY`), the SSH signature of the
//! note's exact text ([`super::sshsig`], namespace `patchgate-record`) is attached to the same
//! commit under [`SIGNATURES_REF`]; [`check_signature`] verifies it against allowed keys.
//!
//! The record holds only the hashes of its explanations; their texts (masked, the JSON of
//! [`super::texts::ExplanationTexts`]) are attached to the same commit under [`TEXTS_REF`], so
//! `patchgate report <commit>` and the record page can show them, each checked against its
//! recorded hash.
//!
//! This module must never touch any ref but those three notes refs, never rewrite the notes
//! history, and never return a record it could not parse as if it were one (reading does not
//! verify; call [`MetaRecord::verify`] or [`verify_yaml`](super::record::verify_yaml)).

use git2::{ErrorCode, Oid, Repository, Signature};

use super::record::{MetaRecord, RecordError};

/// The notes ref patchgate writes.
pub const NOTES_REF: &str = "refs/notes/patchgate";

/// The notes ref of the records' SSH signatures.
pub const SIGNATURES_REF: &str = "refs/notes/patchgate-signatures";

/// The notes ref of the records' explanation texts (masked; see [`super::texts`]).
pub const TEXTS_REF: &str = "refs/notes/patchgate-texts";

/// Why a note could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("the note on {commit} is not UTF-8 text")]
    NotText { commit: Oid },
    #[error("the note on {commit}: {source}")]
    Record {
        commit: Oid,
        #[source]
        source: RecordError,
    },
    #[error("record could not be written as YAML: {0}")]
    Write(RecordError),
}

/// The signature notes are written with: the repository's configured user, or
/// `patchgate <patchgate@localhost>`.
pub fn signature(repo: &Repository) -> Result<Signature<'static>, git2::Error> {
    match repo.signature() {
        Ok(sig) => Ok(sig),
        Err(_) => Signature::now("patchgate", "patchgate@localhost"),
    }
}

/// What [`attach_replacing`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// The note's blob id.
    pub id: Oid,
    /// The commit already carried a different note, which this one replaced: the earlier
    /// record's hash (or what it was, when it was not a sealed record). It stays in the notes
    /// ref's history and, when it was sealed here, in the ledger.
    pub replaced: Option<String>,
}

/// [`attach`], saying whether an earlier, different note was replaced (a second gate of the
/// same head: callers tell the user, it is never silent).
pub fn attach_replacing(
    repo: &Repository,
    commit: Oid,
    record: &MetaRecord,
) -> Result<Attached, NoteError> {
    let text = record.to_yaml().map_err(NoteError::Write)?;
    let replaced = match find(repo, commit)? {
        Some(note) if note.message().ok() == Some(text.as_str()) => None,
        Some(note) => Some(
            note.message()
                .ok()
                .and_then(|t| MetaRecord::from_yaml(t).ok())
                .and_then(|r| r.record_hash)
                .unwrap_or_else(|| "a note that is not a sealed patchgate record".to_string()),
        ),
        None => None,
    };
    let id = attach_text(repo, commit, &text)?;
    Ok(Attached { id, replaced })
}

/// Attaches `record` (as `meta.yaml` text) to `commit` under [`NOTES_REF`] and returns the
/// note's blob id. If the commit already carries exactly this text, nothing is written. If it
/// carries something else, the note is overwritten; the previous one stays in the notes ref's
/// history (see the module doc).
pub fn attach(repo: &Repository, commit: Oid, record: &MetaRecord) -> Result<Oid, NoteError> {
    let text = record.to_yaml().map_err(NoteError::Write)?;
    attach_text(repo, commit, &text)
}

/// [`attach`] for text already written.
pub fn attach_text(repo: &Repository, commit: Oid, text: &str) -> Result<Oid, NoteError> {
    attach_under(repo, NOTES_REF, commit, text)
}

/// Attach `json` (the record's [`super::texts::ExplanationTexts`], masked) to `commit` under
/// [`TEXTS_REF`]: nothing is written when the commit already carries exactly this text, and a
/// different one is replaced (it stays in the notes ref's history, as [`attach_text`] says).
pub fn attach_texts(repo: &Repository, commit: Oid, json: &str) -> Result<Oid, NoteError> {
    attach_under(repo, TEXTS_REF, commit, json)
}

fn attach_under(
    repo: &Repository,
    notes_ref: &str,
    commit: Oid,
    text: &str,
) -> Result<Oid, NoteError> {
    if let Some(note) = find_under(repo, notes_ref, commit)? {
        if note.message().ok() == Some(text) {
            return Ok(note.id());
        }
    }
    let sig = signature(repo)?;
    Ok(repo.note(&sig, &sig, Some(notes_ref), commit, text, true)?)
}

/// The note text on `commit`, if it has one.
pub fn read_raw(repo: &Repository, commit: Oid) -> Result<Option<String>, NoteError> {
    match find(repo, commit)? {
        None => Ok(None),
        Some(note) => note
            .message()
            .map(|s| Some(s.to_string()))
            .map_err(|_| NoteError::NotText { commit }),
    }
}

/// The record on `commit`, if it has one. Parsed, not verified.
pub fn read(repo: &Repository, commit: Oid) -> Result<Option<MetaRecord>, NoteError> {
    match read_raw(repo, commit)? {
        None => Ok(None),
        Some(text) => MetaRecord::from_yaml(&text)
            .map(Some)
            .map_err(|source| NoteError::Record { commit, source }),
    }
}

/// Sign `text` (the record note's exact text) with `key` and attach the signature to `commit`
/// under [`SIGNATURES_REF`] (replacing an earlier one, as [`attach_text`] does).
pub fn attach_signature(
    repo: &Repository,
    commit: Oid,
    text: &str,
    key: &super::sshsig::SigningKey,
) -> Result<Oid, NoteError> {
    let armored = key.sign(text.as_bytes(), super::sshsig::RECORD_NAMESPACE);
    let sig = signature(repo)?;
    Ok(repo.note(&sig, &sig, Some(SIGNATURES_REF), commit, &armored, true)?)
}

/// The armored signature attached to `commit`, if any.
pub fn read_signature(repo: &Repository, commit: Oid) -> Result<Option<String>, NoteError> {
    match repo.find_note(Some(SIGNATURES_REF), commit) {
        Ok(n) => n
            .message()
            .map(|s| Some(s.to_string()))
            .map_err(|_| NoteError::NotText { commit }),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every signature `commit` has carried under [`SIGNATURES_REF`], newest first: the current
/// note, then the ones later gates of the same head replaced (they stay in the notes ref's
/// history, see the module doc); the last `limit` notes commits are looked at. A record page
/// finds the signature of *its* record among them, not only the newest record's.
pub fn signature_history(
    repo: &Repository,
    commit: Oid,
    limit: usize,
) -> Result<Vec<String>, NoteError> {
    history(repo, SIGNATURES_REF, commit, limit)
}

/// Every explanation-texts note `commit` has carried under [`TEXTS_REF`], newest first, as
/// [`signature_history`] finds the signatures: a record finds the texts of *its* record
/// among them (`super::texts::ExplanationTexts::pick`).
pub fn texts_history(
    repo: &Repository,
    commit: Oid,
    limit: usize,
) -> Result<Vec<String>, NoteError> {
    history(repo, TEXTS_REF, commit, limit)
}

fn history(
    repo: &Repository,
    notes_ref: &str,
    commit: Oid,
    limit: usize,
) -> Result<Vec<String>, NoteError> {
    let tip = match repo.refname_to_id(notes_ref) {
        Ok(id) => id,
        Err(e) if e.code() == ErrorCode::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let hex = commit.to_string();
    // A notes tree names a commit's note by its id, whole or fanned out (`ab/cdef…`).
    let paths = [hex.clone(), format!("{}/{}", &hex[..2], &hex[2..])];
    let mut walk = repo.revwalk()?;
    walk.push(tip)?;
    walk.simplify_first_parent()?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for id in walk.take(limit) {
        let tree = repo.find_commit(id?)?.tree()?;
        let Some(entry) = paths
            .iter()
            .find_map(|p| tree.get_path(std::path::Path::new(p)).ok())
        else {
            continue;
        };
        if !seen.insert(entry.id()) {
            continue;
        }
        let blob = repo.find_blob(entry.id())?;
        let text =
            std::str::from_utf8(blob.content()).map_err(|_| NoteError::NotText { commit })?;
        out.push(text.to_string());
    }
    Ok(out)
}

/// Check `signature` (armored, or `None`: unsigned) over the record `text` against the keys of
/// `allowed_signers` (an `allowed_signers` file's text, or public key lines). `Ok` names the
/// key that signed (its fingerprint); `Err` says why not, in one line.
pub fn check_signature(
    text: &str,
    signature: Option<&str>,
    allowed_signers: &str,
) -> Result<String, String> {
    use super::sshsig::{allowed_keys, verify, RECORD_NAMESPACE};
    let allowed = allowed_keys(allowed_signers).map_err(|e| format!("the allowed keys: {e}"))?;
    let Some(signature) = signature else {
        return Err("the record is not signed".to_string());
    };
    verify(signature, text.as_bytes(), RECORD_NAMESPACE, &allowed)
        .map(|k| k.fingerprint())
        .map_err(|e| e.to_string())
}

fn find(repo: &Repository, commit: Oid) -> Result<Option<git2::Note<'_>>, git2::Error> {
    find_under(repo, NOTES_REF, commit)
}

fn find_under<'r>(
    repo: &'r Repository,
    notes_ref: &str,
    commit: Oid,
) -> Result<Option<git2::Note<'r>>, git2::Error> {
    match repo.find_note(Some(notes_ref), commit) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
