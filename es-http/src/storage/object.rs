//! Blobs in an object store (S3 or S3-compatible such as MinIO; also GCS, Azure or a local
//! directory), through the `object_store` crate.
//!
//! Selected by URL: `s3://bucket/prefix`. Credentials, region and endpoint come from the
//! usual AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL` — an `http://` endpoint is allowed for local servers).
//! The store's async calls run on a small runtime of its own, so the sync [`BlobStore`]
//! methods can be called from any thread.

use std::io::Read;
use std::sync::Arc;

use anonlink_core::service::store::{BlobStore, StoreError};
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

/// Blobs under a prefix of an object store.
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobs")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn os_err(e: object_store::Error) -> StoreError {
    StoreError::new(format!("object store: {e}"))
}

impl ObjectBlobs {
    /// Opens the store at `url` (`s3://bucket/prefix`, `file:///path`, `memory://`).
    ///
    /// # Errors
    /// An unsupported URL or missing settings.
    pub fn open(url: &str) -> Result<ObjectBlobs, StoreError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| StoreError::new(format!("object store URL {url:?}: {e}")))?;
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match parsed.scheme() {
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .ok_or_else(|| StoreError::new("s3 URL needs a bucket: s3://bucket/prefix"))?;
                let mut builder =
                    object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                    if endpoint.starts_with("http://") {
                        builder = builder.with_allow_http(true);
                    }
                    builder = builder.with_endpoint(endpoint);
                }
                let store = builder.build().map_err(os_err)?;
                (Arc::new(store), parsed.path().trim_matches('/').to_string())
            }
            _ => {
                let (store, path) = object_store::parse_url(&parsed).map_err(os_err)?;
                (Arc::from(store), path.to_string())
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("object-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::new(format!("object store runtime: {e}")))?;
        Ok(ObjectBlobs {
            store,
            prefix,
            runtime,
        })
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Runs `fut` on the store's runtime and waits for it from this (any) thread.
    fn wait<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| StoreError::new("object store task ended without an answer"))?
    }
}

impl BlobStore for ObjectBlobs {
    fn put(&self, key: &str, data: &mut dyn Read) -> Result<u64, StoreError> {
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        let len = bytes.len() as u64;
        let (store, path) = (self.store.clone(), self.path(key));
        // A put is atomic in object stores: the object is there whole or not at all.
        self.wait(async move {
            store
                .put(&path, PutPayload::from(bytes))
                .await
                .map(|_| len)
                .map_err(os_err)
        })
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let (store, path) = (self.store.clone(), self.path(key));
        let bytes = self.wait(async move {
            let got = store.get(&path).await.map_err(os_err)?;
            got.bytes().await.map_err(os_err)
        })?;
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let (store, path) = (self.store.clone(), self.path(key));
        self.wait(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(os_err(e)),
            }
        })
    }

    fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        let store = self.store.clone();
        let full = if self.prefix.is_empty() {
            prefix.to_string()
        } else {
            format!("{}/{prefix}", self.prefix)
        };
        self.wait(async move {
            // Listing works on whole path segments; filter by the exact prefix after.
            let dir = match full.rsplit_once('/') {
                Some((dir, _)) => ObjectPath::from(dir),
                None => ObjectPath::from(""),
            };
            let mut listing = store.list(Some(&dir));
            let mut doomed = Vec::new();
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(os_err)?;
                if meta.location.as_ref().starts_with(full.as_str()) {
                    doomed.push(meta.location);
                }
            }
            for path in doomed {
                match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(os_err(e)),
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anonlink_core::service::store::conformance;

    #[test]
    fn local_object_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        conformance::blobs(&ObjectBlobs::open(&url).unwrap());
        conformance::blobs(&ObjectBlobs::open("memory:///").unwrap());
    }
}
