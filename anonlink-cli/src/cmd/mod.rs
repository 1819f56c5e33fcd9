//! One module per subcommand.

pub mod benchmark;
pub mod block;
pub mod client;
pub mod describe;
pub mod estimate;
pub mod generate;
pub mod hash;
pub mod histogram;
pub mod link;
pub mod serve;
