//! `husk ps` with docker's listing options (`--filter`, `--format`, `-n`, `-l`,
//! `--no-trunc`, `-s`): husk forwards those here, and this reads husk's own records
//! (`husk ps -a -q`, `husk inspect --raw`) and lists them as docker does. Plain
//! `husk ps` stays husk's own, fast table.

use serde_json::{Map, Value};
use std::ffi::OsString;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::container::run_husk;
use crate::error::{Error, Result};
use crate::inspect::container_id;
use crate::template::Listing;
use crate::verbs::{self, parse};

const HELP: &str = "\
Usage: {P} ps [OPTIONS]

List containers as docker does (husk runs this for the options below; plain
'husk ps' is husk's own table).

Options:
  -a, --all              all containers (default: running ones)
  -f, --filter K=V       name, id, status, label, network, ancestor, exited
                         (repeatable: values of one key or, keys and)
      --format TEMPLATE  a Go template ('{{.Names}} {{.Status}}'); 'table TEMPLATE'
                         adds the column headers; 'json': a JSON line each
  -n, --last N           the N containers created last (all states)
  -l, --latest           the container created last (all states)
      --no-trunc         do not truncate the ID and the command
  -q, --quiet            names only (husk's verbs take names)
  -s, --size             add the SIZE column (not computed: 0B)
";

const DEFAULT: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub fn ps(args: Vec<OsString>) -> Result<u8> {
    let (mut all, mut filters, mut format, mut last, mut no_trunc, mut size) =
        (false, Vec::new(), None, None, false, false);
    let Some(o) = parse("ps", args, HELP, |p, a| {
        let mut value =
            || p.value().map_err(|e| verbs::usage("ps", e))?.into_string().map_err(|_| verbs::usage("ps", "not UTF-8"));
        match a {
            "-a" | "--all" => all = true,
            "-f" | "--filter" => filters.push(filter(&value()?)?),
            "--format" => format = Some(value()?),
            "-n" | "--last" => {
                let v = value()?;
                last = Some(v.parse::<i64>().map_err(|_| verbs::usage("ps", format!("--last {v}: not a number")))?)
            }
            "-l" | "--latest" => last = Some(1),
            "--no-trunc" => no_trunc = true,
            "-s" | "--size" => size = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    verbs::arity("ps", &o.words, 0, 0)?;
    let default = if size { format!("{DEFAULT}\t{{{{.Size}}}}") } else { DEFAULT.to_string() };
    let listing =
        Listing::new(format.as_deref(), &default).map_err(|why| verbs::usage("ps", format!("template: {why}")))?;
    // A status filter, -n and -l look at stopped containers too, as docker's do.
    let all = all || last.is_some_and(|n| n >= 0) || filters.iter().any(|(k, _)| k == "status" || k == "exited");

    let mut records = records()?;
    records.sort_by_key(|r| std::cmp::Reverse(r["created"].as_i64().unwrap_or(0)));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let mut rows: Vec<Value> = records
        .iter()
        .filter(|r| all || r["state"] == "running")
        .filter(|r| matches(r, &filters))
        .map(|r| row(r, now, !no_trunc))
        .collect();
    if let Some(n) = last.filter(|&n| n >= 0) {
        rows.truncate(n as usize);
    }
    if o.quiet {
        rows.iter().for_each(|r| println!("{}", r["Names"].as_str().unwrap_or_default()));
        return Ok(0);
    }
    if let Some(text) = listing.render(&headers(), &rows).map_err(|why| Error::new("ps: template", why))? {
        println!("{text}");
    }
    Ok(0)
}

/// Every container husk knows, as its own record (state and saved spec).
pub fn records() -> Result<Vec<Value>> {
    let names = run_husk(&["ps", "-a", "-q"])?;
    let names: Vec<&str> = names.lines().filter(|n| !n.is_empty()).collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["inspect", "--raw"];
    args.extend(&names);
    // A container removed between the two calls makes inspect fail for it alone:
    // ask again one by one then.
    let text = match run_husk(&args) {
        Ok(t) => t,
        Err(_) => names.iter().filter_map(|n| run_husk(&["inspect", "--raw", n]).ok()).collect::<Vec<_>>().concat(),
    };
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

fn filter(text: &str) -> Result<(String, String)> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| verbs::usage("ps", format!("bad format of filter (expected name=value): {text}")))?;
    match k {
        "name" | "id" | "status" | "label" | "network" | "ancestor" | "exited" => Ok((k.to_string(), v.to_string())),
        _ => Err(verbs::usage("ps", format!("invalid filter '{k}'"))),
    }
}

/// docker's rule: values of one key are alternatives, different keys must all match.
fn matches(r: &Value, filters: &[(String, String)]) -> bool {
    let keys: std::collections::BTreeSet<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.into_iter().all(|key| filters.iter().filter(|(k, _)| k == key).any(|(_, v)| one(r, key, v)))
}

fn one(r: &Value, key: &str, want: &str) -> bool {
    let name = r["name"].as_str().unwrap_or_default();
    match key {
        // docker matches names by regular expression; husk by the anchors and text.
        "name" => {
            let (start, rest) = want.strip_prefix('^').map_or((false, want), |w| (true, w));
            let (end, text) = rest.strip_suffix('$').map_or((false, rest), |w| (true, w));
            match (start, end) {
                (true, true) => name == text,
                (true, false) => name.starts_with(text),
                (false, true) => name.ends_with(text),
                (false, false) => name.contains(text),
            }
        }
        "id" => container_id(r).starts_with(want) || name.starts_with(want),
        "status" => docker_state(r) == want,
        "exited" => r["state"] == "exited" && exit_code(r).to_string() == want,
        "network" => network_name(r) == want,
        "ancestor" => {
            let root = r["root"].as_str().unwrap_or_default();
            root == want || image_name(r) == want || image_name(r).strip_suffix(":latest") == Some(want)
        }
        // husk keeps no labels yet: a label filter matches nothing.
        _ => false,
    }
}

fn docker_state(r: &Value) -> &str {
    match r["state"].as_str().unwrap_or("exited") {
        "creating" => "created",
        s @ ("running" | "created") => s,
        _ => "exited",
    }
}

fn exit_code(r: &Value) -> u64 {
    r["exit_code"].as_u64().or(r["signal"].as_u64().map(|s| 128 + s)).unwrap_or(0)
}

fn network_name(r: &Value) -> &str {
    let network = r["network"].as_str().unwrap_or("none");
    network.split_once(':').map_or(network, |(_, n)| n)
}

/// The image a container runs, by its name in the image store when it came from there.
fn image_name(r: &Value) -> String {
    let root = r["root"].as_str().unwrap_or_default();
    let store = crate::store::default_root();
    let Some(id) = std::path::Path::new(root).strip_prefix(store.join("images")).ok().and_then(|p| p.to_str()) else {
        return root.to_string();
    };
    let entries = crate::store::read_index(&store).unwrap_or_default();
    let named = entries.iter().find(|e| e.id == id || e.id.ends_with(id)).and_then(|e| e.name.clone());
    named
        .map(|n| n.trim_start_matches("docker.io/library/").to_string())
        .unwrap_or_else(|| id[..12.min(id.len())].into())
}

/// Go's units.HumanDuration, as docker's "Up 5 seconds" and "3 minutes ago" use it.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..60 => format!("{secs} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{d} days"),
        _ if h < 24 * 30 * 2 => format!("{} weeks", d / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", d / 30),
        _ => format!("{} years", d / 365),
    }
}

/// One container as docker's ps template sees it; members sorted, as `{{json .}}`
/// prints them.
fn row(r: &Value, now: i64, trunc: bool) -> Value {
    let id = container_id(r);
    let args: Vec<String> = r["spec"]["process"]["args"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let mut command = Value::from(args.join(" ")).to_string();
    if trunc && command.chars().count() > 20 {
        command = command.chars().take(19).collect::<String>() + "…";
    }
    let at = |k: &str| r[k].as_i64().unwrap_or(0);
    let status = match docker_state(r) {
        "running" => format!("Up {}", human_duration(now - at("started"))),
        "created" => "Created".into(),
        _ => format!("Exited ({}) {} ago", exit_code(r), human_duration(now - at("finished"))),
    };
    let ports: Vec<&str> =
        r["ports"].as_array().map(|p| p.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let mounts: Vec<String> = r["spec"]["mounts"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter(|m| m["options"].as_array().is_some_and(|o| o.iter().any(|o| o == "rbind" || o == "bind")))
                .filter_map(|m| m["source"].as_str())
                .filter(|s| !s.ends_with("/hosts") && !s.ends_with("/resolv.conf") && !s.ends_with("/hostname"))
                .filter(|s| !s.starts_with("/dev/"))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let created = crate::commit::rfc3339(at("created"));
    let fields = [
        ("Command", Value::from(command)),
        ("CreatedAt", format!("{} {} +0000 UTC", &created[..10], &created[11..19]).into()),
        ("ID", if trunc { id[..12].to_string() } else { id }.into()),
        ("Image", image_name(r).into()),
        ("Labels", "".into()),
        ("LocalVolumes", "0".into()),
        ("Mounts", mounts.join(",").into()),
        ("Names", r["name"].clone()),
        ("Networks", network_name(r).into()),
        ("Ports", ports.join(", ").into()),
        ("RunningFor", format!("{} ago", human_duration(now - at("created"))).into()),
        ("Size", "0B".into()),
        ("State", docker_state(r).into()),
        ("Status", status.into()),
    ];
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())
}

/// The column headers docker prints for each field of a `table` template.
fn headers() -> Value {
    let names = [
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Labels", "LABELS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Mounts", "MOUNTS"),
        ("Names", "NAMES"),
        ("Networks", "NETWORKS"),
        ("Ports", "PORTS"),
        ("RunningFor", "CREATED"),
        ("Size", "SIZE"),
        ("State", "STATE"),
        ("Status", "STATUS"),
    ];
    Value::Object(names.into_iter().map(|(k, v)| (k.to_string(), Value::from(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::columns;
    use serde_json::json;

    #[test]
    fn durations_and_columns_are_dockers() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        let text = columns(&["NAMES\tSTATUS".into(), "a-long-container-name\tUp 1 second".into()]);
        // The name is 21 characters: its column is 24 wide.
        assert_eq!(text, format!("{:<24}STATUS\n{:<24}Up 1 second", "NAMES", "a-long-container-name"));
        assert_eq!(columns(&["ID\tX".into()]), format!("{:<10}X", "ID"), "at least 10 wide");
    }

    #[test]
    fn filters_of_one_key_are_alternatives_and_keys_must_all_match() {
        let r = json!({"name": "web-1", "state": "exited", "exit_code": 3, "network": "bridge:front", "root": "/r",
            "created": 1});
        let f = |list: &[(&str, &str)]| list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert!(matches(&r, &f(&[("name", "web"), ("status", "exited")])));
        assert!(matches(&r, &f(&[("status", "running"), ("status", "exited")])));
        assert!(!matches(&r, &f(&[("name", "web"), ("status", "running")])));
        assert!(matches(&r, &f(&[("name", "^web-1$"), ("exited", "3"), ("network", "front"), ("ancestor", "/r")])));
        assert!(!matches(&r, &f(&[("name", "^eb")])));
        assert!(!matches(&r, &f(&[("label", "a=b")])));
        assert!(
            crate::template::go_json(&row(&r, 10, true))
                .starts_with(r#"{"Command":"\"\"","CreatedAt":"1970-01-01 00:00:01 +0000 UTC""#)
        );
    }
}
