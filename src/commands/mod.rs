//! One module per subcommand: flag table, parsing, and the call into the runtime.

pub mod exec;
pub mod init;
pub mod logs;
pub mod manage;
pub mod network;
pub mod run;
pub mod stats;
