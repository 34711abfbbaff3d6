//! SSH signatures made by `patchgate::meta::sshsig` against the real `ssh-keygen`: what
//! patchgate signs, `ssh-keygen -Y verify` accepts (and refuses once the text is changed);
//! what `ssh-keygen -Y sign` signs, patchgate verifies; a key outside the allowed set is
//! refused. Keys are made at test time in a temporary directory.

use std::path::Path;
use std::process::{Command, Stdio};

use patchgate::meta::sshsig::{allowed_keys, verify, SigError, SigningKey, RECORD_NAMESPACE};

fn keygen(dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen (OpenSSH) is needed by these tests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(path.with_extension("pub")).unwrap(),
    )
}

fn ssh_verify(dir: &Path, allowed: &str, sig: &str, message: &[u8]) -> bool {
    std::fs::write(dir.join("allowed_signers"), allowed).unwrap();
    std::fs::write(dir.join("msg.sig"), sig).unwrap();
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(dir.join("allowed_signers"))
        .args(["-I", "ops@example.com", "-n", RECORD_NAMESPACE, "-s"])
        .arg(dir.join("msg.sig"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(message).unwrap();
    child.wait().unwrap().success()
}

#[test]
fn ssh_keygen_verifies_what_patchgate_signs() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keygen(dir.path(), "deploy");
    let key = SigningKey::from_openssh(&private).unwrap();
    assert_eq!(
        key.public().to_openssh(),
        public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let record = b"record_hash: sha256:0123\nquorum_passed: true\n";
    let sig = key.sign(record, RECORD_NAMESPACE);
    let allowed = format!("ops@example.com {}", key.public().to_openssh());
    assert!(ssh_verify(dir.path(), &allowed, &sig, record));
    assert!(!ssh_verify(
        dir.path(),
        &allowed,
        &sig,
        b"record_hash: sha256:0124\nquorum_passed: true\n"
    ));
    // The debug form names the key by fingerprint only.
    assert!(!format!("{key:?}").contains(private.lines().nth(1).unwrap()));
}

#[test]
fn patchgate_verifies_what_ssh_keygen_signs_with_any_allowed_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, old_public) = keygen(dir.path(), "old");
    let (_, new_public) = keygen(dir.path(), "new");
    let (_, stranger) = keygen(dir.path(), "stranger");
    let record = b"record_hash: sha256:abcd\n";
    std::fs::write(dir.path().join("record.yaml"), record).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-f"])
        .arg(dir.path().join("new"))
        .args(["-n", RECORD_NAMESPACE])
        .arg(dir.path().join("record.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = std::fs::read_to_string(dir.path().join("record.yaml.sig")).unwrap();
    // Rotation: the old key and the new one both verify.
    let allowed = allowed_keys(&format!(
        "# old key, kept while its records are checked\nops@example.com {old_public}ops@example.com {new_public}"
    ))
    .unwrap();
    assert_eq!(allowed.len(), 2);
    let by = verify(&sig, record, RECORD_NAMESPACE, &allowed).unwrap();
    assert_eq!(by, &allowed[1]);
    assert_eq!(
        verify(
            &sig,
            b"record_hash: sha256:abce\n",
            RECORD_NAMESPACE,
            &allowed
        ),
        Err(SigError::Mismatch)
    );
    let only_stranger = allowed_keys(&stranger).unwrap();
    assert_eq!(
        verify(&sig, record, RECORD_NAMESPACE, &only_stranger),
        Err(SigError::UnknownKey)
    );
}
