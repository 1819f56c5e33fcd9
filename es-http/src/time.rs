//! Timestamps as the reference writes them: ISO 8601, UTC offset `+00:00`, microseconds.

use anonlink_core::service::Timestamp;
use chrono::{DateTime, SecondsFormat};

/// `2019-04-30T12:18:44.633541+00:00`.
pub(crate) fn iso(t: Timestamp) -> String {
    DateTime::from_timestamp_micros(t.0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Micros, false))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_isoformat() {
        assert_eq!(
            iso(Timestamp(1_556_626_724_633_541)),
            "2019-04-30T12:18:44.633541+00:00"
        );
    }
}
