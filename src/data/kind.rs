use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::cifar::{self, Cifar100Labels};
use super::{idx, tiny_imagenet, DataError, Dataset, Split};

/// Environment variable naming a root directory that holds one folder per dataset
/// (`$STURDY_DATA_DIR/cifar10/...`).
pub const DATA_DIR_ENV: &str = "STURDY_DATA_DIR";

/// Where Debian's `dataset-fashion-mnist` package installs its files.
pub const DEBIAN_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The datasets sturdy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum DatasetKind {
    #[value(name = "fashion-mnist")]
    #[serde(rename = "fashion-mnist")]
    FashionMnist,
    #[value(name = "mnist")]
    #[serde(rename = "mnist")]
    Mnist,
    #[value(name = "cifar10")]
    #[serde(rename = "cifar10")]
    Cifar10,
    #[value(name = "cifar100")]
    #[serde(rename = "cifar100")]
    Cifar100,
    #[value(name = "tiny-imagenet")]
    #[serde(rename = "tiny-imagenet")]
    TinyImageNet,
}

impl DatasetKind {
    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::FashionMnist,
        DatasetKind::Mnist,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::TinyImageNet,
    ];

    /// The canonical name: the command-line value, the `Dataset::name`, and the folder
    /// looked for under a data root.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::TinyImageNet => "tiny-imagenet",
        }
    }

    /// `[channels, height, width]` and the class count.
    pub fn shape(self) -> ([usize; 3], usize) {
        match self {
            DatasetKind::FashionMnist | DatasetKind::Mnist => ([1, 28, 28], 10),
            DatasetKind::Cifar10 => ([3, 32, 32], 10),
            DatasetKind::Cifar100 => ([3, 32, 32], 100),
            DatasetKind::TinyImageNet => ([3, 64, 64], 200),
        }
    }

    /// How to get the files into `dir`: the `fix` of every error about this dataset.
    pub fn fetch_hint(self, dir: &Path) -> String {
        let dir = dir.display();
        match self {
            DatasetKind::FashionMnist => format!(
                "run datasets/fetch (installs Debian's dataset-fashion-mnist into {DEBIAN_FASHION_MNIST_DIR}), \
                 or put the four IDX files from https://github.com/zalandoresearch/fashion-mnist into {dir}"
            ),
            DatasetKind::Mnist => format!(
                "download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz \
                 and t10k-labels-idx1-ubyte.gz (e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/) into {dir}"
            ),
            DatasetKind::Cifar10 => format!(
                "download cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into {dir} \
                 (read as is, or extracted as {dir}/cifar-10-batches-bin)"
            ),
            DatasetKind::Cifar100 => format!(
                "download cifar-100-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into {dir} \
                 (read as is, or extracted as {dir}/cifar-100-binary)"
            ),
            DatasetKind::TinyImageNet => format!(
                "download http://cs231n.stanford.edu/tiny-imagenet-200.zip and unzip it in {dir} \
                 (giving {dir}/tiny-imagenet-200/wnids.txt)"
            ),
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = String;

    /// Accepts the canonical names, case and `-`/`_` insensitive ("CIFAR-10", "fashion_mnist",
    /// "tinyimagenet" all work).
    fn from_str(s: &str) -> Result<Self, String> {
        let key: String = s.chars().filter(|c| !matches!(c, '-' | '_')).flat_map(char::to_lowercase).collect();
        let kind = match key.as_str() {
            "fashionmnist" | "fmnist" => DatasetKind::FashionMnist,
            "mnist" => DatasetKind::Mnist,
            "cifar10" => DatasetKind::Cifar10,
            "cifar100" => DatasetKind::Cifar100,
            "tinyimagenet" | "tinyimagenet200" => DatasetKind::TinyImageNet,
            _ => {
                let names: Vec<_> = DatasetKind::ALL.iter().map(|k| k.name()).collect();
                return Err(format!("unknown dataset '{s}', expected one of: {}", names.join(", ")));
            }
        };
        Ok(kind)
    }
}

/// The directory to read `kind` from: `explicit` (the `--data-dir` flag) if given, else
/// `$STURDY_DATA_DIR/<name>`, else `./data/<name>` if it exists, else (Fashion-MNIST only)
/// Debian's /usr/share/datasets/fashion-mnist. With nothing found it returns the last
/// candidate, so the loader's error names a sensible place to put the files.
///
/// An explicit directory may be the dataset's own folder or a root holding `<name>/`.
pub fn resolve_data_dir(kind: DatasetKind, explicit: Option<&Path>) -> PathBuf {
    resolve_data_dir_with(kind, explicit, std::env::var_os(DATA_DIR_ENV))
}

/// [`resolve_data_dir`] with the environment passed in (tests do not touch the process
/// environment, which other threads read).
pub fn resolve_data_dir_with(kind: DatasetKind, explicit: Option<&Path>, env: Option<OsString>) -> PathBuf {
    if let Some(dir) = explicit {
        let nested = dir.join(kind.name());
        return if nested.is_dir() { nested } else { dir.to_path_buf() };
    }
    if let Some(root) = env.filter(|r| !r.is_empty()) {
        return PathBuf::from(root).join(kind.name());
    }
    let local = Path::new("data").join(kind.name());
    if local.is_dir() || kind != DatasetKind::FashionMnist {
        return local;
    }
    PathBuf::from(DEBIAN_FASHION_MNIST_DIR)
}

/// Reads one split of `kind` from `dir` (CIFAR-100 with its fine labels).
pub fn load(kind: DatasetKind, dir: &Path, split: Split) -> Result<Dataset, DataError> {
    match kind {
        DatasetKind::FashionMnist | DatasetKind::Mnist => idx::load(kind, dir, split),
        DatasetKind::Cifar10 => cifar::load_cifar10(dir, split),
        DatasetKind::Cifar100 => cifar::load_cifar100(dir, split, Cifar100Labels::Fine),
        DatasetKind::TinyImageNet => tiny_imagenet::load(dir, split),
    }
}

/// The training and test splits of `kind` from `dir`.
pub fn load_splits(kind: DatasetKind, dir: &Path) -> Result<(Dataset, Dataset), DataError> {
    Ok((load(kind, dir, Split::Train)?, load(kind, dir, Split::Test)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.name().parse::<DatasetKind>().unwrap(), kind);
            assert_eq!(<DatasetKind as clap::ValueEnum>::from_str(kind.name(), false).unwrap(), kind);
        }
        assert_eq!("CIFAR-10".parse::<DatasetKind>().unwrap(), DatasetKind::Cifar10);
        assert_eq!("Fashion_MNIST".parse::<DatasetKind>().unwrap(), DatasetKind::FashionMnist);
        let err = "imagenet".parse::<DatasetKind>().unwrap_err();
        assert!(err.contains("tiny-imagenet"), "{err}");
    }

    #[test]
    fn data_dir_precedence() {
        let scratch = super::super::synthetic::ScratchDir::new("resolve");
        let explicit = scratch.path().join("mine");
        let env = Some(OsString::from("/srv/sets"));
        let k = DatasetKind::Cifar10;
        // Explicit wins over the environment; a root holding <name>/ is descended into.
        assert_eq!(resolve_data_dir_with(k, Some(&explicit), env.clone()), explicit);
        std::fs::create_dir_all(explicit.join("cifar10")).unwrap();
        assert_eq!(resolve_data_dir_with(k, Some(&explicit), env.clone()), explicit.join("cifar10"));
        // The environment names a root.
        assert_eq!(resolve_data_dir_with(k, None, env), PathBuf::from("/srv/sets/cifar10"));
        // Defaults.
        assert_eq!(resolve_data_dir_with(k, None, None), PathBuf::from("data/cifar10"));
        if !Path::new("data/fashion-mnist").is_dir() {
            assert_eq!(
                resolve_data_dir_with(DatasetKind::FashionMnist, None, None),
                PathBuf::from(DEBIAN_FASHION_MNIST_DIR)
            );
        }
    }

    #[test]
    fn load_reads_every_kind_from_synthetic_files() {
        use super::super::synthetic::{self, CifarLayout, IdxCompression, ScratchDir};
        for kind in DatasetKind::ALL {
            let scratch = ScratchDir::new("kind-load");
            let dir = scratch.path();
            match kind {
                DatasetKind::FashionMnist => drop(synthetic::write_fashion_mnist_like(dir, 12, 4, 1).unwrap()),
                DatasetKind::Mnist => drop(synthetic::write_idx_like(dir, 12, 4, 1, IdxCompression::Plain).unwrap()),
                DatasetKind::Cifar10 => drop(synthetic::write_cifar10_like(dir, 12, 4, 1, CifarLayout::TarGz).unwrap()),
                DatasetKind::Cifar100 => {
                    drop(synthetic::write_cifar100_like(dir, 12, 4, 1, CifarLayout::Folder).unwrap())
                }
                DatasetKind::TinyImageNet => drop(synthetic::write_tiny_imagenet_like(dir, 2, 6, 2, 1).unwrap()),
            }
            let (train, test) = load_splits(kind, dir).unwrap();
            assert_eq!((train.len(), test.len()), (12, 4), "{kind}");
            assert_eq!(train.shape(), kind.shape().0, "{kind}");
            assert_eq!((train.name.as_str(), train.split, test.split), (kind.name(), Split::Train, Split::Test));
        }
    }
}
