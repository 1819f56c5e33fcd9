//! Identifiers and tokens: 24 random bytes from a CSPRNG, as 48 lowercase hex characters
//! (API reference §1.2). Tokens are stored only as SHA-256 hashes and compared in constant
//! time, so a copy of the database does not let anyone act as a party.

use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// A fresh identifier or token: `hex(24 random bytes)`.
pub fn generate() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a token.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TokenHash(pub String);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Even the hash stays out of logs.
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    /// The hash of `token` as presented by a client.
    pub fn of(token: &str) -> TokenHash {
        let digest = Sha256::digest(token.as_bytes());
        TokenHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Constant-time equality, so timing does not tell how much of a guess was right.
    pub fn matches(&self, other: &TokenHash) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// What a token lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TokenKind {
    /// The project owner's token: describe, delete, runs, results.
    Result,
    /// Party `party`'s token to upload its encodings.
    Update {
        /// The party (dataset index).
        party: u32,
    },
    /// Given to party `party` for its accepted upload: reads its own permutation.
    Receipt {
        /// The party (dataset index).
        party: u32,
    },
}

/// A stored token: its hash, its project and what it allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Token {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// The project it belongs to.
    pub project_id: String,
    /// What it allows.
    pub kind: TokenKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_48_hex_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 48);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
        assert!(TokenHash::of(&a).matches(&TokenHash::of(&a)));
        assert!(!TokenHash::of(&a).matches(&TokenHash::of(&b)));
        assert_eq!(format!("{:?}", TokenHash::of(&a)), "TokenHash(..)");
    }
}
