//! One module per subcommand: flag table, parsing, and the call into the runtime.

// Flag handlers in the tables are one-line closures `|o, v| Ok(o.field = value)`.
#![allow(clippy::unit_arg)]

pub mod exec;
pub mod init;
pub mod logs;
pub mod manage;
pub mod network;
pub mod run;
mod security;
mod values;
