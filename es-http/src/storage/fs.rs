//! Blobs as files under one directory. A blob is written to a temporary file, synced, and
//! renamed into place (then the directory is synced), so it is either absent or complete.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anonlink_core::service::store::{BlobStore, StoreError};

/// Blobs in a directory; keys are relative paths of `[A-Za-z0-9._-]` segments.
#[derive(Debug, Clone)]
pub struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    /// Blobs under `root` (created if missing).
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn open(root: &Path) -> Result<FsBlobs, StoreError> {
        fs::create_dir_all(root)?;
        Ok(FsBlobs {
            root: root.to_path_buf(),
        })
    }

    /// Removes what a process killed mid-write left: temporary files (`.tmp-*`) and empty
    /// directories. Only for a directory no other process writes to (the embedded storage,
    /// under its lock). Returns how many temporary files were removed.
    ///
    /// # Errors
    /// The directory cannot be read, or a file cannot be removed.
    pub fn sweep_temporary(&self) -> Result<usize, StoreError> {
        fn sweep(dir: &Path, root: &Path, removed: &mut usize) -> io::Result<()> {
            for entry in fs::read_dir(dir)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    sweep(&path, root, removed)?;
                } else if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    fs::remove_file(&path)?;
                    *removed += 1;
                }
            }
            if dir != root && fs::read_dir(dir)?.next().is_none() {
                fs::remove_dir(dir)?;
            }
            Ok(())
        }
        let mut removed = 0;
        sweep(&self.root, &self.root, &mut removed)?;
        Ok(removed)
    }

    /// Removes `dir` and then each parent up to the root, as long as they are empty.
    fn remove_empty_dirs(&self, mut dir: &Path) {
        while dir != self.root && dir.starts_with(&self.root) {
            // Not empty (or gone, or in use): stop there.
            if fs::remove_dir(dir).is_err() {
                return;
            }
            match dir.parent() {
                Some(parent) => dir = parent,
                None => return,
            }
        }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let valid = !key.is_empty()
            && key.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            });
        if !valid {
            return Err(StoreError::new(format!("invalid blob key {key:?}")));
        }
        Ok(self.root.join(key))
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl BlobStore for FsBlobs {
    fn put(&self, key: &str, data: &mut dyn Read) -> Result<u64, StoreError> {
        let path = self.path(key)?;
        let dir = path
            .parent()
            .ok_or_else(|| StoreError::new("blob key has no parent"))?;
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            anonlink_core::service::token::generate()
        ));
        let written = (|| -> io::Result<u64> {
            let mut file = io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
            let n = io::copy(data, &mut file)?;
            file.flush()?;
            file.get_ref().sync_all()?;
            fs::rename(&tmp, &path)?;
            sync_dir(dir)?;
            Ok(n)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(written?)
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let file = File::open(self.path(key)?)?;
        Ok(Box::new(io::BufReader::with_capacity(1 << 20, file)))
    }

    fn open_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let mut file = File::open(self.path(key)?)?;
        io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
        Ok(Box::new(io::BufReader::with_capacity(
            1 << 20,
            file.take(len),
        )))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        match fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        let (dir, name_prefix) = match prefix.rsplit_once('/') {
            Some((dir, rest)) => (self.path(dir)?, rest.to_string()),
            None => (self.root.clone(), prefix.to_string()),
        };
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(&name_prefix)
            {
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    fs::remove_dir_all(&path)?;
                } else {
                    fs::remove_file(&path)?;
                }
            }
        }
        self.remove_empty_dirs(&dir);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anonlink_core::service::conformance;

    #[test]
    fn fs_blobs_conform() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobs::open(dir.path()).unwrap();
        conformance::blobs(&blobs);
        // What a killed writer leaves is swept; what deletion empties is removed.
        std::fs::create_dir_all(dir.path().join("projects/p/uploads")).unwrap();
        std::fs::write(dir.path().join("projects/p/uploads/.tmp-1-x"), b"half").unwrap();
        blobs
            .put("projects/q/uploads/a.bin", &mut &b"kept"[..])
            .unwrap();
        assert_eq!(blobs.sweep_temporary().unwrap(), 1);
        assert!(!dir.path().join("projects/p").exists());
        assert!(dir.path().join("projects/q/uploads/a.bin").exists());
        blobs.delete_prefix("projects/q/").unwrap();
        assert!(
            !dir.path().join("projects").exists(),
            "empty directories are removed"
        );
        assert!(blobs.put("../x", &mut &b""[..]).is_err());
    }
}
