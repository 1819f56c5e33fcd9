//! Who may do what: the permission matrix of the API (reference §3), as one rule.
//!
//! A project has one result token (its owner's), one update token per party (to upload
//! once), and hands a receipt token to each party whose upload was accepted. Every refusal
//! looks the same to the client (403), whether the token is wrong, of another project or
//! of the wrong kind.

use super::keys::ResultPart;
use super::store::{StoreError, Tx};
use super::token::{TokenHash, TokenKind};
use crate::linkage::ResultType;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `GET /projects/{id}`.
    DescribeProject,
    /// `DELETE /projects/{id}`.
    DeleteProject,
    /// `POST /projects/{id}/clks` as party `0`.
    Upload,
    /// `GET /projects/{id}/runs`.
    ListRuns,
    /// `POST /projects/{id}/runs`.
    CreateRun,
    /// `GET /projects/{id}/runs/{run}`.
    DescribeRun,
    /// `DELETE /projects/{id}/runs/{run}`.
    DeleteRun,
    /// `GET .../status`.
    RunStatus,
    /// `GET .../result`.
    RunResult,
    /// `GET .../estimate` (an extension: the score model of an auto or Bayes run).
    RunEstimate,
}

/// Whether the holder of a token of `kind` (`None`: no token of this project) may do
/// `action` in a project of `result_type`.
///
/// ```
/// use anonlink_core::linkage::ResultType;
/// use anonlink_core::service::access::{Action, may};
/// use anonlink_core::service::token::TokenKind;
///
/// let receipt = TokenKind::Receipt { party: 0 };
/// assert!(may(Some(&receipt), Action::RunStatus, ResultType::Groups));
/// assert!(!may(Some(&receipt), Action::RunStatus, ResultType::Mapping));
/// assert!(!may(None, Action::DescribeProject, ResultType::Mapping));
/// ```
pub fn may(kind: Option<&TokenKind>, action: Action, result_type: ResultType) -> bool {
    let Some(kind) = kind else {
        return false;
    };
    match (kind, action) {
        (TokenKind::Update { .. }, Action::Upload) => true,
        (TokenKind::Update { .. }, _) | (_, Action::Upload) => false,
        (TokenKind::Result, _) => true,
        (TokenKind::Receipt { .. }, Action::DescribeProject) => {
            result_type == ResultType::Permutations
        }
        (TokenKind::Receipt { .. }, Action::RunStatus | Action::RunResult) => {
            matches!(result_type, ResultType::Permutations | ResultType::Groups)
        }
        (TokenKind::Receipt { .. }, _) => false,
    }
}

/// The result document the holder of a token of `kind` reads, if any: the owner reads the
/// mask of a permutations result, each party its own permutation; otherwise the whole
/// result.
pub fn result_part(kind: Option<&TokenKind>, result_type: ResultType) -> Option<ResultPart> {
    if !may(kind, Action::RunResult, result_type) {
        return None;
    }
    Some(match (kind?, result_type) {
        (TokenKind::Result, ResultType::Permutations) => ResultPart::Mask,
        (TokenKind::Receipt { party }, ResultType::Permutations) => ResultPart::Permutation(*party),
        _ => ResultPart::Whole,
    })
}

/// What the token with hash `token` allows in project `project_id`: `None` for a token
/// that does not exist or belongs to another project.
///
/// # Errors
/// Storage failures.
pub fn token_kind(
    tx: &mut dyn Tx,
    token: &TokenHash,
    project_id: &str,
) -> Result<Option<TokenKind>, StoreError> {
    Ok(tx
        .token(token)?
        .filter(|t| t.project_id == project_id)
        .map(|t| t.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Action; 9] = [
        Action::DescribeProject,
        Action::DeleteProject,
        Action::Upload,
        Action::ListRuns,
        Action::CreateRun,
        Action::DescribeRun,
        Action::DeleteRun,
        Action::RunStatus,
        Action::RunResult,
    ];

    #[test]
    fn the_matrix() {
        let types = [
            ResultType::SimilarityScores,
            ResultType::Mapping,
            ResultType::Permutations,
            ResultType::Groups,
        ];
        for t in types {
            for a in ALL {
                assert!(!may(None, a, t));
                assert_eq!(may(Some(&TokenKind::Result), a, t), a != Action::Upload);
                assert_eq!(
                    may(Some(&TokenKind::Update { party: 1 }), a, t),
                    a == Action::Upload
                );
            }
        }
        let receipt = TokenKind::Receipt { party: 1 };
        let allowed = |t| {
            ALL.into_iter()
                .filter(|a| may(Some(&receipt), *a, t))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            allowed(ResultType::Permutations),
            [
                Action::DescribeProject,
                Action::RunStatus,
                Action::RunResult
            ]
        );
        assert_eq!(
            allowed(ResultType::Groups),
            [Action::RunStatus, Action::RunResult]
        );
        assert!(allowed(ResultType::Mapping).is_empty());
        assert!(allowed(ResultType::SimilarityScores).is_empty());
    }

    #[test]
    fn result_parts() {
        let perm = ResultType::Permutations;
        assert_eq!(
            result_part(Some(&TokenKind::Result), perm),
            Some(ResultPart::Mask)
        );
        assert_eq!(
            result_part(Some(&TokenKind::Receipt { party: 1 }), perm),
            Some(ResultPart::Permutation(1))
        );
        assert_eq!(
            result_part(Some(&TokenKind::Receipt { party: 1 }), ResultType::Groups),
            Some(ResultPart::Whole)
        );
        assert_eq!(
            result_part(Some(&TokenKind::Result), ResultType::Mapping),
            Some(ResultPart::Whole)
        );
        assert_eq!(
            result_part(Some(&TokenKind::Receipt { party: 0 }), ResultType::Mapping),
            None
        );
        assert_eq!(
            result_part(Some(&TokenKind::Update { party: 0 }), perm),
            None
        );
    }
}
