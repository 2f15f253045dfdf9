//! `--list-jobs`: one shell command per cell, each an independent process (for a job
//! queue, `xargs -P`, or several machines sharing the study folder).

use std::path::Path;

use super::spec::{cells, Study};

/// `s` as one shell word: unchanged when it is plain, else in single quotes.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `sturdy [--adapter A] study FILE [--out DIR] --cell ID` for every cell, in study order.
pub fn commands(study: &Study, out: Option<&Path>, adapter: Option<&str>) -> Vec<String> {
    let mut prefix = String::from("sturdy");
    if let Some(adapter) = adapter {
        prefix += &format!(" --adapter {}", shell_word(adapter));
    }
    prefix += &format!(" study {}", shell_word(&study.origin));
    if let Some(out) = out {
        prefix += &format!(" --out {}", shell_word(&out.to_string_lossy()));
    }
    cells(&study.spec).iter().map(|cell| format!("{prefix} --cell {}", shell_word(&cell.id()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_words_are_quoted() {
        assert_eq!(shell_word("studies/a.toml"), "studies/a.toml");
        assert_eq!(shell_word("my study.toml"), "'my study.toml'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn one_command_per_cell() {
        let study = Study::load(super::super::quick::NAME, None).unwrap();
        let commands = commands(&study, Some(Path::new("/tmp/q s")), None);
        assert_eq!(
            commands,
            [
                "sturdy study quick --out '/tmp/q s' --cell vanilla_wd5e-3_seed0",
                "sturdy study quick --out '/tmp/q s' --cell mixup-noise_wd1e-4_seed0"
            ]
        );
    }
}
