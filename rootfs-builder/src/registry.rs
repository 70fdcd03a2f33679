//! `pull`: an image from a registry (the Docker Registry HTTP API v2, which the OCI
//! distribution spec standardised) into the store. The manifest is fetched by tag or
//! digest (an index or manifest list resolved to this machine's platform), then the
//! config and every layer the store lacks, each checked against its digest. A layer
//! download interrupted is kept in STORE/partial and resumed with a Range request.
//! Anonymous access, with the bearer-token dance registries ask for (Docker Hub's
//! included); HTTPS verified against the system's CA bundle ($SSL_CERT_FILE to use
//! another), plain HTTP only with --insecure.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Context, Error, Result};
use crate::oci::{self, Image, Layer, Source};
use crate::refs::{self, Ref};
use crate::store::Store;
use crate::verbs;

const HELP: &str = "\
Usage: {P} pull [OPTIONS] NAME[:TAG|@DIGEST]

Pull an image from a registry into the image store. HTTPS is verified against
the system's CA bundle ($SSL_CERT_FILE names another); a download that was
interrupted resumes where it stopped.

Options:
      --platform [linux/]ARCH  the image for ARCH (default: this machine's)
      --insecure         plain HTTP (a registry without TLS, e.g. on 127.0.0.1)
  -q, --quiet            print only the image's name
      --store DIR        the image store (default: see '{P} images --help')
";

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Where the system keeps its CA bundle (Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE,
/// and the file Alpine and others link as /etc/ssl/cert.pem).
const CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

pub fn pull(args: Vec<OsString>) -> Result<u8> {
    let (mut platform, mut insecure) = (None, false);
    let Some(o) = verbs::parse("pull", args, HELP, |p, a| {
        match a {
            "--platform" => {
                let v = p.value().map_err(|e| Error::usage("pull", e))?;
                platform = Some(crate::cli::parse_platform(&v.to_string_lossy())?);
            }
            "--insecure" => insecure = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    verbs::arity("pull", &o.words, 1, 1)?;
    let name = &o.words[0];
    let r = Ref::parse(name)?;
    let arch = platform.unwrap_or_else(|| oci::host_arch().to_string());
    let mut client = Client::new(&r, insecure)?;
    let mut store = Store::open(&o.store, o.quiet)?;
    let shown = match (&r.tag, &r.digest) {
        (_, Some(d)) => format!("{}@{d}", refs::short_repo(&r.full_repo())),
        (Some(t), None) => format!("{}:{t}", refs::short_repo(&r.full_repo())),
        (None, None) => unreachable!("Ref::parse gives a tag or a digest"),
    };
    if !o.quiet {
        println!("{}: Pulling from {}", r.tag.as_deref().or(r.digest.as_deref()).unwrap_or_default(), r.repo);
    }
    // The manifest, through an index to this platform's.
    let reference = r.digest.clone().or(r.tag.clone()).unwrap_or_default();
    let (mut bytes, top) = client.manifest(&reference, r.digest.as_deref())?;
    let mut manifest = oci::parse_json(&bytes, &format!("the manifest of {shown}"))?;
    if manifest["manifests"].is_array() {
        let list = manifest["manifests"].as_array().cloned().unwrap_or_default();
        let fits = |m: &&Value| {
            let p = &m["platform"];
            p["architecture"] == arch.as_str() && p["os"].as_str().is_none_or(|os| os == "linux")
        };
        let Some(chosen) = list.iter().find(fits) else {
            return Err(Error::new(format!("pull {shown}"), format!("no image for linux/{arch} in its index")));
        };
        let d = chosen["digest"].as_str().unwrap_or_default().to_string();
        bytes = client.manifest(&d, Some(&d))?.0;
        manifest = oci::parse_json(&bytes, &format!("the manifest of {shown}"))?;
    }
    if manifest["schemaVersion"] == 1 {
        return Err(Error::new(format!("pull {shown}"), "the registry offers a schema 1 manifest only (obsolete)"));
    }
    let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default().to_string();
    hex_of(&config_digest, &shown)?;
    let config_bytes = client.small_blob(&config_digest)?;
    oci::check_digest(&oci::bytes_sha256(&config_bytes), &config_digest, &format!("the config of {shown}"))?;
    let config = oci::parse_json(&config_bytes, &format!("the config of {shown}"))?;
    let mut layers = Vec::new();
    let descriptors = manifest["layers"].as_array().cloned().unwrap_or_default();
    if descriptors.is_empty() {
        return Err(Error::new(format!("pull {shown}"), "its manifest lists no layers"));
    }
    let progress = !o.quiet && io::stderr().is_terminal();
    for d in &descriptors {
        let digest = d["digest"].as_str().unwrap_or_default();
        let hex = hex_of(digest, &shown)?.to_string();
        let short = &hex[..12];
        if store.blob(&hex).exists() {
            if !o.quiet {
                println!("{short}: Already exists");
            }
        } else {
            client.download(&store, &hex, d["size"].as_u64(), progress)?;
            if !o.quiet {
                println!("{short}: Pull complete");
            }
        }
        layers.push(Layer { name: format!("blobs/sha256/{hex}"), sha256: hex });
    }
    let names: Vec<String> = r.full().into_iter().collect();
    let image = Image { layers, config, config_bytes, manifest: Some(bytes), names: names.clone() };
    let src = Source::Dir(store.root.clone());
    let known = store.entries.iter().any(|e| Some(&e.id) == Some(&oci::bytes_sha256(&image.config_bytes)));
    let named = names.iter().all(|n| store.entries.iter().any(|e| e.name.as_ref() == Some(n)));
    store.add(&src, &image, &names)?;
    if o.quiet {
        println!("{}", r.full().unwrap_or(format!("{}@{}", r.full_repo(), top)));
        return Ok(0);
    }
    println!("Digest: {top}");
    let status = if known && named { "Image is up to date for" } else { "Downloaded newer image for" };
    println!("Status: {status} {shown}");
    println!("{}", r.full().unwrap_or(format!("{}@{}", r.full_repo(), top)));
    Ok(0)
}

fn hex_of<'a>(digest: &'a str, shown: &str) -> Result<&'a str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(h),
        _ => Err(Error::new(format!("pull {shown}"), format!("digest '{digest}' is not a sha256 digest"))),
    }
}

/// One registry conversation: the base URL of the repository and the token it handed
/// out, if it asked for one.
struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
    shown: String,
}

fn root_certs() -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let path = match std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        Some(p) => p.into(),
        None => match CA_BUNDLES.iter().find(|p| std::path::Path::new(p).is_file()) {
            Some(p) => std::path::PathBuf::from(p),
            None => return Ok(Vec::new()),
        },
    };
    let pem = fs::read(&path).ctx(|| format!("reading the CA bundle '{}'", path.display()))?;
    Ok(ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect())
}

impl Client {
    fn new(r: &Ref, insecure: bool) -> Result<Client> {
        // Docker Hub's API lives on another host than its name.
        let host = if r.registry == refs::DOCKER_HUB { "registry-1.docker.io" } else { &r.registry };
        let scheme = if insecure { "http" } else { "https" };
        let _ = rustls_graviola::default_provider().install_default();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(root_certs()?)))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(std::time::Duration::from_secs(30)))
            .user_agent(concat!("husk/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: config.into(),
            base: format!("{scheme}://{host}/v2/{}", r.repo),
            token: None,
            shown: format!("{}/{}", r.registry, r.repo),
        })
    }

    fn failed(&self, what: &str, why: impl std::fmt::Display) -> Error {
        Error::new(format!("pull {}: {what}", self.shown), why)
    }

    /// GET `path` under the repository's URL, answering a 401's bearer challenge once.
    fn get(&mut self, path: &str, accept: &str, range: Option<u64>) -> Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}/{path}", self.base);
        for attempt in 0..2 {
            let mut req = self.agent.get(&url).header("Accept", accept);
            if let Some(t) = &self.token {
                req = req.header("Authorization", &format!("Bearer {t}"));
            }
            if let Some(from) = range {
                req = req.header("Range", &format!("bytes={from}-"));
            }
            let resp = req.call().map_err(|e| {
                // A plain-HTTP registry answering a TLS handshake.
                let plain = e.to_string().contains("InvalidContentType");
                self.failed(
                    path,
                    if plain { format!("{e}: the registry speaks plain HTTP (--insecure)") } else { e.to_string() },
                )
            })?;
            if resp.status() == 401 && attempt == 0 {
                let challenge = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
                self.token = Some(self.authenticate(challenge)?);
                continue;
            }
            return Ok(resp);
        }
        Err(self.failed(path, "the registry refused the token it gave out (this image needs credentials?)"))
    }

    /// The token a `Bearer realm="...",service="...",scope="..."` challenge leads to.
    fn authenticate(&mut self, challenge: &str) -> Result<String> {
        let Some(params) = challenge.strip_prefix("Bearer ").or(challenge.strip_prefix("bearer ")) else {
            let why = "the registry wants credentials (husk pull supports anonymous access only)";
            return Err(self.failed("authentication", why));
        };
        let mut realm = None;
        let mut query = Vec::new();
        for part in split_params(params) {
            let Some((k, v)) = part.split_once('=') else { continue };
            let v = v.trim_matches('"');
            match k.trim() {
                "realm" => realm = Some(v.to_string()),
                k => query.push((k.to_string(), v.to_string())),
            }
        }
        let realm = realm.ok_or_else(|| self.failed("authentication", "the challenge names no realm"))?;
        let mut req = self.agent.get(&realm);
        for (k, v) in &query {
            req = req.query(k, v);
        }
        let mut resp = req.call().map_err(|e| self.failed("token", e))?;
        if resp.status() != 200 {
            return Err(self.failed("token", format!("{realm} answered {}", resp.status())));
        }
        let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(|e| self.failed("token", e))?;
        let v: Value = oci::parse_json(&body, "the token")?;
        v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| self.failed("token", "the answer holds no token"))
    }

    /// A manifest by tag or digest: its bytes and digest (checked when `want` is given
    /// and when the registry states one).
    fn manifest(&mut self, reference: &str, want: Option<&str>) -> Result<(Vec<u8>, String)> {
        let mut resp = self.get(&format!("manifests/{reference}"), ACCEPT, None)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(self.failed(reference, "manifest unknown (no such image or tag)")),
            s => return Err(self.failed(reference, format!("the registry answered {s}"))),
        }
        let stated = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes =
            resp.body_mut().with_config().limit(4 << 20).read_to_vec().map_err(|e| self.failed(reference, e))?;
        let digest = format!("sha256:{}", oci::bytes_sha256(&bytes));
        for expected in [want.map(str::to_string), stated].into_iter().flatten() {
            if expected.starts_with("sha256:") && expected != digest {
                return Err(self.failed(reference, format!("the manifest is {digest}, not {expected} as asked")));
            }
        }
        Ok((bytes, digest))
    }

    fn small_blob(&mut self, digest: &str) -> Result<Vec<u8>> {
        let mut resp = self.get(&format!("blobs/{digest}"), "*/*", None)?;
        if resp.status() != 200 {
            return Err(self.failed(digest, format!("the registry answered {}", resp.status())));
        }
        resp.body_mut().with_config().limit(16 << 20).read_to_vec().map_err(|e| self.failed(digest, e))
    }

    /// Downloads blob `hex` into the store: resumed from STORE/partial/HEX where an
    /// earlier pull stopped, checked, then moved into blobs/.
    fn download(&mut self, store: &Store, hex: &str, size: Option<u64>, progress: bool) -> Result<()> {
        let part = store.partial(hex);
        let mut hash = Sha256::new();
        let mut have = 0u64;
        if let Ok(mut f) = File::open(&part) {
            have = io::copy(&mut f, &mut HashWriter(&mut hash)).ctx(|| format!("reading '{}'", part.display()))?;
        }
        let digest = format!("sha256:{hex}");
        let mut resp = self.get(&format!("blobs/{digest}"), "*/*", (have > 0).then_some(have))?;
        let mut file = match resp.status().as_u16() {
            206 => OpenOptions::new().append(true).open(&part).ctx(|| format!("opening '{}'", part.display()))?,
            200 => {
                (hash, have) = (Sha256::new(), 0);
                File::create(&part).ctx(|| format!("creating '{}'", part.display()))?
            }
            // The partial file was already complete.
            416 => OpenOptions::new().append(true).open(&part).ctx(|| format!("opening '{}'", part.display()))?,
            s => return Err(self.failed(&digest, format!("the registry answered {s}"))),
        };
        let mut body = resp.body_mut().as_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut shown_at = 0u64;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.failed(&digest, format!("download stopped: {e} (pull again to resume)"))),
            };
            file.write_all(&buf[..n]).ctx(|| format!("writing '{}'", part.display()))?;
            hash.update(&buf[..n]);
            have += n as u64;
            if progress && have - shown_at >= 1 << 18 {
                shown_at = have;
                let total = size.map(|s| format!("/{}", verbs::human_size(s))).unwrap_or_default();
                eprint!("\r{}: Downloading {}{total}\x1b[K", &hex[..12], verbs::human_size(have));
            }
        }
        if progress {
            eprint!("\r\x1b[K");
        }
        file.sync_all().ctx(|| format!("writing '{}'", part.display()))?;
        let got = oci::hex(&hash.finalize());
        if got != hex {
            let _ = fs::remove_file(&part);
            return Err(self.failed(&digest, format!("the content is sha256:{got}: refused")));
        }
        let blob = store.blob(hex);
        fs::rename(&part, &blob).ctx(|| format!("renaming to '{}'", blob.display()))
    }
}

/// `a="x,y",b=c` split at the commas outside quotes.
fn split_params(s: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn challenge_parameters_split_outside_quotes() {
        let p = super::split_params(r#"realm="https://a/token",service="reg",scope="repository:x/y:pull,push""#);
        assert_eq!(p, [r#"realm="https://a/token""#, r#"service="reg""#, r#"scope="repository:x/y:pull,push""#]);
    }
}
