//! Projects and their parties' uploads (API reference §3.4–3.7, §5.2–5.4).

use serde_json::Value;

use super::Timestamp;
use super::token::{self, Token, TokenHash, TokenKind};
use crate::encoding::SizeLimits;
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
        matches!(self, UploadState::Ready { .. } | UploadState::Error { .. })
    }
}

/// One party of a project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Party {
    /// Its upload.
    upload: UploadState,
}

impl Party {
    /// Its upload.
    pub fn upload(&self) -> &UploadState {
        &self.upload
    }
}

/// What a project is created with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProject {
    /// What the runs compute.
    pub result_type: ResultType,
    /// Number of parties (at least 2; more than 2 only for groups).
    pub number_parties: u32,
    /// The linkage schema, opaque except for `clkConfig.l`.
    pub schema: Value,
    /// Free text.
    pub name: String,
    /// Free text.
    pub notes: String,
    /// Whether uploads carry block ids.
    pub uses_blocking: bool,
}

impl NewProject {
    /// A project of `number_parties` parties computing `result_type`, with an empty schema,
    /// no name or notes, and no blocking.
    pub fn new(result_type: ResultType, number_parties: u32) -> NewProject {
        NewProject {
            result_type,
            number_parties,
            schema: Value::Object(Default::default()),
            name: String::new(),
            notes: String::new(),
            uses_blocking: false,
        }
    }
}

/// Why a project cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectRefusal {
    /// Fewer than two parties.
    #[error("{0} is less than the minimum of 2")]
    TooFewParties(u32),
    /// More parties than this service allows.
    #[error("{got} parties is more than this service's limit of {max}")]
    TooManyParties {
        /// Parties asked for.
        got: u32,
        /// The configured maximum.
        max: u32,
    },
    /// More than two parties with a two-party result type.
    #[error("Multi-party linkage requires result type 'groups'.")]
    MultiPartyNeedsGroups,
}

/// The secrets handed out once, when a project is created (only their hashes are kept).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The project's id.
    pub project_id: String,
    /// The owner's token: describe, delete, runs, results.
    pub result_token: String,
    /// One per party, to upload its encodings once.
    pub update_tokens: Vec<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The stored form of every token: the result token first, then the parties'.
    pub fn tokens(&self) -> Vec<Token> {
        let result = Token {
            hash: TokenHash::of(&self.result_token),
            project_id: self.project_id.clone(),
            kind: TokenKind::Result,
        };
        let updates = self
            .update_tokens
            .iter()
            .enumerate()
            .map(|(party, t)| Token {
                hash: TokenHash::of(t),
                project_id: self.project_id.clone(),
                kind: TokenKind::Update {
                    party: party as u32,
                },
            });
        std::iter::once(result).chain(updates).collect()
    }
}

/// A linkage project. Its state changes only through its transitions
/// ([`Project::accept_upload`], [`Project::delete`]); read it through the accessors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Project {
    id: String,
    name: String,
    notes: String,
    schema: Value,
    result_type: ResultType,
    uses_blocking: bool,
    time_added: Timestamp,
    /// Deleted projects keep their row (they still count in `/status`) but nothing else.
    deleted: bool,
    /// The encoding size fixed by the check of §5.4, in bytes.
    encoding_size: Option<usize>,
    /// One per party; the index is the dataset index in results.
    parties: Vec<Party>,
}

impl Project {
    /// Checks `spec` (at most `max_parties` parties) and creates the project at `now`, with
    /// a fresh id and fresh tokens.
    ///
    /// # Errors
    /// The rule `spec` breaks.
    pub fn create_checked(
        spec: NewProject,
        max_parties: u32,
        now: Timestamp,
    ) -> Result<(Project, Credentials), ProjectRefusal> {
        if spec.number_parties < 2 {
            return Err(ProjectRefusal::TooFewParties(spec.number_parties));
        }
        if spec.number_parties > max_parties {
            return Err(ProjectRefusal::TooManyParties {
                got: spec.number_parties,
                max: max_parties,
            });
        }
        if spec.number_parties > 2 && spec.result_type != ResultType::Groups {
            return Err(ProjectRefusal::MultiPartyNeedsGroups);
        }
        Ok(Project::create(spec, now))
    }

    /// Creates the project `spec` describes at `now`, with a fresh id and fresh tokens,
    /// without checking it (see [`Project::create_checked`]).
    pub fn create(spec: NewProject, now: Timestamp) -> (Project, Credentials) {
        let project = Project {
            id: token::generate(),
            name: spec.name,
            notes: spec.notes,
            schema: spec.schema,
            result_type: spec.result_type,
            uses_blocking: spec.uses_blocking,
            time_added: now,
            deleted: false,
            encoding_size: None,
            parties: vec![
                Party {
                    upload: UploadState::NotStarted
                };
                spec.number_parties as usize
            ],
        };
        let credentials = Credentials {
            project_id: project.id.clone(),
            result_token: token::generate(),
            update_tokens: (0..spec.number_parties)
                .map(|_| token::generate())
                .collect(),
        };
        (project, credentials)
    }

    /// 48 hex characters.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Free text given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free text given at creation.
    pub fn notes(&self) -> &str {
        &self.notes
    }

    /// The linkage schema given at creation.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// What the runs compute.
    pub fn result_type(&self) -> ResultType {
        self.result_type
    }

    /// Whether uploads carry block ids.
    pub fn uses_blocking(&self) -> bool {
        self.uses_blocking
    }

    /// When it was created.
    pub fn time_added(&self) -> Timestamp {
        self.time_added
    }

    /// Whether it was deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted
    }

    /// The encoding size fixed by the check of §5.4, in bytes, once every party uploaded.
    pub fn encoding_size(&self) -> Option<usize> {
        self.encoding_size
    }

    /// The parties, by dataset index.
    pub fn parties(&self) -> &[Party] {
        &self.parties
    }

    /// Party `party`'s upload, if there is such a party.
    pub fn upload(&self, party: usize) -> Option<&UploadState> {
        self.parties.get(party).map(|p| &p.upload)
    }

    /// Marks the project deleted (§3.6): it keeps its row, but nobody can use it any more.
    pub fn delete(&mut self) {
        self.deleted = true;
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
    /// project-level encoding check (§5.4). Returns `false`, changing nothing, when there is
    /// no such party.
    pub fn accept_upload(&mut self, party: usize, state: UploadState, limits: &SizeLimits) -> bool {
        let Some(slot) = self.parties.get_mut(party) else {
            return false;
        };
        slot.upload = state;
        if self.all_uploaded() {
            self.check_encodings(limits);
        }
        true
    }

    /// §5.4: every party must have the expected size (the project's, else the schema's,
    /// else the lowest-index party's), within the limits and a multiple of 8 bytes.
    fn check_encodings(&mut self, limits: &SizeLimits) {
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
        let mut spec = NewProject::new(ResultType::Groups, parties);
        spec.schema = schema;
        Project::create(spec, Timestamp(0)).0
    }

    #[test]
    fn creation_rules_and_credentials() {
        let spec = NewProject::new;
        let now = Timestamp(5);
        assert_eq!(
            Project::create_checked(spec(ResultType::Groups, 1), 10, now).unwrap_err(),
            ProjectRefusal::TooFewParties(1)
        );
        assert!(matches!(
            Project::create_checked(spec(ResultType::Groups, 11), 10, now),
            Err(ProjectRefusal::TooManyParties { got: 11, max: 10 })
        ));
        assert_eq!(
            Project::create_checked(spec(ResultType::Mapping, 3), 10, now).unwrap_err(),
            ProjectRefusal::MultiPartyNeedsGroups
        );
        let (p, creds) = Project::create_checked(spec(ResultType::Groups, 3), 10, now).unwrap();
        assert_eq!((p.number_parties(), p.time_added()), (3, now));
        assert_eq!(creds.project_id, p.id());
        let tokens = creds.tokens();
        assert_eq!(tokens.len(), 4);
        assert_eq!(tokens[0].kind, TokenKind::Result);
        assert_eq!(tokens[3].kind, TokenKind::Update { party: 2 });
        assert!(
            tokens[1]
                .hash
                .matches(&TokenHash::of(&creds.update_tokens[0]))
        );
        assert!(!format!("{creds:?}").contains(&creds.result_token));
    }

    #[test]
    fn size_check_runs_when_the_last_party_uploads() {
        let limits = SizeLimits::default();
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
        let limits = SizeLimits::default();
        let mut p = project(json!({"clkConfig": {"l": 1024}}), 2);
        assert_eq!(p.expected_size(), Some(128));
        p.accept_upload(0, ready(128), &limits);
        p.accept_upload(1, ready(128), &limits);
        assert!(p.ready() && !p.in_error());
        assert_eq!(p.encoding_size(), Some(128));

        for size in [4, 20, 4096] {
            let mut p = project(json!({}), 2);
            p.accept_upload(0, ready(size), &limits);
            p.accept_upload(1, ready(size), &limits);
            assert!(p.in_error(), "size {size}");
        }
        p.delete();
        assert!(p.is_deleted());
    }
}
