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
    /// Where the store's futures run.
    handle: tokio::runtime::Handle,
    /// The runtime behind `handle`, owned until the store is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for ObjectBlobs {
    fn drop(&mut self) {
        // A runtime dropped the usual way blocks, which panics when the last handle to the
        // store goes away on an async runtime's thread; this does not block.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for ObjectBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobs")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn os_err(e: object_store::Error) -> StoreError {
    StoreError::caused_by("object store", e)
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
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
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
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| StoreError::new("object store task ended without an answer"))?
    }
}

/// Part size of multipart uploads (S3 wants at least 5 MiB for all but the last part).
const PART_BYTES: usize = 8 << 20;
/// Parts uploading at once while the next one is read.
const PARTS_IN_FLIGHT: usize = 2;
/// Downloaded pieces buffered ahead of the reader.
const PIECES_AHEAD: usize = 8;

/// Reads up to `PART_BYTES` from `data` (fewer only at its end).
fn read_part(data: &mut dyn Read) -> std::io::Result<Vec<u8>> {
    let mut part = Vec::with_capacity(PART_BYTES);
    data.take(PART_BYTES as u64).read_to_end(&mut part)?;
    Ok(part)
}

impl ObjectBlobs {
    /// Streams `data` as a multipart upload, reading the next part while earlier ones
    /// upload; the object appears only when the upload completes.
    fn put_multipart(
        &self,
        path: ObjectPath,
        first: Vec<u8>,
        data: &mut dyn Read,
    ) -> Result<u64, StoreError> {
        let store = self.store.clone();
        let mut upload =
            self.wait(async move { store.put_multipart(&path).await.map_err(os_err) })?;
        let mut in_flight = std::collections::VecDeque::new();
        let mut total = 0u64;
        let mut part = first;
        let streamed = loop {
            total += part.len() as u64;
            in_flight.push_back(self.handle.spawn(upload.put_part(PutPayload::from(part))));
            if in_flight.len() >= PARTS_IN_FLIGHT
                && let Some(oldest) = in_flight.pop_front()
                && let Err(e) = self.join_part(oldest)
            {
                break Err(e);
            }
            match read_part(data) {
                Ok(next) if next.is_empty() => break Ok(()),
                Ok(next) => part = next,
                Err(e) => break Err(e.into()),
            }
        };
        let streamed = in_flight
            .into_iter()
            .fold(streamed, |acc, part| acc.and(self.join_part(part)));
        match streamed {
            Ok(()) => {
                self.wait(async move { upload.complete().await.map(|_| total).map_err(os_err) })
            }
            Err(e) => {
                // Leave no half-uploaded parts behind; the original error is what matters.
                let _ = self.wait(async move { upload.abort().await.map_err(os_err) });
                Err(e)
            }
        }
    }

    fn join_part(
        &self,
        part: tokio::task::JoinHandle<object_store::Result<()>>,
    ) -> Result<(), StoreError> {
        self.wait(async move {
            part.await
                .map_err(|e| StoreError::new(format!("object store upload task: {e}")))?
                .map_err(os_err)
        })
    }

    /// A reader over a download that streams in the background, a few pieces ahead.
    fn stream(
        &self,
        path: ObjectPath,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        let store = self.store.clone();
        let got = self.wait(async move {
            let options = object_store::GetOptions {
                range: range.map(object_store::GetRange::Bounded),
                ..Default::default()
            };
            store.get_opts(&path, options).await.map_err(os_err)
        })?;
        let (tx, rx) = std::sync::mpsc::sync_channel(PIECES_AHEAD);
        self.handle.spawn(async move {
            let mut pieces = got.into_stream();
            while let Some(piece) = pieces.next().await {
                let piece = piece.map_err(std::io::Error::other);
                let failed = piece.is_err();
                // The reader went away: stop downloading.
                if tx.send(piece).is_err() || failed {
                    break;
                }
            }
        });
        Ok(Box::new(StreamReader {
            pieces: rx,
            current: bytes::Bytes::new(),
        }))
    }
}

/// The sync end of a background download.
struct StreamReader {
    pieces: std::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.pieces.recv() {
                Ok(piece) => self.current = piece?,
                // The download finished: every piece was delivered.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl BlobStore for ObjectBlobs {
    fn put(&self, key: &str, data: &mut dyn Read) -> Result<u64, StoreError> {
        let first = read_part(data)?;
        let path = self.path(key);
        if first.len() == PART_BYTES {
            return self.put_multipart(path, first, data);
        }
        let (store, len) = (self.store.clone(), first.len() as u64);
        // A put is atomic in object stores: the object is there whole or not at all.
        self.wait(async move {
            store
                .put(&path, PutPayload::from(first))
                .await
                .map(|_| len)
                .map_err(os_err)
        })
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        self.stream(self.path(key), None)
    }

    fn open_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<Box<dyn Read + Send>, StoreError> {
        if len == 0 {
            // Object stores refuse empty ranges.
            return Ok(Box::new(std::io::empty()));
        }
        self.stream(self.path(key), Some(offset..offset.saturating_add(len)))
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
    use anonlink_core::service::conformance;

    #[test]
    fn local_object_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        conformance::blobs(&ObjectBlobs::open(&url).unwrap());
        conformance::blobs(&ObjectBlobs::open("memory:///").unwrap());
    }

    #[test]
    fn large_blobs_stream_in_parts() {
        let blobs = ObjectBlobs::open("memory:///").unwrap();
        // Two and a half parts, with a pattern that shows misplaced bytes.
        let data: Vec<u8> = (0..PART_BYTES * 5 / 2).map(|i| (i % 251) as u8).collect();
        assert_eq!(blobs.put("big", &mut &data[..]).unwrap(), data.len() as u64);
        let mut back = Vec::new();
        blobs.open("big").unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data, "the blob reads back whole");
        let mut range = Vec::new();
        let offset = PART_BYTES as u64 - 3;
        blobs
            .open_range("big", offset, 10)
            .unwrap()
            .read_to_end(&mut range)
            .unwrap();
        assert_eq!(range, data[offset as usize..offset as usize + 10]);

        // A reader failing midway stores nothing.
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 == 0 {
                    return Err(std::io::Error::other("client went away"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(7);
                self.0 -= n;
                Ok(n)
            }
        }
        let err = blobs
            .put("broken", &mut Failing(PART_BYTES + 5))
            .unwrap_err();
        assert!(err.to_string().contains("client went away"), "{err}");
        assert!(blobs.open("broken").is_err());
    }
}
