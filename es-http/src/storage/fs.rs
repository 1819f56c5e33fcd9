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
        assert!(blobs.put("../x", &mut &b""[..]).is_err());
    }
}
