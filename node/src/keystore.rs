//! A validator's keystore on disk: the session keys `author_rotateKeys` makes, one file per
//! key named by its public key in hex and holding its secret phrase as a JSON string (as
//! Substrate's keystore does), readable by the node's user alone.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tessera_runtime::crypto::Pair;
use tessera_runtime::AccountId;

/// Why the keystore could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The directory or a file could not be read or written.
    #[error("keystore {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A file that holds no key, or another key than its name says.
    #[error("keystore file {path}: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No key could be generated (no OS random source).
    #[error("cannot generate a key: {0}")]
    Generate(String),
}

/// The keys in one directory.
pub struct Keystore {
    dir: PathBuf,
    pairs: Mutex<Vec<Pair>>,
}

impl Keystore {
    /// Opens (creating it if needed) the keystore in `dir` and reads every key in it.
    pub fn open(dir: &Path) -> Result<Keystore, KeystoreError> {
        let io = |source| KeystoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        // Never loosen or tighten what a link points to: the keystore is a real directory.
        if fs::symlink_metadata(dir)
            .map_err(io)?
            .file_type()
            .is_symlink()
        {
            return Err(io(std::io::Error::other("the keystore is a symbolic link")));
        }
        restrict(dir, 0o700).map_err(io)?;
        let mut pairs = Vec::new();
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(io)?.filter_map(Result::ok) {
            let path = entry.path();
            let is_key_name = entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.len() == 64 && hex::decode(name).is_ok());
            let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
            if is_key_name && is_file {
                names.push(path);
            } else if !is_temporary(&path) {
                tracing::warn!(path = %path.display(), "not a key file; left alone");
            }
        }
        names.sort();
        for path in names {
            pairs.push(read_key(&path)?);
        }
        Ok(Keystore {
            dir: dir.to_path_buf(),
            pairs: Mutex::new(pairs),
        })
    }

    /// Makes a key from a fresh 12-word phrase and writes it before returning it.
    pub fn generate(&self) -> Result<Pair, KeystoreError> {
        let (pair, phrase) =
            Pair::generate(12).map_err(|e| KeystoreError::Generate(e.to_string()))?;
        let path = self.dir.join(hex::encode(pair.public().as_bytes()));
        let temporary = path.with_extension("tmp");
        let io = |source| KeystoreError::Io {
            path: path.clone(),
            source,
        };
        let contents = serde_json::to_string(&phrase).map_err(|e| KeystoreError::BadKey {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        {
            let mut file = create_private(&temporary).map_err(io)?;
            file.write_all(contents.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        fs::rename(&temporary, &path).map_err(io)?;
        // The key is on chain once its public part is returned: its name must survive a crash.
        fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io)?;
        self.lock().push(pair.clone());
        Ok(pair)
    }

    /// Every key, in the order they were read or made.
    pub fn pairs(&self) -> Vec<Pair> {
        self.lock().clone()
    }

    /// The keys after the first `taken` (made since a holder took that many), and `taken`
    /// moved past them.
    pub fn take_new(&self, taken: &mut usize) -> Vec<Pair> {
        let pairs = self.lock();
        let new = pairs.iter().skip(*taken).cloned().collect();
        *taken = pairs.len();
        new
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the key with public key `public` is here.
    pub fn contains(&self, public: &AccountId) -> bool {
        self.lock().iter().any(|pair| pair.public() == *public)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pair>> {
        self.pairs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn is_temporary(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "tmp")
}

/// The key in `path`, checked against the public key its name gives.
fn read_key(path: &Path) -> Result<Pair, KeystoreError> {
    let bad = |reason: String| KeystoreError::BadKey {
        path: path.to_path_buf(),
        reason,
    };
    let contents = fs::read_to_string(path).map_err(|source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let phrase: String =
        serde_json::from_str(&contents).map_err(|e| bad(format!("not a JSON string: {e}")))?;
    let pair = Pair::from_uri(&phrase).map_err(|e| bad(e.to_string()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name != hex::encode(pair.public().as_bytes()) {
        return Err(bad(format!("holds the key {}", pair.public())));
    }
    Ok(pair)
}

/// A new file only this user can read, never an existing one or a link.
#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let _stale = fs::remove_file(path);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    let _stale = fs::remove_file(path);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_made_are_found_again_and_a_tampered_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("tessera-keystore-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let keystore = Keystore::open(&dir).unwrap();
        let made = keystore.generate().unwrap();
        assert!(keystore.contains(&made.public()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(
                mode(&dir.join(hex::encode(made.public().as_bytes()))),
                0o600
            );
        }
        // Other files are left alone.
        fs::write(dir.join(".DS_Store"), "x").unwrap();
        let reopened = Keystore::open(&dir).unwrap();
        assert_eq!(reopened.pairs().len(), 1);
        assert_eq!(reopened.pairs()[0].public(), made.public());
        // A file whose name is another key's is refused, with its path.
        let other = Pair::dev("Bob").public();
        fs::write(
            dir.join(hex::encode(other.as_bytes())),
            "\"bottom drive obey lake curtain smoke basket hold race lonely fit walk\"",
        )
        .unwrap();
        assert!(matches!(
            Keystore::open(&dir),
            Err(KeystoreError::BadKey { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
