//! Image references as docker writes them: `alpine`, `alpine:3.20`,
//! `registry.example:5000/team/app:v1`, `app@sha256:...`. A name without a registry is
//! Docker Hub's (`docker.io`, official images under `library/`), a name without a tag
//! or digest is `:latest`; the store keeps the full form and shows docker's short one.
//! husk's `run IMAGE` normalizes the same way (src/image.rs), so a name means one
//! image to both binaries.

use crate::error::{Error, Result};

pub const DOCKER_HUB: &str = "docker.io";

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ref {
    /// Host and optional port: `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Path in the registry: `library/alpine`, `team/app`.
    pub repo: String,
    /// `3.20`, or None for a reference by digest.
    pub tag: Option<String>,
    /// `sha256:...` when the reference pins one.
    pub digest: Option<String>,
}

impl Ref {
    pub fn parse(text: &str) -> Result<Ref> {
        let bad = |why: &str| Error::usage(format!("image reference '{text}'"), why);
        let (name, digest) = match text.split_once('@') {
            Some((n, d)) => {
                let hex = d.strip_prefix("sha256:").ok_or_else(|| bad("only sha256 digests are supported"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad("the digest is not sha256: and 64 hex digits"));
                }
                (n, Some(d.to_ascii_lowercase()))
            }
            None => (text, None),
        };
        // A tag follows the last ':' after the last '/' (before it, ':' is a port).
        let slash = name.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
            None => (name, None),
        };
        if let Some(t) = tag
            && (t.is_empty()
                || t.len() > 128
                || t.starts_with(['.', '-'])
                || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)))
        {
            return Err(bad("a tag is 1 to 128 letters, digits, '_', '.' or '-'"));
        }
        let (registry, repo) = match path.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest.to_string()),
            _ if !path.contains('/') => (DOCKER_HUB, format!("library/{path}")),
            _ => (DOCKER_HUB, path.to_string()),
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if registry.is_empty() || !repo.split('/').all(component_ok) {
            return Err(bad("a repository name is lowercase letters, digits and separators (., _, -, /)"));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(Ref { registry: registry.to_string(), repo, tag, digest })
    }

    /// The repository with its registry: `docker.io/library/alpine`.
    pub fn full_repo(&self) -> String {
        format!("{}/{}", self.registry, self.repo)
    }

    /// The name the store records: `docker.io/library/alpine:3.20` (a reference by
    /// digest names no tag, so it records none).
    pub fn full(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.full_repo()))
    }
}

/// The repository as docker shows it: `alpine`, `team/app`, `127.0.0.1:5000/app`.
pub fn short_repo(full: &str) -> String {
    let hub = full.strip_prefix("docker.io/");
    hub.map(|r| r.strip_prefix("library/").unwrap_or(r)).unwrap_or(full).to_string()
}

/// A stored full name split into repository and tag.
pub fn split_full(full: &str) -> (&str, &str) {
    let slash = full.rfind('/').map_or(0, |i| i + 1);
    match full[slash..].rfind(':') {
        Some(i) => (&full[..slash + i], &full[slash + i + 1..]),
        None => (full, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        Ref::parse(s).unwrap().full().unwrap()
    }

    #[test]
    fn names_normalize_as_docker_does() {
        assert_eq!(full("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(full("alpine:3.20"), "docker.io/library/alpine:3.20");
        assert_eq!(full("team/app:v1"), "docker.io/team/app:v1");
        assert_eq!(full("127.0.0.1:5000/alpine"), "127.0.0.1:5000/alpine:latest");
        assert_eq!(full("localhost/a/b:c"), "localhost/a/b:c");
        assert_eq!(full("quay.io/x/y:1.0"), "quay.io/x/y:1.0");
        assert_eq!(short_repo("127.0.0.1:5000/alpine"), "127.0.0.1:5000/alpine");
        assert_eq!(short_repo("docker.io/library/alpine"), "alpine");
        let d = format!("alpine@sha256:{}", "a".repeat(64));
        let r = Ref::parse(&d).unwrap();
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some(&*format!("sha256:{}", "a".repeat(64)))));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["Alpine", "alpine:", "alpine:-x", "a//b", "alpine@md5:00", "/alpine", "alpine@sha256:12"] {
            assert!(Ref::parse(bad).is_err(), "{bad}");
        }
    }
}
