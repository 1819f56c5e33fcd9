//! Projects and their parties' uploads (API reference §3.4–3.7, §5.2–5.4).

use serde_json::Value;

use super::Timestamp;
use crate::linkage::ResultType;

/// Where a party's upload stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UploadState {
    /// Nothing accepted yet; the update token may be used (again, after a 4xx).
    NotStarted,
    /// Accepted and stored as a blob of `count` records of `bytes_per_record` bytes.
    Ready {
        /// Number of records.
        count: u64,
        /// Record size in bytes.
        bytes_per_record: usize,
        /// Key of the blob holding the records (binary format).
        blob: String,
        /// Key of the blob holding block ids (JSON), for blocking projects.
        blocks_blob: Option<String>,
    },
    /// Accepted, but its encodings cannot be used; the project is in error (§5.3).
    Error {
        /// Why, for run status messages and logs.
        message: String,
    },
}

impl UploadState {
    /// Whether an upload was accepted (201) for this party.
    pub fn is_accepted(&self) -> bool {
        !matches!(self, UploadState::NotStarted)
    }
}

/// One party of a project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Party {
    /// Its upload.
    pub upload: UploadState,
}

/// A linkage project.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Project {
    /// 48 hex characters.
    pub id: String,
    /// Free text.
    pub name: String,
    /// Free text.
    pub notes: String,
    /// The linkage schema, opaque except for `clkConfig.l`.
    pub schema: Value,
    /// What the runs compute.
    pub result_type: ResultType,
    /// Whether uploads carry block ids.
    pub uses_blocking: bool,
    /// When it was created.
    pub time_added: Timestamp,
    /// Deleted projects keep their row (they still count in `/status`) but nothing else.
    pub deleted: bool,
    /// The encoding size fixed by the check of §5.4, in bytes.
    pub encoding_size: Option<usize>,
    /// One per party; the index is the dataset index in results.
    pub parties: Vec<Party>,
}

/// Limits the service puts on encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingLimits {
    /// Smallest record size in bytes.
    pub min_bytes: usize,
    /// Largest record size in bytes.
    pub max_bytes: usize,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            min_bytes: 1,
            max_bytes: 1024,
        }
    }
}

impl Project {
    /// A new project with `number_parties` parties that have not uploaded.
    pub fn new(
        id: String,
        result_type: ResultType,
        number_parties: u32,
        schema: Value,
        name: String,
        notes: String,
        uses_blocking: bool,
    ) -> Project {
        Project {
            id,
            name,
            notes,
            schema,
            result_type,
            uses_blocking,
            time_added: Timestamp::now(),
            deleted: false,
            encoding_size: None,
            parties: vec![
                Party {
                    upload: UploadState::NotStarted
                };
                number_parties as usize
            ],
        }
    }

    /// Number of parties.
    pub fn number_parties(&self) -> usize {
        self.parties.len()
    }

    /// The encoding size in bytes the schema asks for: `clkConfig.l / 8`, if present.
    pub fn schema_size(&self) -> Option<usize> {
        let bits = self.schema.get("clkConfig")?.get("l")?;
        let bits = bits
            .as_u64()
            .or_else(|| bits.as_f64().filter(|b| *b >= 0.0).map(|b| b as u64))?;
        Some((bits / 8) as usize)
    }

    /// The size uploads must have, if one is fixed yet (§3.7 check 4).
    pub fn expected_size(&self) -> Option<usize> {
        self.encoding_size.or_else(|| self.schema_size())
    }

    /// Whether any upload is in error (§5.3).
    pub fn in_error(&self) -> bool {
        self.parties
            .iter()
            .any(|p| matches!(p.upload, UploadState::Error { .. }))
    }

    /// The first upload error's message, if any.
    pub fn error_message(&self) -> Option<&str> {
        self.parties.iter().find_map(|p| match &p.upload {
            UploadState::Error { message } => Some(message.as_str()),
            _ => None,
        })
    }

    /// Number of parties whose upload was accepted.
    pub fn parties_contributed(&self) -> usize {
        self.parties
            .iter()
            .filter(|p| p.upload.is_accepted())
            .count()
    }

    /// Whether every party's upload was accepted.
    pub fn all_uploaded(&self) -> bool {
        self.parties_contributed() == self.parties.len()
    }

    /// Whether every party's upload is usable, so runs can start.
    pub fn ready(&self) -> bool {
        self.parties
            .iter()
            .all(|p| matches!(p.upload, UploadState::Ready { .. }))
    }

    /// Record counts of the parties (0 for parties not ready).
    pub fn sizes(&self) -> Vec<usize> {
        self.parties
            .iter()
            .map(|p| match p.upload {
                UploadState::Ready { count, .. } => count as usize,
                _ => 0,
            })
            .collect()
    }

    /// Records an accepted upload of `party`, then, once every party has uploaded, runs the
    /// project-level encoding check (§5.4).
    ///
    /// # Panics
    /// When `party` is out of range (callers check tokens first).
    pub fn accept_upload(&mut self, party: usize, state: UploadState, limits: &EncodingLimits) {
        self.parties[party].upload = state;
        if self.all_uploaded() {
            self.check_encodings(limits);
        }
    }

    /// §5.4: every party must have the expected size (the project's, else the schema's,
    /// else the lowest-index party's), within the limits and a multiple of 8 bytes.
    fn check_encodings(&mut self, limits: &EncodingLimits) {
        let first_ready = self.parties.iter().find_map(|p| match p.upload {
            UploadState::Ready {
                bytes_per_record, ..
            } => Some(bytes_per_record),
            _ => None,
        });
        let Some(expected) = self.expected_size().or(first_ready) else {
            return;
        };
        for (i, party) in self.parties.iter_mut().enumerate() {
            if let UploadState::Ready {
                bytes_per_record, ..
            } = party.upload
                && bytes_per_record != expected
            {
                party.upload = UploadState::Error {
                    message: format!(
                        "party {i} uploaded encodings of {bytes_per_record} bytes, but the project expects {expected} bytes"
                    ),
                };
            }
        }
        if self.in_error() {
            return;
        }
        self.encoding_size = Some(expected);
        let problem = if expected < limits.min_bytes || expected > limits.max_bytes {
            Some(format!(
                "encoding size {expected} bytes is outside the allowed range {}..={} bytes",
                limits.min_bytes, limits.max_bytes
            ))
        } else if expected == 0 || !expected.is_multiple_of(8) {
            Some(format!(
                "encoding size {expected} bytes is not a multiple of 8 bytes"
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            for party in &mut self.parties {
                party.upload = UploadState::Error {
                    message: message.clone(),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ready(size: usize) -> UploadState {
        UploadState::Ready {
            count: 10,
            bytes_per_record: size,
            blob: "b".into(),
            blocks_blob: None,
        }
    }

    fn project(schema: Value, parties: u32) -> Project {
        Project::new(
            "p".into(),
            ResultType::Groups,
            parties,
            schema,
            String::new(),
            String::new(),
            false,
        )
    }

    #[test]
    fn size_check_runs_when_the_last_party_uploads() {
        let limits = EncodingLimits::default();
        let mut p = project(json!({}), 3);
        p.accept_upload(1, ready(128), &limits);
        p.accept_upload(0, ready(64), &limits);
        assert!(!p.in_error() && !p.all_uploaded());
        p.accept_upload(2, ready(64), &limits);
        // The lowest-index party's size wins; party 1 differs.
        assert!(p.in_error());
        assert!(p.error_message().unwrap().contains("party 1"));
        assert_eq!(p.parties_contributed(), 3);
    }

    #[test]
    fn schema_size_and_limits() {
        let limits = EncodingLimits::default();
        let mut p = project(json!({"clkConfig": {"l": 1024}}), 2);
        assert_eq!(p.expected_size(), Some(128));
        p.accept_upload(0, ready(128), &limits);
        p.accept_upload(1, ready(128), &limits);
        assert!(p.ready() && !p.in_error());
        assert_eq!(p.encoding_size, Some(128));

        for size in [4, 20, 4096] {
            let mut p = project(json!({}), 2);
            p.accept_upload(0, ready(size), &limits);
            p.accept_upload(1, ready(size), &limits);
            assert!(p.in_error(), "size {size}");
        }
    }
}
