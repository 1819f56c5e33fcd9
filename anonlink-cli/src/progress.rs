//! Progress bars on stderr, only when stderr is a terminal: one place for their styles.

use std::io::IsTerminal;
use std::sync::Arc;

use anonlink_core::candidates::ProgressFn;
use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps drawn with `template`, or a hidden one when quiet or not on a
/// terminal; `None` for `len` draws a spinner.
fn bar(len: Option<u64>, template: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// A bar for `total` comparisons.
pub fn comparisons_bar(total: u64, quiet: bool) -> ProgressBar {
    bar(
        Some(total),
        "{spinner} comparing [{bar:40}] {percent:>3}% {human_pos}/{human_len} ({per_sec}, {eta} left)",
        quiet,
    )
}

/// A bar for uploading `len` bytes.
pub fn upload_bar(len: u64) -> ProgressBar {
    bar(
        Some(len),
        "uploading [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        false,
    )
}

/// A bar for a run's progress in thousandths, with its stage as the message.
pub fn run_bar() -> ProgressBar {
    bar(Some(1000), "{msg} [{bar:40}] {percent:>3}%", false)
}

/// A spinner counting records hashed.
pub fn hashing_spinner(quiet: bool) -> ProgressBar {
    bar(
        None,
        "{spinner} hashing {human_pos} records ({per_sec})",
        quiet,
    )
}

/// The core's progress callback feeding `bar`.
pub fn callback(bar: &ProgressBar) -> Arc<ProgressFn> {
    let bar = bar.clone();
    Arc::new(move |n| {
        bar.inc(n);
        true
    })
}
