//! Out of a running container: `husk commit` (the changes as a new layer, whiteouts for
//! what was deleted), `husk export` (the root as a tar equal to what the container
//! sees), `husk cp` both ways (modes, owners with -a, symlinks resolved inside the
//! container's root).

mod common;
use common::oci_image::*;
use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

#[test]
fn commit_export_and_cp_work_on_a_running_container() {
    if !can_run("commit") {
        return;
    }
    let dir = scratch_dir("commit", "run");
    let one = layer_one(&dir, &tarball().unwrap());
    let two = layer_two(&dir, "base");
    let layout = layout(&dir.join("layout"), &one, &two, "docker.io/test/greet:1", None);
    husk_ok(&dir, &[], &["load", "-i", layout.dir.to_str().unwrap()]);
    // Container names are host-wide (cgroups): one of this run's own, removed however
    // the test ends.
    let c1 = format!("commit-{}", std::process::id());
    struct Remove<'a>(&'a Path, &'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = husk_in(self.0, &[], &["rm", "-f", self.1]);
        }
    }
    let _remove = Remove(&dir, &c1);
    husk_ok(&dir, &[], &["run", "-d", "--name", &c1, "--entrypoint", "sleep", "test/greet:1", "1000"]);
    let change = "echo new > /srv/new && rm /etc/hello && mkdir -p /data/d && echo x > /data/d/f && \
                  chown 5:6 /data/d/f && chmod 640 /data/d/f && ln -s /etc/passwd /data/link && rm -r /opt/x";
    husk_ok(&dir, &[], &["exec", "-u", "root", &c1, "sh", "-c", change]);

    // commit: the changes on top of the image's two layers.
    let id = husk_ok(&dir, &[], &["commit", "-m", "test change", &c1, "committed:1"]);
    assert!(id.starts_with("sha256:") && id.len() == 72, "{id}");
    let probe = "cat /srv/new; test -e /etc/hello || echo hello-gone; stat -c '%u:%g %a' /data/d/f; \
                 readlink /data/link; test -e /etc/motd || echo motd-gone; test -e /opt/x || echo x-gone; \
                 cat /etc/alpine-release";
    let seen = husk_ok(&dir, &[], &["run", "--rm", "-u", "root", "--entrypoint", "sh", "committed:1", "-c", probe]);
    assert_eq!(seen, "new\nhello-gone\n5:6 640\n/etc/passwd\nmotd-gone\nx-gone\n3.20.3\n");
    let manifest = std::fs::read_to_string(dir.join("store/index.json")).unwrap();
    assert!(manifest.contains("docker.io/library/committed:1"), "{manifest}");
    // The committed image carries the container's command, as docker's does.
    let config = std::fs::read_to_string(dir.join("store/blobs/sha256").join(id[7..].trim())).unwrap();
    assert!(config.contains(r#""Cmd":["sleep","1000"]"#) && config.contains("test change"), "{config}");

    // The image a container uses is not removed without -f.
    let out = husk_in(&dir, &[], &["rmi", "test/greet:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&c1) && err.contains("-f"), "{err}");

    // export: the container's tree, mounts left empty.
    let exported = dir.join("export.tar");
    let out = husk_in(&dir, &[], &["export", "-o", exported.to_str().unwrap(), &c1]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let names = sh_out(&format!("tar -tf {} | sed -e 's|/$||' -e 's|^\\./||' -e 's|^|/|' | sort", exported.display()));
    let inside = husk_ok(&dir, &[], &["exec", "-u", "root", &c1, "sh", "-c", "find / -xdev | sort"]);
    let clean = |s: &str| {
        s.lines()
            .map(|l| l.trim_end_matches('/').to_string())
            .filter(|l| !l.is_empty() && l != "/.")
            .collect::<Vec<_>>()
    };
    let (mut a, mut b) = (clean(&names), clean(&inside));
    a.retain(|l| l != "/");
    b.retain(|l| l != "/");
    assert_eq!(a, b, "the export lists what the container sees");
    let unpacked = dir.join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    sh_out(&format!("tar -xpf {} --numeric-owner -C {}", exported.display(), unpacked.display()));
    let f = std::fs::metadata(unpacked.join("data/d/f")).unwrap();
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (5, 6, 0o640));
    assert_eq!(std::fs::read_to_string(unpacked.join("srv/new")).unwrap(), "new\n");
    assert_eq!(std::fs::read_dir(unpacked.join("proc")).unwrap().count(), 0, "/proc exported empty");

    // cp out: modes always, owners with -a (else the caller's).
    husk_ok(&dir, &[], &["cp", "-a", &format!("{c1}:/data/d"), dir.join("kept").to_str().unwrap()]);
    let f = std::fs::metadata(dir.join("kept/f")).unwrap();
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (5, 6, 0o640));
    husk_ok(&dir, &[], &["cp", &format!("{c1}:/data/d/f"), dir.join("plain").to_str().unwrap()]);
    let f = std::fs::metadata(dir.join("plain")).unwrap();
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (0, 0, 0o640));
    let listed = Command::new(husk())
        .env("HUSK_STORE", dir.join("store"))
        .env("HUSK_ROOT", dir.join("state"))
        .args(["cp", &format!("{c1}:/etc/passwd"), "-"])
        .output()
        .unwrap();
    assert!(listed.status.success());
    std::fs::write(dir.join("cp.tar"), &listed.stdout).unwrap();
    assert_eq!(sh_out(&format!("tar -tf {}", dir.join("cp.tar").display())), "passwd\n");

    // cp in: into an existing directory under the source's name; -a keeps the owner.
    let host = dir.join("hostfile");
    std::fs::write(&host, "from host\n").unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o751)).unwrap();
    sh_out(&format!("chown 7:8 {}", host.display()));
    husk_ok(&dir, &[], &["cp", "-a", host.to_str().unwrap(), &format!("{c1}:/srv/")]);
    husk_ok(&dir, &[], &["cp", host.to_str().unwrap(), &format!("{c1}:/srv/renamed")]);
    let stat = husk_ok(&dir, &[], &["exec", &c1, "stat", "-c", "%n %u:%g %a", "/srv/hostfile", "/srv/renamed"]);
    assert_eq!(stat, "/srv/hostfile 7:8 751\n/srv/renamed 0:0 751\n");
    // A symlink in the container is resolved inside it: /srv/up -> / stays in its root.
    husk_ok(&dir, &[], &["exec", "-u", "root", &c1, "ln", "-s", "/", "/srv/up"]);
    let target = format!("{c1}:/srv/up{}/escaped", dir.display());
    let out = husk_in(&dir, &[], &["cp", host.to_str().unwrap(), &target]);
    assert!(!dir.join("escaped").exists(), "cp followed a container symlink to the host");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));

    // Errors: a missing path, a stopped container.
    let out = husk_in(&dir, &[], &["cp", &format!("{c1}:/no/such"), dir.join("x").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{c1}:/no/such")));
    husk_ok(&dir, &[], &["rm", "-f", &c1]);
    let out = husk_in(&dir, &[], &["export", &c1]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}
