//! One module per subcommand.

pub mod describe;
pub mod link;
pub mod serve;
