//! The OCI runtime interface: the verbs podman (through conmon) and containerd (through
//! its runc shim) call, over a bundle's config.json read into the one container model.

pub mod config;
