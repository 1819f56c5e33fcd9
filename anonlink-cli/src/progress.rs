//! Progress bars on stderr, only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Arc;

use anonlink_core::candidates::ProgressFn;
use indicatif::{ProgressBar, ProgressStyle};

/// A bar for `total` comparisons, or a hidden one when quiet or not on a terminal.
pub fn comparisons_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} comparing [{bar:40}] {percent:>3}% {human_pos}/{human_len} ({per_sec}, {eta} left)",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

/// The core's progress callback feeding `bar`.
pub fn callback(bar: &ProgressBar) -> Arc<ProgressFn> {
    let bar = bar.clone();
    Arc::new(move |n| {
        bar.inc(n);
        true
    })
}
