//! `--user USER[:GROUP]` as docker reads it, resolved against the container's own
//! /etc/passwd and /etc/group: they exist only inside the container's root, so this runs
//! in the command's process after pivot_root (or, for `husk exec`, after entering the
//! container's mount namespace), right before exec.
//!
//! - USER is a name or a number. A name must be in passwd. A number is taken as it is;
//!   if passwd has it, its entry supplies the group and home like a name would.
//! - Without GROUP: the passwd entry's group (0 for a number with no entry) and, as
//!   supplementary groups, every group in /etc/group that lists the user by name.
//! - With GROUP (a name from /etc/group or a number): that group, no supplementary ones.
//! - HOME: the passwd entry's home, else "/" (the caller keeps a HOME given with -e).

use crate::error::{Error, Result};

#[derive(Debug, PartialEq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

/// Checks the syntax before anything is created; names are looked up only at start.
pub fn check(text: &str) -> Result<()> {
    let bad = || Error::msg(format!("user \"{text}\""), "expected USER[:GROUP], each a name or a number");
    let (user, group) = split(text);
    let valid = |s: &str| !s.is_empty() && !s.contains(['/', ':', '\0', '\n', ' ']);
    if !valid(user) || group.is_some_and(|g| !valid(g)) {
        return Err(bad());
    }
    Ok(())
}

/// Resolves `text` in the current root's /etc/passwd and /etc/group (missing files
/// count as empty). Errors carry exit code 125, like docker's "unable to find user".
pub fn resolve(text: &str) -> Result<Identity> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    resolve_in(text, &read("/etc/passwd"), &read("/etc/group"))
}

/// A group by number, or by name from the current root's /etc/group.
pub fn group_id(name: &str) -> Result<u32> {
    if let Ok(gid) = name.parse() {
        return Ok(gid);
    }
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[0] == name)
        .and_then(|f| f[2].parse().ok())
        .ok_or_else(|| Error::msg(format!("unable to find group {name}"), "no matching entries in group file"))
}

fn split(text: &str) -> (&str, Option<&str>) {
    match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    }
}

fn resolve_in(text: &str, passwd: &str, group: &str) -> Result<Identity> {
    let (user, group_arg) = split(text);
    let not_found = |what: &str, name: &str, file: &str| {
        Error::msg(format!("unable to find {what} {name}"), format!("no matching entries in {file}"))
    };
    // name:password:uid:gid:gecos:home:shell
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || (user.parse::<u32>().is_ok() && f[2] == user)));
    let (uid, mut gid, name, home) = match (&entry, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().map_err(|_| Error::msg(format!("/etc/passwd entry for {user}"), "has no numeric uid"))?,
            f[3].parse().unwrap_or(0),
            Some(f[0]),
            f.get(5).filter(|h| !h.is_empty()).map(|h| h.to_string()),
        ),
        (None, Ok(uid)) => (uid, 0, None, None),
        (None, Err(_)) => return Err(not_found("user", user, "passwd file")),
    };
    // name:password:gid:member,member
    let groups: Vec<Vec<&str>> =
        group.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() >= 3).collect();
    let mut supplementary = Vec::new();
    match group_arg {
        Some(g) => {
            gid = match groups.iter().find(|f| f[0] == g) {
                Some(f) => {
                    f[2].parse().map_err(|_| Error::msg(format!("/etc/group entry {g}"), "has no numeric gid"))?
                }
                None => g.parse().map_err(|_| not_found("group", g, "group file"))?,
            };
        }
        None => {
            if let Some(name) = name {
                for f in &groups {
                    let member = f.get(3).is_some_and(|m| m.split(',').any(|m| m == name));
                    if let (true, Ok(g)) = (member, f[2].parse::<u32>())
                        && !supplementary.contains(&g)
                    {
                        supplementary.push(g);
                    }
                }
            }
        }
    }
    Ok(Identity { uid, gid, groups: supplementary, home: home.unwrap_or_else(|| "/".into()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:2:2:daemon:/sbin:/sbin/nologin\n\
                          nobody:x:65534:65534:nobody:/:/sbin/nologin\n";
    const GROUP: &str = "root:x:0:root\nbin:x:1:root,bin,daemon\nadm:x:4:root,adm,daemon\nwheel:x:10:root\n";

    fn id(uid: u32, gid: u32, groups: &[u32], home: &str) -> Identity {
        Identity { uid, gid, groups: groups.to_vec(), home: home.into() }
    }

    #[test]
    fn names_take_their_group_home_and_memberships() {
        assert_eq!(resolve_in("daemon", PASSWD, GROUP).unwrap(), id(2, 2, &[1, 4], "/sbin"));
        assert_eq!(resolve_in("nobody", PASSWD, GROUP).unwrap(), id(65534, 65534, &[], "/"));
    }

    #[test]
    fn an_explicit_group_replaces_the_memberships() {
        assert_eq!(resolve_in("daemon:wheel", PASSWD, GROUP).unwrap(), id(2, 10, &[], "/sbin"));
        assert_eq!(resolve_in("daemon:77", PASSWD, GROUP).unwrap(), id(2, 77, &[], "/sbin"));
    }

    #[test]
    fn numbers_work_with_or_without_an_entry() {
        assert_eq!(resolve_in("2", PASSWD, GROUP).unwrap(), id(2, 2, &[1, 4], "/sbin"));
        assert_eq!(resolve_in("1000", PASSWD, GROUP).unwrap(), id(1000, 0, &[], "/"));
        assert_eq!(resolve_in("1000:100", "", "").unwrap(), id(1000, 100, &[], "/"));
    }

    #[test]
    fn unknown_names_are_errors_and_bad_syntax_is_refused_early() {
        let e = resolve_in("ghost", PASSWD, GROUP).unwrap_err().to_string();
        assert!(e.contains("unable to find user ghost"), "{e}");
        let e = resolve_in("daemon:ghosts", PASSWD, GROUP).unwrap_err().to_string();
        assert!(e.contains("unable to find group ghosts"), "{e}");
        for bad in ["", ":", "a:", ":b", "a b", "a/b", "a:b:c"] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert!(check("www-data:adm").is_ok());
    }
}
