//! A party's upload (API reference §3.7, §5.2–5.4, §9): who may upload, what is refused
//! and what is accepted, and the transaction that accepts it.
//!
//! Every upload ends one of three ways:
//!
//! - **refused** ([`Refusal`], a 4xx): nothing is stored and the party's update token stays
//!   usable, so the party can fix its upload and send it again;
//! - **accepted** (201 with a receipt token): the encodings are durable before the party's
//!   state is committed, and the commit comes before the answer;
//! - **accepted but unusable**: the reference accepts encodings whose size is outside the
//!   configured limits or not a multiple of 8 bytes, and flags the project in error (its
//!   clients and tests rely on the 201); so does this service.
//!
//! The size rule is one for both forms: a size that differs from the size the project
//! expects (its schema's `clkConfig.l / 8`, or the size fixed once every party uploaded)
//! is refused; records within one upload that differ in size, or that are not valid
//! base64, are refused naming the record.

use std::collections::HashSet;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use super::access::{self, Action};
use super::keys;
use super::project::{Project, UploadState};
use super::queue::queue_waiting_runs;
use super::store::{BlobStore, MetadataStore, StoreError, Tx, TxError, transact};
use super::token::{self, Token, TokenHash, TokenKind};
use crate::encoding::{SizeLimits, UploadForm, decode_upload, encode_binary};
use crate::error::Error;

/// Why an upload was refused; nothing was stored and the token is still usable. The text
/// is the detail the API answers with (the reference's own, where it has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such project, deleted, or not this project's update token.
    #[error("Invalid access token or project doesn't exist")]
    Forbidden,
    /// The party's upload was already accepted.
    #[error("This token has already been used to upload clks.")]
    TokenUsed,
    /// Another upload with the same token is arriving.
    #[error("An upload with this token is already in progress.")]
    InProgress,
    /// A blocking project's upload without block ids (v1.13).
    #[error("Expecting blocking information. Either in \"blocks\" or \"clksnblocks\"")]
    ExpectingBlocks,
    /// Block ids sent to a project without blocking (v1.13).
    #[error("Blocking has been disabled for this project, but received blocking information")]
    BlockingDisabled,
    /// A JSON document without encodings.
    #[error("Missing CLKs information")]
    MissingClks,
    /// A document that is not valid JSON, or not of an upload's shape.
    #[error("Invalid JSON upload: {0}")]
    InvalidJson(String),
    /// A record that cannot be decoded, or whose size differs from the first record's.
    #[error("Invalid encodings: {0}")]
    BadRecord(String),
    /// Encodings of another size than the project expects.
    #[error(
        "Upload encodings of {got} bytes don't match the project's encoding size of {expected} bytes"
    )]
    SizeMismatch {
        /// The size the project expects, in bytes.
        expected: usize,
        /// The size uploaded.
        got: usize,
    },
    /// A binary upload whose `Hash-Size` differs from the size the project expects (the
    /// same rule as [`Refusal::SizeMismatch`], in the reference's words for a header).
    #[error("Upload 'Hash-Size' doesn't match project settings")]
    HashSizeMismatch {
        /// The size the project expects, in bytes.
        expected: usize,
        /// The size declared.
        got: usize,
    },
    /// A binary upload without its headers.
    #[error("Binary upload requires 'Hash-Count' and 'Hash-Size' headers")]
    BinaryHeaders,
    /// `Hash-Size` is not a number within the limits.
    #[error("Invalid value for Hash-Size header")]
    BadHashSize,
    /// `Hash-Count` is not a positive number.
    #[error("Invalid value for Hash-Count header")]
    BadHashCount,
    /// A binary body whose length is not `Hash-Count × Hash-Size`.
    #[error("Uploaded data did not match the expected size. Check request headers are correct")]
    BodySizeMismatch,
    /// The body is larger than the service accepts.
    #[error("Request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read to its end (the client went away, or sent a broken
    /// stream).
    #[error("Upload failed while reading the body: {0}")]
    BodyRead(String),
}

/// An upload that was not accepted: refused, or the storage failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Refused; the client can act on the reason.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The storage failed; nothing was accepted.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The error a body reader fails with once the body is longer than the service accepts;
/// wrap it in an [`io::Error`] so that uploads answer [`Refusal::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("length limit of {limit} bytes exceeded")]
pub struct BodyTooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

impl BodyTooLarge {
    /// As the I/O error a body reader returns.
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// The refusal for a body that could not be read.
fn body_refusal(e: &io::Error) -> Refusal {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<BodyTooLarge>())
    {
        Some(too_large) => Refusal::TooLarge {
            limit: too_large.limit,
        },
        None => Refusal::BodyRead(e.to_string()),
    }
}

/// The uploads arriving in this process, by project and party: a second upload with the
/// same token is refused while the first is read, before its body is decoded. (Across
/// processes, the accept transaction still lets only one win; a crash leaves no claim.)
#[derive(Debug, Clone, Default)]
pub struct UploadClaims(Arc<Mutex<HashSet<(String, usize)>>>);

impl UploadClaims {
    /// Claims `(project, party)`, unless it is claimed.
    fn claim(&self, project: &str, party: usize) -> Option<ClaimGuard> {
        let key = (project.to_string(), party);
        let mut claimed = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        claimed.insert(key.clone()).then(|| ClaimGuard {
            claims: self.clone(),
            key,
        })
    }
}

/// A claim on a party's slot, given back when dropped (the upload ended, whichever way).
#[derive(Debug)]
struct ClaimGuard {
    claims: UploadClaims,
    key: (String, usize),
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let mut claimed = self
            .claims
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        claimed.remove(&self.key);
    }
}

/// A party allowed to upload, holding its slot until this is dropped, and its project as
/// it was when it was admitted.
#[derive(Debug)]
pub struct Admitted {
    /// The party (dataset index).
    pub party: usize,
    /// Its project.
    pub project: Project,
    _claim: ClaimGuard,
}

/// The declared shape of a binary upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryHeader {
    /// Number of records.
    pub count: u64,
    /// Bytes per record.
    pub size: usize,
}

impl BinaryHeader {
    /// The body length the header calls for, if it fits in a `u64`.
    pub fn body_len(&self) -> Option<u64> {
        self.count.checked_mul(self.size as u64)
    }
}

/// A party's accepted upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The receipt token handed to the party (only its hash is kept).
    pub receipt_token: String,
    /// Whether the upload can be used: `false` when it was accepted only to flag the
    /// project in error.
    pub usable: bool,
    /// Records stored (0 when unusable).
    pub records: u64,
    /// Bytes of encodings stored (0 when unusable).
    pub bytes: u64,
}

/// Uploads to the projects of one metadata and blob store.
pub struct Uploads<'a> {
    meta: &'a dyn MetadataStore,
    blobs: &'a dyn BlobStore,
    limits: SizeLimits,
    claims: &'a UploadClaims,
}

impl std::fmt::Debug for Uploads<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<'a> Uploads<'a> {
    /// Uploads over `meta` and `blobs`, with the service's encoding size limits and this
    /// process's claims on arriving uploads.
    pub fn new(
        meta: &'a dyn MetadataStore,
        blobs: &'a dyn BlobStore,
        limits: SizeLimits,
        claims: &'a UploadClaims,
    ) -> Uploads<'a> {
        Uploads {
            meta,
            blobs,
            limits,
            claims,
        }
    }

    /// Who may upload: the project is live and `token` is one of its update tokens whose
    /// party has not uploaded yet, nor is uploading. The party's slot is held until the
    /// returned [`Admitted`] is dropped, so racing uploads with one token are refused before
    /// their bodies are read.
    ///
    /// # Errors
    /// [`Refusal::Forbidden`], [`Refusal::TokenUsed`], [`Refusal::InProgress`], or a
    /// storage failure.
    pub fn admit(&self, project_id: &str, token: &TokenHash) -> Result<Admitted, UploadError> {
        let (party, project) = self.tx(|tx| {
            let project = live_project(tx, project_id)?;
            let kind = access::token_kind(tx, token, project_id)?;
            if !access::may(kind.as_ref(), Action::Upload, project.result_type()) {
                return refuse(Refusal::Forbidden);
            }
            let Some(TokenKind::Update { party }) = kind else {
                return refuse(Refusal::Forbidden);
            };
            let party = party as usize;
            match project.upload(party) {
                None => refuse(Refusal::Forbidden),
                Some(upload) if upload.is_accepted() => refuse(Refusal::TokenUsed),
                Some(_) => Ok((party, project)),
            }
        })?;
        let claim = self
            .claims
            .claim(project_id, party)
            .ok_or(Refusal::InProgress)?;
        Ok(Admitted {
            party,
            project,
            _claim: claim,
        })
    }

    /// The header checks of a binary upload, in the reference's order, from the
    /// `Hash-Count` and `Hash-Size` header values.
    ///
    /// # Errors
    /// The [`Refusal`] of the first check that fails.
    pub fn binary_header(
        &self,
        project: &Project,
        count: Option<&str>,
        size: Option<&str>,
    ) -> Result<BinaryHeader, Refusal> {
        let (Some(count), Some(size)) = (count, size) else {
            return Err(Refusal::BinaryHeaders);
        };
        let size: usize = match size.trim().parse() {
            Ok(s) if s >= self.limits.min_bytes && s <= self.limits.max_bytes => s,
            _ => return Err(Refusal::BadHashSize),
        };
        let count: u64 = match count.trim().parse() {
            Ok(c) if c >= 1 => c,
            _ => return Err(Refusal::BadHashCount),
        };
        check_expected_size(project, size).map_err(|refusal| match refusal {
            Refusal::SizeMismatch { expected, got } => Refusal::HashSizeMismatch { expected, got },
            other => other,
        })?;
        Ok(BinaryHeader { count, size })
    }

    /// Decodes a JSON upload document (any of its forms) from `body`, stores it and accepts
    /// it. Stops reading at the first refusal: the caller reads the rest of the body
    /// before it answers.
    ///
    /// # Errors
    /// A [`Refusal`] (nothing stored), or a storage failure.
    pub fn accept_json(
        &self,
        admitted: &Admitted,
        body: &mut dyn Read,
    ) -> Result<Accepted, UploadError> {
        let Admitted { party, project, .. } = admitted;
        let party = *party;
        let _span = tracing::info_span!("upload_decode", party, format = "json").entered();
        let upload = match decode_upload(body, &self.limits) {
            Ok(upload) => upload,
            Err(e) => {
                let flagged = match e {
                    Error::NoEncodings => return Err(Refusal::MissingClks.into()),
                    Error::Json { reason } => return Err(Refusal::InvalidJson(reason).into()),
                    Error::Io(e) => return Err(body_refusal(&e).into()),
                    Error::Base64 { .. } | Error::SizeMismatch { .. } => {
                        return Err(Refusal::BadRecord(e.to_string()).into());
                    }
                    // Well-formed, of a size the service cannot use: accepted, and the
                    // project is in error (the reference's clients expect the 201).
                    Error::SizeOutOfRange { .. } | Error::SizeNotMultipleOf8 { .. } => {
                        UploadState::Error {
                            message: format!("party {party}: {e}"),
                        }
                    }
                    other => {
                        return Err(StoreError::new(format!("decoding an upload: {other}")).into());
                    }
                };
                return self.accept(project.id(), party, flagged, &[]);
            }
        };
        let has_blocks = upload.blocks.is_some() || upload.form == UploadForm::ClksAndBlocks;
        if project.uses_blocking() && !has_blocks {
            return Err(Refusal::ExpectingBlocks.into());
        }
        if !project.uses_blocking() && has_blocks {
            return Err(Refusal::BlockingDisabled.into());
        }
        let size = upload.clks.bytes_per_record();
        check_expected_size(project, size)?;

        let key = keys::new_upload(project.id(), party);
        let mut bytes = Vec::with_capacity(upload.clks.len() * size);
        encode_binary(&upload.clks, &mut bytes)
            .map_err(|e| StoreError::new(format!("packing an upload: {e}")))?;
        let count = upload.clks.len() as u64;
        drop(upload.clks);
        self.put(project.id(), &key, &mut &bytes[..])?;
        drop(bytes);
        let mut written = vec![key.clone()];
        let blocks_blob = match &upload.blocks {
            Some(blocks) => {
                let blocks_key = keys::upload_blocks(&key);
                let stored = serde_json::to_vec(blocks)
                    .map_err(|e| StoreError::caused_by("writing block ids", e))
                    .map_err(UploadError::from)
                    .and_then(|doc| self.put(project.id(), &blocks_key, &mut &doc[..]));
                if let Err(e) = stored {
                    self.forget(&written);
                    return Err(e);
                }
                written.push(blocks_key.clone());
                Some(blocks_key)
            }
            None => None,
        };
        let ready = UploadState::Ready {
            count,
            bytes_per_record: size,
            blob: key,
            blocks_blob,
        };
        self.accept(project.id(), party, ready, &written)
    }

    /// Streams a binary upload's body (checked by [`Uploads::binary_header`]) to the blob
    /// store and accepts it.
    ///
    /// # Errors
    /// [`Refusal::BodySizeMismatch`] for a body of another length, a body-read refusal,
    /// [`Refusal::Forbidden`] when the project was deleted meanwhile, or a storage failure.
    pub fn accept_binary(
        &self,
        admitted: &Admitted,
        header: BinaryHeader,
        body: &mut dyn Read,
    ) -> Result<Accepted, UploadError> {
        let Admitted { party, project, .. } = admitted;
        let party = *party;
        let _span = tracing::info_span!("upload_decode", party, format = "binary").entered();
        let expected_len = header.body_len().ok_or(Refusal::BodySizeMismatch)?;
        let key = keys::new_upload(project.id(), party);
        // One byte past the declared length, so that a longer body is noticed.
        let mut counted = Counting {
            inner: body.take(expected_len.saturating_add(1)),
            count: 0,
            failed: None,
        };
        let stored = self.blobs.put(&key, &mut counted);
        if let Err(e) = stored {
            let _ = self.blobs.delete(&key);
            if let Some(read_error) = &counted.failed {
                return Err(body_refusal(read_error).into());
            }
            return Err(self.storage_failure(project.id(), e));
        }
        if counted.count != expected_len {
            self.blobs.delete(&key)?;
            return Err(Refusal::BodySizeMismatch.into());
        }
        let outcome = if !header.size.is_multiple_of(8) {
            // Accepted, but unusable (§5.4): the reference's clients expect the 201.
            self.blobs.delete(&key)?;
            UploadState::Error {
                message: format!(
                    "party {party}: encodings of {} bytes are not a multiple of 8 bytes",
                    header.size
                ),
            }
        } else {
            UploadState::Ready {
                count: header.count,
                bytes_per_record: header.size,
                blob: key.clone(),
                blocks_blob: None,
            }
        };
        let written = match outcome {
            UploadState::Ready { .. } => vec![key],
            _ => Vec::new(),
        };
        self.accept(project.id(), party, outcome, &written)
    }

    /// Commits an accepted upload in one transaction: the party's state, a receipt token,
    /// the project check of §5.4 and the queueing of waiting runs. If it is refused after
    /// all (the project was deleted, or another upload with the same token won the race),
    /// the blobs `written` for it are removed.
    fn accept(
        &self,
        project_id: &str,
        party: usize,
        outcome: UploadState,
        written: &[String],
    ) -> Result<Accepted, UploadError> {
        let receipt = token::generate();
        let usable = matches!(outcome, UploadState::Ready { .. });
        let (records, bytes) = match &outcome {
            UploadState::Ready {
                count,
                bytes_per_record,
                ..
            } => (*count, count.saturating_mul(*bytes_per_record as u64)),
            _ => (0, 0),
        };
        let committed = self.tx(|tx| {
            let mut project = live_project(tx, project_id)?;
            match project.upload(party) {
                None => return refuse(Refusal::Forbidden),
                Some(upload) if upload.is_accepted() => return refuse(Refusal::TokenUsed),
                Some(_) => {}
            }
            project.accept_upload(party, outcome.clone(), &self.limits);
            tx.put_project(&project)?;
            tx.put_token(&Token {
                hash: TokenHash::of(&receipt),
                project_id: project_id.to_string(),
                kind: TokenKind::Receipt {
                    party: party as u32,
                },
            })?;
            queue_waiting_runs(tx, &project)?;
            Ok(())
        });
        match committed {
            Ok(()) => Ok(Accepted {
                receipt_token: receipt,
                usable,
                records,
                bytes,
            }),
            Err(e) => {
                self.forget(written);
                Err(e)
            }
        }
    }

    /// Stores a blob of project `project_id`; a failure is a refusal when the project was
    /// deleted meanwhile (its blobs went with it).
    fn put(&self, project_id: &str, key: &str, data: &mut dyn Read) -> Result<(), UploadError> {
        match self.blobs.put(key, data) {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = self.blobs.delete(key);
                Err(self.storage_failure(project_id, e))
            }
        }
    }

    /// A storage failure while storing an upload: [`Refusal::Forbidden`] if the project is
    /// gone (deleted while the body arrived), the failure itself otherwise.
    fn storage_failure(&self, project_id: &str, e: StoreError) -> UploadError {
        match self.tx(|tx| live_project(tx, project_id).map(|_| ())) {
            Err(UploadError::Refused(refusal)) => refusal.into(),
            _ => e.into(),
        }
    }

    fn forget(&self, written: &[String]) {
        for key in written {
            let _ = self.blobs.delete(key);
        }
    }

    fn tx<T>(
        &self,
        f: impl FnMut(&mut dyn Tx) -> Result<T, TxError<Refusal>>,
    ) -> Result<T, UploadError> {
        match transact(self.meta, f) {
            Ok(v) => Ok(v),
            Err(TxError::Abort(refusal)) => Err(refusal.into()),
            Err(TxError::Store(e)) => Err(e.into()),
        }
    }
}

fn refuse<T>(refusal: Refusal) -> Result<T, TxError<Refusal>> {
    Err(TxError::Abort(refusal))
}

/// The project if it exists and is not deleted.
fn live_project(tx: &mut dyn Tx, id: &str) -> Result<Project, TxError<Refusal>> {
    match tx.project(id)? {
        Some(p) if !p.is_deleted() => Ok(p),
        _ => refuse(Refusal::Forbidden),
    }
}

/// The one size rule: encodings must have the size the project expects, if it expects one.
fn check_expected_size(project: &Project, size: usize) -> Result<(), Refusal> {
    match project.expected_size() {
        Some(expected) if expected != size => Err(Refusal::SizeMismatch {
            expected,
            got: size,
        }),
        _ => Ok(()),
    }
}

/// Counts what passes through, and keeps the reader's own failure, so that a failure of
/// the body is told apart from a failure of the storage.
struct Counting<R> {
    inner: R,
    count: u64,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.count += n as u64;
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                let message = e.to_string();
                self.failed = Some(e);
                Err(io::Error::new(kind, message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::encode_base64_record;
    use crate::linkage::ResultType;
    use crate::service::Timestamp;
    use crate::service::memory::{MemoryBlobs, MemoryStore};
    use crate::service::project::{Credentials, NewProject};

    struct Fixture {
        meta: MemoryStore,
        blobs: MemoryBlobs,
        claims: UploadClaims,
        creds: Credentials,
    }

    fn fixture(schema: serde_json::Value, blocking: bool) -> Fixture {
        let meta = MemoryStore::default();
        let mut spec = NewProject::new(ResultType::Mapping, 2);
        spec.schema = schema;
        spec.uses_blocking = blocking;
        let (project, creds) = Project::create(spec, Timestamp(0));
        transact::<_, ()>(&meta, |tx| {
            tx.put_project(&project)?;
            for t in creds.tokens() {
                tx.put_token(&t)?;
            }
            Ok(())
        })
        .unwrap();
        Fixture {
            meta,
            blobs: MemoryBlobs::default(),
            claims: UploadClaims::default(),
            creds,
        }
    }

    impl Fixture {
        fn uploads(&self) -> Uploads<'_> {
            Uploads::new(&self.meta, &self.blobs, SizeLimits::default(), &self.claims)
        }
        fn admit(&self, party: usize) -> Result<Admitted, UploadError> {
            let token = TokenHash::of(&self.creds.update_tokens[party]);
            self.uploads().admit(&self.creds.project_id, &token)
        }
        fn json(&self, party: usize, doc: &[u8]) -> Result<Accepted, UploadError> {
            let admitted = self.admit(party)?;
            self.uploads().accept_json(&admitted, &mut &doc[..])
        }
        fn project(&self) -> Project {
            transact::<_, ()>(&self.meta, |tx| Ok(tx.project(&self.creds.project_id)?))
                .unwrap()
                .unwrap()
        }
    }

    fn doc(n: usize, size: usize) -> Vec<u8> {
        let records: Vec<String> = (0..n)
            .map(|i| format!("\"{}\"", encode_base64_record(&vec![i as u8; size])))
            .collect();
        format!("{{\"clks\": [{}]}}", records.join(", ")).into_bytes()
    }

    fn refusal(r: Result<Accepted, UploadError>) -> Refusal {
        match r {
            Err(UploadError::Refused(refusal)) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn who_may_upload() {
        let f = fixture(serde_json::json!({}), false);
        let wrong = f
            .uploads()
            .admit(&f.creds.project_id, &TokenHash::of("nope"));
        assert!(matches!(
            wrong,
            Err(UploadError::Refused(Refusal::Forbidden))
        ));
        let result = TokenHash::of(&f.creds.result_token);
        let owner = f.uploads().admit(&f.creds.project_id, &result);
        assert!(matches!(
            owner,
            Err(UploadError::Refused(Refusal::Forbidden))
        ));
        let accepted = f.json(0, &doc(3, 16)).unwrap();
        assert!(accepted.usable && accepted.receipt_token.len() == 48);
        assert_eq!(refusal(f.json(0, &doc(3, 16))), Refusal::TokenUsed);
    }

    #[test]
    fn refusals_store_nothing_and_leave_the_token_usable() {
        let f = fixture(serde_json::json!({"clkConfig": {"l": 128}}), false);
        let bad = [
            (&br#"{"clks": []}"#[..], Refusal::MissingClks),
            (
                br#"{"clks": ["AAAAAAAAAAAAAAAAAAAAAA==", "!!!!"]}"#,
                Refusal::BadRecord(String::new()),
            ),
            (
                br#"{"clks": ["AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAAAAAAA="]}"#,
                Refusal::BadRecord(String::new()),
            ),
            (br#"{"clks": 5"#, Refusal::InvalidJson(String::new())),
        ];
        for (body, expected) in bad {
            let got = refusal(f.json(0, body));
            assert_eq!(
                std::mem::discriminant(&got),
                std::mem::discriminant(&expected),
                "{got}"
            );
        }
        let got = refusal(f.json(0, &doc(3, 8)));
        assert_eq!(
            got,
            Refusal::SizeMismatch {
                expected: 16,
                got: 8
            }
        );
        let blocks = br#"{"clknblocks": [["AAAAAAAAAAAAAAAAAAAAAA==", "1"]]}"#;
        assert_eq!(refusal(f.json(0, blocks)), Refusal::BlockingDisabled);
        assert!(f.blobs.is_empty(), "a refused upload stores nothing");
        assert!(!f.project().parties()[0].upload().is_accepted());
        assert!(f.json(0, &doc(3, 16)).unwrap().usable);
    }

    #[test]
    fn a_racing_upload_is_refused_until_the_first_ends() {
        let f = fixture(serde_json::json!({}), false);
        let first = f.admit(0).unwrap();
        assert!(matches!(
            f.admit(0),
            Err(UploadError::Refused(Refusal::InProgress))
        ));
        assert!(f.admit(1).is_ok(), "other parties are not held");
        drop(first);
        let again = f.admit(0).unwrap();
        let refused = f
            .uploads()
            .accept_json(&again, &mut &br#"{"clks": []}"#[..]);
        assert!(refused.is_err());
        drop(again);
        assert!(f.json(0, &doc(2, 8)).unwrap().usable);
    }

    #[test]
    fn record_errors_name_the_record() {
        let f = fixture(serde_json::json!({}), false);
        let got = refusal(f.json(0, br#"{"clks": ["AAAAAAAAAAA=", "AAAAAAAAAAA=", "!!"]}"#));
        assert!(got.to_string().contains("record 2"), "{got}");
    }

    #[test]
    fn unusable_sizes_are_accepted_and_flag_the_project() {
        for size in [4, 20, 4096] {
            let f = fixture(serde_json::json!({}), false);
            let accepted = f.json(0, &doc(2, size)).unwrap();
            assert!(!accepted.usable, "size {size}");
            assert!(f.project().in_error());
        }
    }

    #[test]
    fn blocking_projects_need_blocks() {
        let f = fixture(serde_json::json!({}), true);
        assert_eq!(refusal(f.json(0, &doc(2, 8))), Refusal::ExpectingBlocks);
        let blocks = br#"{"clknblocks": [["AAAAAAAAAAA=", "1"], ["AAAAAAAAAAE=", "2"]]}"#;
        assert!(f.json(0, blocks).unwrap().usable);
        let project = f.project();
        let Some(UploadState::Ready { blocks_blob, .. }) = project.upload(0) else {
            panic!("ready");
        };
        assert!(blocks_blob.is_some());
    }

    #[test]
    fn binary_uploads() {
        let f = fixture(serde_json::json!({}), false);
        let uploads = f.uploads();
        let project = f.project();
        let header =
            |count: Option<&str>, size: Option<&str>| uploads.binary_header(&project, count, size);
        assert_eq!(header(None, Some("8")), Err(Refusal::BinaryHeaders));
        assert_eq!(header(Some("1"), Some("4096")), Err(Refusal::BadHashSize));
        assert_eq!(header(Some("0"), Some("8")), Err(Refusal::BadHashCount));
        let two = header(Some("2"), Some("8")).unwrap();
        let admitted = f.admit(1).unwrap();
        let short = uploads.accept_binary(&admitted, two, &mut &[0u8; 15][..]);
        assert_eq!(refusal(short), Refusal::BodySizeMismatch);
        let long = uploads.accept_binary(&admitted, two, &mut &[0u8; 17][..]);
        assert_eq!(refusal(long), Refusal::BodySizeMismatch);
        assert!(f.blobs.is_empty());
        let ok = uploads
            .accept_binary(&admitted, two, &mut &[1u8; 16][..])
            .unwrap();
        assert!(ok.usable);
        // The size is fixed by party 1 only once every party uploaded; party 0 with
        // another size flags the project (§5.4).
        let accepted = f.json(0, &doc(2, 16)).unwrap();
        assert!(accepted.usable);
        assert!(f.project().in_error());
    }

    #[test]
    fn body_errors_are_refusals_not_storage_failures() {
        struct Broken(io::Error);
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(self.0.kind(), self.0.to_string()))
            }
        }
        let f = fixture(serde_json::json!({}), false);
        let uploads = f.uploads();
        let admitted = f.admit(0).unwrap();
        let header = BinaryHeader { count: 1, size: 8 };
        let mut too_large: Box<dyn Read> =
            Box::new(ReadErr(Some(BodyTooLarge { limit: 4 }.into_io())));
        let got = uploads.accept_binary(&admitted, header, &mut too_large);
        assert_eq!(refusal(got), Refusal::TooLarge { limit: 4 });
        let mut too_large: Box<dyn Read> =
            Box::new(ReadErr(Some(BodyTooLarge { limit: 4 }.into_io())));
        let got = uploads.accept_json(&admitted, &mut too_large);
        assert_eq!(refusal(got), Refusal::TooLarge { limit: 4 });
        let mut reset = Broken(io::Error::from(io::ErrorKind::ConnectionReset));
        let got = uploads.accept_binary(&admitted, header, &mut reset);
        assert!(matches!(refusal(got), Refusal::BodyRead(_)));
        assert!(f.blobs.is_empty());
    }

    /// Fails once with the given error.
    struct ReadErr(Option<io::Error>);
    impl Read for ReadErr {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            match self.0.take() {
                Some(e) => Err(e),
                None => Ok(0),
            }
        }
    }
}
