//! What the settings structs (`train::settings::TrainSettings`, `pann::sweep::SweepSettings`)
//! share: each is read from flags (clap) and from a study file (serde) alike, its defaults
//! are its flags' defaults, and its problems name a key as the user spelled it.

use std::fmt::Debug;

use crate::allowed::Allowed;

/// The value of every flag of `T` given none: the one statement of its defaults.
pub fn defaults<T: clap::Args>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"));
    let matches = command.try_get_matches_from(["defaults"]).expect("every setting has a default");
    T::from_arg_matches(&matches).expect("the defaults are valid values")
}

/// Values out of their range, as "`key` = value: what is allowed", with `spell` writing a
/// key as the user wrote it (`--lr` on the command line, `train.lr` in a study file).
pub struct Problems<'a> {
    spell: &'a dyn Fn(&str) -> String,
    pub found: Vec<String>,
}

impl<'a> Problems<'a> {
    pub fn new(spell: &'a dyn Fn(&str) -> String) -> Self {
        Problems { spell, found: Vec::new() }
    }

    pub fn key(&self, key: &str) -> String {
        (self.spell)(key)
    }

    pub fn check(&mut self, ok: bool, key: &str, value: &dyn Debug, allowed: &str) {
        if !ok {
            let key = self.key(key);
            self.found.push(format!("`{key}` = {value:?}: {allowed}"));
        }
    }

    pub fn range(&mut self, key: &str, value: f64, allowed: Allowed) {
        self.check(allowed.admits(value), key, &value, &format!("must be {}", allowed.describe()));
    }

    /// `key[i]` for every value of a list.
    pub fn each(&mut self, key: &str, values: &[f64], allowed: Allowed) {
        for (i, &value) in values.iter().enumerate() {
            self.range(&format!("{key}[{i}]"), value, allowed);
        }
    }

    /// A rule between settings; `message` spells its keys with [`Problems::key`].
    pub fn rule(&mut self, ok: bool, message: String) {
        if !ok {
            self.found.push(message);
        }
    }
}
