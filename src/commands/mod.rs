//! One module per subcommand: flag table, parsing, and the call into the runtime.

pub mod init;
pub mod network;
pub mod run;
