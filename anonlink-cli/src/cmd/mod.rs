//! One module per subcommand.

pub mod benchmark;
pub mod client;
pub mod describe;
pub mod hash;
pub mod histogram;
pub mod link;
pub mod serve;
