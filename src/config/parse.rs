//! Reading the server config with every problem at once: the typed parse (serde, unknown keys
//! refused) stops at its first error, so each error is recorded with its path — an unknown key
//! with a "did you mean" from the keys allowed there — the offending entry is set aside, and
//! the rest is parsed again, until it parses; then the config's own checks
//! ([`ServerConfig::problems`]) run on what is left. The keys and types come from the structs
//! themselves, so this can never drift from what the server reads.

use serde_path_to_error::{Path, Segment};
use serde_yaml::Value;

use super::{ConfigError, Problem, ServerConfig};
use crate::util::{code_span, did_you_mean};

/// At most this many problems are collected (each pass sets one entry aside).
const MAX_PROBLEMS: usize = 64;

/// Parse `text` (named `source_name` in errors); every problem found, or the config.
pub(super) fn parse_collecting(text: &str, source_name: &str) -> Result<ServerConfig, ConfigError> {
    let invalid = |problems: Vec<Problem>| ConfigError::Invalid {
        source_name: source_name.to_string(),
        problems,
    };
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
        source_name: source_name.to_string(),
        detail: e.to_string(),
    })?;
    if value.is_null() {
        return Err(invalid(vec![Problem {
            path: "(top level)".into(),
            message: "the file is empty: a server config needs at least `auditors:`".into(),
        }]));
    }
    let mut problems = Vec::new();
    // Entries set aside, as paths in the original file (sequence indices as written).
    let mut removed: Vec<Vec<Seg>> = Vec::new();
    let cfg = loop {
        // Read from text, as YAML is read everywhere (a scalar such as `true` may be a string).
        let yaml = serde_yaml::to_string(&value).map_err(|e| ConfigError::Parse {
            source_name: source_name.to_string(),
            detail: e.to_string(),
        })?;
        let de = serde_yaml::Deserializer::from_str(&yaml);
        match serde_path_to_error::deserialize::<_, ServerConfig>(de) {
            Ok(cfg) => break Some(cfg),
            Err(e) => {
                // The location is in the text written here, not in the file: left out.
                let message = e.inner().to_string();
                let message = match message.find(" at line ") {
                    Some(i) => message[..i].to_string(),
                    None => message,
                };
                // serde_yaml names the path itself (in the pruned numbering): ours replaces it.
                let message = match message.split_once(": ") {
                    Some((path, rest)) if !path.contains([' ', '`']) => rest.to_string(),
                    _ => message,
                };
                let here = to_segs(e.path());
                let original = to_original(&here, &removed);
                let missing = message.starts_with("missing field");
                // A required key that is missing because an earlier problem set it aside is
                // not a problem of its own.
                let consequence = missing && removed.iter().any(|r| r.starts_with(&original));
                if !consequence {
                    problems.push(Problem {
                        path: display(&original),
                        message: explain(&message),
                    });
                }
                if problems.len() >= MAX_PROBLEMS || !remove(&mut value, &here) {
                    break None;
                }
                removed.push(original);
            }
        }
    };
    let Some(cfg) = cfg else {
        return Err(invalid(problems));
    };
    let auditor_set_aside = removed
        .iter()
        .any(|r| matches!(r.as_slice(), [Seg::Key(k), Seg::Index(_)] if k == "auditors"));
    for p in cfg.problems() {
        // With an auditor entry set aside, the counts of auditors are not the file's.
        if auditor_set_aside && (p.path.starts_with("quorum.") || p.path.starts_with("escalation."))
        {
            continue;
        }
        let path = renumber_auditor(&p.path, &removed);
        if problems.iter().any(|q: &Problem| q.path == path) {
            continue;
        }
        problems.push(Problem {
            path,
            message: p.message,
        });
    }
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(invalid(problems))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn to_segs(path: &Path) -> Vec<Seg> {
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

/// `here` (a path in the pruned value) as a path in the file: each index counts the sequence
/// elements set aside before it.
fn to_original(here: &[Seg], removed: &[Vec<Seg>]) -> Vec<Seg> {
    let mut out: Vec<Seg> = Vec::with_capacity(here.len());
    for s in here {
        match s {
            Seg::Key(k) => out.push(Seg::Key(k.clone())),
            Seg::Index(i) => {
                // Walk the original indices: skip every element set aside at this sequence.
                let gone: Vec<usize> = removed
                    .iter()
                    .filter_map(|r| match r.split_last() {
                        Some((Seg::Index(j), parent)) if parent == out.as_slice() => Some(*j),
                        _ => None,
                    })
                    .collect();
                let mut idx = 0;
                let mut left = *i;
                loop {
                    if !gone.contains(&idx) {
                        if left == 0 {
                            break;
                        }
                        left -= 1;
                    }
                    idx += 1;
                }
                out.push(Seg::Index(idx));
            }
        }
    }
    out
}

/// A problem path of the pruned config's own checks (`auditors[N].…`) in the file's numbering.
fn renumber_auditor(path: &str, removed: &[Vec<Seg>]) -> String {
    let Some(rest) = path.strip_prefix("auditors[") else {
        return path.to_string();
    };
    let Some((n, tail)) = rest.split_once(']') else {
        return path.to_string();
    };
    let Ok(n) = n.parse::<usize>() else {
        return path.to_string();
    };
    let original = to_original(&[Seg::Key("auditors".into()), Seg::Index(n)], removed);
    format!("{}{tail}", display(&original))
}

fn display(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() {
        "(top level)".into()
    } else {
        s
    }
}

/// serde's message in the words of the config: an unknown key or value gets a "did you mean"
/// and the list of what is allowed.
fn explain(message: &str) -> String {
    for (prefix, what) in [("unknown field ", "key"), ("unknown variant ", "value")] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let word = rest.split('`').nth(1).unwrap_or("");
        let allowed: Vec<&str> = match rest.split_once(", expected ") {
            Some((_, list)) => list
                .split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, w)| w)
                .collect(),
            None => Vec::new(), // "there are no fields"
        };
        let hint = did_you_mean(word, &allowed)
            .map(|s| format!(" Did you mean `{s}`?"))
            .unwrap_or_default();
        let list = if allowed.is_empty() {
            String::new()
        } else {
            format!(" Allowed here: {}", allowed.join(", "))
        };
        return format!("unknown {what} {}.{hint}{list}", code_span(word));
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("required key {field} is missing");
    }
    message.to_string()
}

/// Set aside the entry at `path` of `value`; false when there is nothing to set aside (the
/// problem is the whole file).
fn remove(value: &mut Value, path: &[Seg]) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    let mut v = value;
    for seg in parent {
        let next = match (seg, v) {
            (Seg::Key(k), Value::Mapping(m)) => m.get_mut(k.as_str()),
            (Seg::Index(i), Value::Sequence(s)) => s.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return false,
        }
    }
    match (last, v) {
        (Seg::Key(k), Value::Mapping(m)) => m.remove(k.as_str()).is_some(),
        (Seg::Index(i), Value::Sequence(s)) if *i < s.len() => {
            s.remove(*i);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        match parse_collecting(yaml, "t") {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid { problems, .. }) => {
                problems.iter().map(|p| p.to_string()).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    const OK: &str = "auditors:\n  - {name: rule-guard, kind: rules}\nquorum: {required: 1}\n";

    #[test]
    fn a_valid_config_parses() {
        assert!(problems(OK).is_empty());
    }

    #[test]
    fn every_problem_at_once_with_suggestions_at_any_depth() {
        let yaml = "\
auditors:
  - {name: rule-guard, kind: rules, timout_s: 5}
  - {name: bot, kind: comand, command: [x]}
  - {name: r2, kind: openai, base_url: 'https://x', modle: m, api_key_env: K}
quorum: {requierd: 2}
budget: {daily_usd: lots}
human_votes: {permission: maintainer}
judgee: {}
";
        let p = problems(yaml);
        let all = p.join("\n");
        for needle in [
            "auditors[0].timout_s: unknown key `timout_s`. Did you mean `timeout_s`?",
            "auditors[1].kind: unknown value `comand`. Did you mean `command`?",
            "auditors[2].modle: unknown key `modle`. Did you mean `model`?",
            "quorum.requierd: unknown key `requierd`. Did you mean `required`?",
            "budget.daily_usd: invalid type",
            "human_votes.permission:",
            "judgee: unknown key `judgee`. Did you mean `judge`?",
            // What the typo left out is checked too.
            "auditors[2].model: required for a model auditor",
        ] {
            assert!(all.contains(needle), "{needle}\n---\n{all}");
        }
        // The required `kind` set aside is not reported again as missing, and the auditors'
        // count is not checked against a list with entries set aside.
        assert!(!all.contains("missing"), "{all}");
        assert!(!all.contains("quorum.required"), "{all}");
        assert_eq!(p.len(), 8, "{all}");
    }

    #[test]
    fn checks_after_the_typed_parse_keep_the_files_numbering() {
        // auditors[0] is set aside (bad kind); auditors[2] (an openai entry without a model)
        // is the pruned config's auditors[1] and is reported as auditors[2].
        let yaml = "\
auditors:
  - {name: a, kind: nope}
  - {name: b, kind: rules}
  - {name: c, kind: openai, base_url: 'https://x', api_key_env: K}
";
        let all = problems(yaml).join("\n");
        assert!(
            all.contains("auditors[0].kind: unknown value `nope`"),
            "{all}"
        );
        assert!(
            all.contains("auditors[2].model: required for a model auditor"),
            "{all}"
        );
        assert!(!all.contains("auditors[1]"), "{all}");
    }

    #[test]
    fn a_missing_required_key_and_an_empty_file() {
        let all = problems("quorum: {required: 1}\n").join("\n");
        assert!(all.contains("required key `auditors` is missing"), "{all}");
        let all = problems("auditors:\n  - {kind: rules}\n").join("\n");
        assert!(
            all.contains("auditors[0]: required key `name` is missing"),
            "{all}"
        );
        let all = problems("").join("\n");
        assert!(all.contains("the file is empty"), "{all}");
    }

    #[test]
    fn indices_map_back_past_several_entries_set_aside() {
        let removed = vec![
            vec![Seg::Key("auditors".into()), Seg::Index(0)],
            vec![Seg::Key("auditors".into()), Seg::Index(2)],
        ];
        let here = [Seg::Key("auditors".into()), Seg::Index(1)];
        assert_eq!(
            to_original(&here, &removed),
            vec![Seg::Key("auditors".into()), Seg::Index(3)]
        );
        assert_eq!(
            renumber_auditor("auditors[0].model", &removed),
            "auditors[1].model"
        );
    }
}
