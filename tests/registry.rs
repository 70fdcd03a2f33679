//! `husk pull` from a local registry: Debian's docker-registry (distribution) started
//! here on 127.0.0.1, filled with skopeo from an OCI layout the test builds (a
//! multi-platform index: the host's image and an arm64/amd64 one that differs). Plain
//! HTTP with --insecure, HTTPS with a CA the test makes, a resumed download, a blob
//! whose content the registry changed.

mod common;
use common::oci_image::*;
use common::*;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry serving `dir`/data on a free port; stopped when dropped.
struct Registry {
    child: Child,
    port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry(dir: &Path, tls: Option<(&Path, &Path)>) -> Registry {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tls = tls.map_or(String::new(), |(cert, key)| {
        format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display())
    });
    let config = dir.join(format!("registry-{port}.yml"));
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{tls}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("registry-{port}.log"))).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "the registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Registry { child, port }
}

fn tools_missing(test: &str) -> bool {
    for tool in ["docker-registry", "skopeo", "openssl"] {
        if Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().map_or(true, |o| !o.status.success())
        {
            eprintln!("SKIPPED {test}: {tool} is not installed (apt-get install docker-registry skopeo openssl)");
            return true;
        }
    }
    false
}

/// The registry's file for blob `hex` (distribution's filesystem layout).
fn registry_blob(dir: &Path, hex: &str) -> PathBuf {
    dir.join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
}

#[test]
fn pull_over_http_and_https_picks_the_platform_resumes_and_refuses_a_changed_blob() {
    if !can_run("registry-pull") || tools_missing("registry-pull") {
        return;
    }
    let dir = scratch_dir("registry", "pull");
    let one = layer_one(&dir, &tarball().unwrap());
    // Compressed, as skopeo would otherwise compress them on the way (new digests).
    let host_two = gzip(&layer_two(&dir, "host"));
    let other_two = gzip(&layer_two(&dir, "other"));
    let other = if cfg!(target_arch = "aarch64") { "amd64" } else { "arm64" };
    let layout = layout(&dir.join("layout"), &one, &host_two, "docker.io/test/greet:1", Some((other, &other_two)));

    // Plain HTTP.
    let reg = registry(&dir, None);
    let name = format!("127.0.0.1:{}/test/greet:1", reg.port);
    sh_out(&format!("skopeo copy -q --all --dest-tls-verify=false oci:{}:1 docker://{name}", layout.dir.display()));
    let out = husk_in(&dir, &[], &["pull", &name]);
    assert_eq!(out.status.code(), Some(1), "HTTPS to a plain-HTTP registry fails");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"), "{}", String::from_utf8_lossy(&out.stderr));
    let pulled = husk_ok(&dir, &[], &["pull", "--insecure", &name]);
    assert!(pulled.ends_with(&format!("{name}\n")) && pulled.contains("Pull complete"), "{pulled}");
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "--entrypoint", "cat", &name, "/etc/hello"]), "host\n");
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", &name]), "hello world from /srv as nobody\n");
    let again = husk_ok(&dir, &[], &["pull", "--insecure", &name]);
    assert!(again.contains("Already exists") && again.contains("up to date"), "{again}");
    // The other platform, asked for.
    let arm = format!("127.0.0.1:{}/test/greet:other", reg.port);
    husk_ok(&dir, &[], &["pull", "--insecure", "--platform", &format!("linux/{other}"), &name]);
    husk_ok(&dir, &[], &["tag", &name, &arm]);
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "--entrypoint", "cat", &arm, "/etc/hello"]), "other\n");

    // An interrupted download resumes from STORE/partial: a wrong first half proves the
    // second half was asked for alone (the whole blob is then refused and dropped); a
    // right one completes.
    let hex = sha256(&host_two);
    // (The host's image lost its name to the other platform's and stays, dangling, as
    // docker keeps it: remove every image by ID.)
    let ids = husk_ok(&dir, &[], &["images", "-q"]);
    let mut rmi = vec!["rmi", "-f"];
    rmi.extend(ids.lines());
    husk_ok(&dir, &[], &rmi);
    assert_eq!(std::fs::read_dir(dir.join("store/blobs/sha256")).unwrap().count(), 0);
    let partial = dir.join("store/partial").join(&hex);
    let half = host_two.len() / 2;
    let mut wrong = host_two[..half].to_vec();
    wrong[10] ^= 0xff;
    std::fs::write(&partial, &wrong).unwrap();
    let out = husk_in(&dir, &[], &["pull", "--insecure", &name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains(&format!("sha256:{hex}")) && err.contains("refused"), "{err}");
    assert!(!partial.exists(), "a refused download is not kept");
    std::fs::write(&partial, &host_two[..half]).unwrap();
    husk_ok(&dir, &[], &["pull", "--insecure", &name]);
    assert!(!partial.exists());
    assert_eq!(std::fs::read(dir.join("store/blobs/sha256").join(&hex)).unwrap(), host_two);

    // A registry whose blob changed: refused, named, nothing stored.
    husk_ok(&dir, &[], &["rmi", &name]);
    let served = registry_blob(&dir, &hex);
    let mut bytes = std::fs::read(&served).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&served, &bytes).unwrap();
    let out = husk_in(&dir, &[], &["pull", "--insecure", &name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains(&format!("sha256:{hex}")), "{err}");
    assert!(!dir.join("store/blobs/sha256").join(&hex).exists());
    assert!(husk_ok(&dir, &[], &["images", "-q"]).is_empty());
    std::fs::write(&served, &host_two).unwrap();
    drop(reg);

    // HTTPS with a CA made here: refused without it, pulled with it.
    let ca = dir.join("ca.pem");
    sh_out(&format!(
        "cd {d} && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=husk-test-ca 2>/dev/null && \
         openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null && \
         printf 'subjectAltName=IP:127.0.0.1\\n' > ext && \
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext 2>/dev/null",
        d = dir.display()
    ));
    let reg = registry(&dir, Some((&dir.join("server.pem"), &dir.join("server.key"))));
    let name = format!("127.0.0.1:{}/test/greet:1", reg.port);
    let out = husk_in(&dir, &[], &["pull", &name]);
    assert_eq!(out.status.code(), Some(1), "an unknown CA is refused");
    assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("certificate"));
    husk_ok(&dir, &[("SSL_CERT_FILE", ca.to_str().unwrap())], &["pull", &name]);
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", &name, "tls"]), "hello tls from /srv as nobody\n");
    drop(reg);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A registry that wants a bearer token, as Docker Hub does: every /v2/ request without
/// `Authorization: Bearer TOKEN` gets a 401 whose challenge names the token endpoint
/// (on the same server), which hands TOKEN out for the asked scope. It serves the
/// manifest and blobs of an OCI layout; the requests it saw are kept.
fn token_registry(layout: PathBuf, seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if request.is_empty() {
                    request = line.trim().to_string();
                } else if line.to_ascii_lowercase().starts_with("authorization:") {
                    auth = line[14..].trim().to_string();
                }
            }
            let path = request.split(' ').nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(format!("{path} [{auth}]"));
            let mut out = stream;
            let reply = |out: &mut TcpStream, status: &str, headers: &str, body: &[u8]| {
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
                    body.len()
                );
                let _ = out.write_all(head.as_bytes()).and_then(|()| out.write_all(body));
            };
            if path.starts_with("/token?") {
                let ok = path.contains("scope=repository%3Atest%2Fgreet%3Apull") && path.contains("service=husk-test");
                let body = if ok { br#"{"token":"t0k3n"}"#.to_vec() } else { b"{}".to_vec() };
                reply(&mut out, "200 OK", "Content-Type: application/json\r\n", &body);
                continue;
            }
            if auth != "Bearer t0k3n" {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"husk-test\",scope=\"repository:test/greet:pull\"\r\n"
                );
                reply(&mut out, "401 Unauthorized", &challenge, b"");
                continue;
            }
            if path == "/v2/test/greet/manifests/1" {
                let body = std::fs::read(layout.join("blobs/sha256").join(manifest_of(&layout))).unwrap();
                reply(&mut out, "200 OK", "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n", &body);
            } else if let Some(hex) = path.strip_prefix("/v2/test/greet/blobs/sha256:") {
                match std::fs::read(layout.join("blobs/sha256").join(hex)) {
                    Ok(body) => reply(&mut out, "200 OK", "", &body),
                    Err(_) => reply(&mut out, "404 Not Found", "", b""),
                }
            } else {
                reply(&mut out, "404 Not Found", "", b"");
            }
        }
    });
    port
}

/// The hex digest of the one manifest a layout's index.json names.
fn manifest_of(layout: &Path) -> String {
    let text = std::fs::read_to_string(layout.join("index.json")).unwrap();
    let at = text.find("sha256:").unwrap() + 7;
    text[at..at + 64].to_string()
}

#[test]
fn pull_answers_a_bearer_challenge_with_the_token_it_is_given() {
    if !can_run("registry-token") {
        return;
    }
    let dir = scratch_dir("registry", "token");
    let one = layer_one(&dir, &tarball().unwrap());
    let two = layer_two(&dir, "token");
    let layout = layout(&dir.join("layout"), &one, &two, "docker.io/test/greet:1", None);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let port = token_registry(layout.dir.clone(), seen.clone());
    let name = format!("127.0.0.1:{port}/test/greet:1");
    let pulled = husk_ok(&dir, &[], &["pull", "--insecure", "-q", &name]);
    assert_eq!(pulled, format!("{name}\n"));
    let seen = seen.lock().unwrap().clone();
    assert!(seen[0].ends_with("[]") && seen[1].starts_with("/token?"), "{seen:?}");
    assert!(seen[2..].iter().all(|r| r.ends_with("[Bearer t0k3n]")), "every later request carries the token: {seen:?}");
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "--entrypoint", "cat", &name, "/etc/hello"]), "token\n");
    let _ = std::fs::remove_dir_all(&dir);
}
