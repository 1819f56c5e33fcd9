//! Every blob key the service writes, in one place.
//!
//! A project's blobs live under `projects/<project id>/`, so deleting a project is one
//! prefix deletion; a run's under `projects/<project id>/runs/<run id>/`, likewise.
//!
//! ```text
//! projects/<project>/uploads/party-<p>-<random>.bin              encodings (binary format)
//! projects/<project>/uploads/party-<p>-<random>.bin.blocks.json  block ids, blocking projects
//! projects/<project>/runs/<run>/chunks/<index>-<worker>          a chunk's sorted candidates
//! projects/<project>/runs/<run>/<part>.json                      result documents
//! projects/<project>/runs/<run>/estimate.json                    the score model's estimate
//! ```

use super::token;

/// Everything of a project.
pub fn project_prefix(project_id: &str) -> String {
    format!("projects/{project_id}/")
}

/// Everything of a run: its chunk files and its result documents.
pub fn run_prefix(project_id: &str, run_id: &str) -> String {
    format!("projects/{project_id}/runs/{run_id}/")
}

/// A fresh key for party `party`'s encodings: random, so that an upload that loses a race
/// with another never overwrites the winner's blob.
pub fn new_upload(project_id: &str, party: usize) -> String {
    format!(
        "projects/{project_id}/uploads/party-{party}-{}.bin",
        token::generate()
    )
}

/// The block ids stored beside the encodings under `upload_key`.
pub fn upload_blocks(upload_key: &str) -> String {
    format!("{upload_key}.blocks.json")
}

/// The chunk candidate files of a run.
pub fn chunks_prefix(project_id: &str, run_id: &str) -> String {
    format!("{}chunks/", run_prefix(project_id, run_id))
}

/// The candidate file of chunk `index` as computed by `holder` (a key per holder, so a
/// worker that lost its lease never overwrites the file of the one that took over).
pub fn chunk_candidates(project_id: &str, run_id: &str, index: u32, holder: &str) -> String {
    format!("{}{index:06}-{holder}", chunks_prefix(project_id, run_id))
}

/// A result document of a run.
pub fn result(project_id: &str, run_id: &str, part: &ResultPart) -> String {
    format!("{}{}.json", run_prefix(project_id, run_id), part.name())
}

/// The score model's estimate of a run solved with it (auto runs, the Bayes solver).
pub fn estimate(project_id: &str, run_id: &str) -> String {
    format!("{}estimate.json", run_prefix(project_id, run_id))
}

/// One of a run's result documents: who may read which is [`super::access`]'s rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultPart {
    /// The whole result (similarity scores, mapping, groups).
    Whole,
    /// The mask of a permutations result.
    Mask,
    /// Party `0`'s permutation (and the row count).
    Permutation(u32),
}

impl ResultPart {
    /// The document's name within the run's blobs.
    pub fn name(&self) -> String {
        match self {
            ResultPart::Whole => "result".to_string(),
            ResultPart::Mask => "mask".to_string(),
            ResultPart::Permutation(party) => format!("permutation-{party}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_blobs_are_under_the_run_and_the_project() {
        let run = run_prefix("p", "r");
        assert!(run.starts_with(&project_prefix("p")));
        assert!(chunks_prefix("p", "r").starts_with(&run));
        assert!(chunk_candidates("p", "r", 3, "w").starts_with(&chunks_prefix("p", "r")));
        assert_eq!(
            result("p", "r", &ResultPart::Permutation(1)),
            "projects/p/runs/r/permutation-1.json"
        );
        let upload = new_upload("p", 0);
        assert!(upload.starts_with(&project_prefix("p")) && upload != new_upload("p", 0));
        assert!(upload_blocks(&upload).starts_with(&upload));
    }
}
