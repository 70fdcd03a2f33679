//! The command line as a docker user's habits expect it: help, exit codes of the
//! management verbs, sizes and limits as docker parses them, environment passed by
//! name, volume options — each against a real container.

mod common;
use common::*;
use std::process::{Command, Output, Stdio};

fn husk_in(root: &std::path::Path, args: &[&str]) -> Output {
    Command::new(husk()).env("HUSK_ROOT", root).args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn bare_husk_prints_usage_and_help_cmd_is_cmd_help() {
    let root = state_root("dc-help");
    let bare = husk_in(&root, &[]);
    assert_eq!(bare.status.code(), Some(0), "{}", text(&bare));
    assert!(String::from_utf8_lossy(&bare.stdout).starts_with("Usage: husk"), "usage goes to stdout");
    for cmd in ["run", "stop", "ps", "exec", "logs", "network"] {
        let help = husk_in(&root, &["help", cmd]);
        let flag = husk_in(&root, &[cmd, "--help"]);
        assert_eq!(help.status.code(), Some(0), "help {cmd}: {}", text(&help));
        assert_eq!(help.stdout, flag.stdout, "husk help {cmd} differs from husk {cmd} --help");
        assert!(String::from_utf8_lossy(&help.stdout).starts_with(&format!("Usage: husk {cmd} ")));
    }
    // A usage error names the flag and the help to read, once, with docker's 125.
    let out = husk_in(&root, &["stop", "--nope", "x"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "husk: unknown flag --nope: see 'husk stop --help'\n");
}

#[test]
fn management_verbs_exit_as_docker_does() {
    if !can_run("dc-codes") {
        return;
    }
    let root = state_root("dc-codes");
    let rootfs = alpine();
    let rootfs = rootfs.to_str().unwrap();
    for args in
        [&["stop", "nosuch"][..], &["rm", "nosuch"], &["kill", "nosuch"], &["wait", "nosuch"], &["logs", "nosuch"]]
    {
        let out = husk_in(&root, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "husk: container \"nosuch\": no such container\n");
    }
    let out = husk_in(&root, &["run", "-d", "--name", "dc-c", "--rootfs", rootfs, "--", "sleep", "100"]);
    assert!(out.status.success(), "{}", text(&out));
    // start of a running container and stop of a stopped one: done already, exit 0.
    let out = husk_in(&root, &["start", "dc-c"]);
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned()), (Some(0), "dc-c\n".into()));
    for _ in 0..2 {
        let out = husk_in(&root, &["stop", "-t", "1", "dc-c"]);
        assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned()), (Some(0), "dc-c\n".into()));
    }
    // Several names: the good ones are done, the bad one said, exit 1.
    let out = husk_in(&root, &["rm", "dc-c", "nosuch"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "dc-c\n");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "rm left an entry");
}

#[test]
fn sizes_and_limits_are_parsed_as_docker_parses_them() {
    if !can_run("dc-sizes") {
        return;
    }
    // The memory limit as the container's own cgroup shows it (v1 or v2).
    let limit = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
    let (out, code) = sh("dc-sizes", &["-m", "1.5g"], limit);
    assert_eq!((out.trim(), code), ("1610612736", 0));
    let (out, code) = sh("dc-sizes", &["-m", "512MiB"], limit);
    assert_eq!((out.trim(), code), ("536870912", 0));
    // Below docker's 6 MiB minimum the start-up itself would be killed: refused.
    let out = run("dc-sizes", &["-m", "100b"], &["true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "husk: --memory 100b: the minimum memory limit is 6m\n");
    // --pids-limit 0 and -1 mean no limit: the same as no flag (on cgroup v1 husk then
    // makes no pids cgroup at all).
    let pids = "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || echo none";
    let (default, _) = sh("dc-sizes", &[], pids);
    assert!(default.trim() == "max" || default.trim() == "none", "{default}");
    for unlimited in ["-1", "0"] {
        let (out, code) = sh("dc-sizes", &["--pids-limit", unlimited], pids);
        assert_eq!((out.as_str(), code), (default.as_str(), 0), "--pids-limit {unlimited}");
    }
    let (out, _) = sh("dc-sizes", &["--pids-limit", "50"], pids);
    assert_eq!(out.trim(), "50");
    // --ulimit, --oom-score-adj and --memory-reservation reach the command and its cgroup.
    let (out, code) = sh(
        "dc-sizes",
        &["--ulimit", "nofile=100:200", "--oom-score-adj", "500"],
        "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj",
    );
    assert_eq!((out.as_str(), code), ("100\n200\n500\n", 0));
    let soft = "cat /sys/fs/cgroup/memory.low 2>/dev/null || cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes";
    let (out, code) = sh("dc-sizes", &["-m", "64m", "--memory-reservation", "32m"], soft);
    assert_eq!((out.trim(), code), ("33554432", 0));
    for (bad, why) in
        [(&["--ulimit", "nofile"][..], "expected NAME=SOFT[:HARD]"), (&["--ulimit", "bogus=1"], "unknown resource")]
    {
        let out = run("dc-sizes", bad, &["true"]);
        assert_eq!(out.status.code(), Some(125), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{bad:?}: {}", text(&out));
    }
}

#[test]
fn environment_names_alone_take_the_callers_values() {
    if !can_run("dc-env") {
        return;
    }
    let file = temp_dir("dc-env").join("env");
    std::fs::write(&file, "# names alone and pairs\nDC_FROM_FILE\nDC_PAIR=p\nDC_UNSET_TOO\n").unwrap();
    let out = run_cmd(
        "dc-env",
        &["-e", "DC_GIVEN", "-e", "DC_UNSET", "--env-file", file.to_str().unwrap()],
        &["sh", "-c", "echo $DC_GIVEN $DC_FROM_FILE $DC_PAIR ${DC_UNSET-unset} ${DC_UNSET_TOO-unset}"],
    )
    .env("DC_GIVEN", "g v")
    .env("DC_FROM_FILE", "f")
    .env_remove("DC_UNSET")
    .env_remove("DC_UNSET_TOO")
    .output()
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "g v f p unset unset\n", "{}", text(&out));
    let out = run("dc-env", &["-e", "=x"], &["true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-e =x: expected KEY=VALUE or KEY"));
}

#[test]
fn volumes_take_dockers_options_and_a_missing_host_path_is_made() {
    if !can_run("dc-vol") {
        return;
    }
    let base = temp_dir("dc-vol");
    let missing = base.join("a/b");
    let spec = format!("{}:/data:rw,z", missing.display());
    let (out, code) = sh("dc-vol", &["-v", &spec], "echo hi > /data/f && cat /data/f");
    assert_eq!((out.as_str(), code), ("hi\n", 0));
    assert!(missing.is_dir(), "the missing source was not created as a directory");
    assert_eq!(std::fs::read_to_string(missing.join("f")).unwrap(), "hi\n");
    let spec = format!("{}:/data:ro,Z", missing.display());
    let (out, code) = sh("dc-vol", &["-v", &spec, "--init"], "(echo x > /data/g) 2>&1; cat /data/f");
    assert!(out.contains("Read-only file system") && out.ends_with("hi\n") && code == 0, "{out}");
    for (bad, why) in [("a/b:/data", "expected a host path or a volume name"), ("/tmp:/data:zz", "unknown option zz")] {
        let out = run("dc-vol", &["-v", bad], &["true"]);
        assert_eq!(out.status.code(), Some(125), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{bad}: {}", text(&out));
    }
}

/// Whether rootfs-builder sits beside the husk under test (it renders docker's shapes).
fn companion(test: &str) -> bool {
    let here = husk().with_file_name("rootfs-builder");
    if !here.exists() {
        eprintln!("SKIPPED {test}: no rootfs-builder beside {} (build both with .ci/build)", husk().display());
    }
    here.exists()
}

fn ok(root: &std::path::Path, args: &[&str]) -> String {
    let out = husk_in(root, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn inspect_is_dockers_array_and_renders_go_templates() {
    if !can_run("dc-inspect") || !companion("dc-inspect") {
        return;
    }
    let root = state_root("dc-inspect");
    let rootfs = alpine();
    let data = temp_dir("dc-inspect");
    let bind = format!("{}:/data:ro", data.display());
    ok(
        &root,
        &[
            "run",
            "-d",
            "--name",
            "dc-i1",
            "--rootfs",
            rootfs.to_str().unwrap(),
            "-m",
            "128m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "-e",
            "A=x&y",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "-v",
            &bind,
            "--",
            "sleep",
            "100",
        ],
    );
    ok(&root, &["run", "-d", "--name", "dc-i2", "--rootfs", rootfs.to_str().unwrap(), "--", "sh", "-c", "exit 3"]);
    let shown = ok(
        &root,
        &[
            "inspect",
            "-f",
            "{{.Name}} {{.State.Status}} {{.State.Running}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} \
         {{.HostConfig.PidsLimit}} {{.Config.User}} {{.Config.WorkingDir}} {{json .Config.Cmd}} \
         {{range .Mounts}}{{.Destination}}:{{.RW}}{{end}} {{index .Config.Env 2}} {{len .Id}}",
            "dc-i1",
        ],
    );
    assert_eq!(
        shown,
        "/dc-i1 running true 134217728 500000000 50 nobody /tmp [\"sleep\",\"100\"] /data:false A=x&y 64\n"
    );
    // The host pid of the container's init, as docker's State.Pid.
    let pid = ok(&root, &["inspect", "-f", "{{.State.Pid}}", "dc-i1"]);
    let raw = ok(&root, &["inspect", "--raw", "dc-i1"]);
    assert!(raw.contains(&format!("\"pid\":{},", pid.trim())), "{pid} not in {raw}");
    // Wait for the second one to exit, then see its code.
    ok(&root, &["wait", "dc-i2"]);
    assert_eq!(ok(&root, &["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "dc-i2"]), "exited 3\n");
    // Without -f: one array, docker's indentation and escaping, fields in its order.
    let all = ok(&root, &["inspect", "dc-i1", "dc-i2"]);
    assert!(all.starts_with("[\n    {\n        \"Id\": \""), "{all}");
    assert!(all.contains("\n        \"Name\": \"/dc-i2\",\n"), "{all}");
    assert!(all.contains("\"A=x\\u0026y\""), "& escaped as docker escapes it: {all}");
    for (before, after) in [("\"Id\"", "\"State\""), ("\"State\"", "\"HostConfig\""), ("\"HostConfig\"", "\"Config\"")]
    {
        assert!(all.find(before) < all.find(after), "{before} after {after}");
    }
    // A missing name: the others are shown, docker's error line, exit 1.
    let out = husk_in(&root, &["inspect", "-f", "{{.Name}}", "dc-i1", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/dc-i1\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "Error: No such object: nosuch\n");
    // A broken template: one line naming the problem, docker's usage code.
    let out = husk_in(&root, &["inspect", "-f", "{{.Name", "dc-i1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("template: unclosed action"), "{}", text(&out));
    ok(&root, &["rm", "-f", "dc-i1", "dc-i2"]);
}

#[test]
fn ps_filters_and_formats_as_docker_does() {
    if !can_run("dc-ps") || !companion("dc-ps") {
        return;
    }
    let root = state_root("dc-ps");
    let rootfs = alpine();
    let rootfs = rootfs.to_str().unwrap();
    ok(&root, &["run", "-d", "--name", "dc-web", "--rootfs", rootfs, "--", "sleep", "100"]);
    ok(&root, &["run", "-d", "--name", "dc-job", "--rootfs", rootfs, "--", "sh", "-c", "exit 3"]);
    ok(&root, &["wait", "dc-job"]);
    // Running ones by default; a status filter looks at all.
    assert_eq!(ok(&root, &["ps", "--format", "{{.Names}} {{.State}}"]), "dc-web running\n");
    assert_eq!(
        ok(&root, &["ps", "--filter", "status=exited", "--format", "{{.Names}} {{.Status}}"])[..19],
        *"dc-job Exited (3) L"
    );
    assert_eq!(ok(&root, &["ps", "-a", "-f", "name=job", "-f", "name=web", "-q"]).lines().count(), 2);
    assert_eq!(ok(&root, &["ps", "-a", "-f", "name=job", "-f", "status=running", "-q"]), "");
    assert_eq!(ok(&root, &["ps", "-a", "--filter", "exited=3", "-q"]), "dc-job\n");
    assert_eq!(ok(&root, &["ps", "-l", "-q"]), "dc-job\n", "the one created last");
    // table: docker's headers and columns (\t as docker reads it).
    let table = ok(&root, &["ps", "-a", "--filter", "name=dc-web", "--format", "table {{.Names}}\\t{{.Command}}"]);
    assert_eq!(table, format!("{:<10}COMMAND\n{:<10}\"sleep 100\"\n", "NAMES", "dc-web"));
    let default = ok(&root, &["ps", "-a", "--no-trunc"]);
    let header: Vec<&str> =
        default.lines().next().unwrap().split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]);
    assert_eq!(default.lines().nth(1).unwrap().split_whitespace().next().unwrap().len(), 64, "--no-trunc: whole ids");
    let json = ok(&root, &["ps", "--format", "json"]);
    assert!(
        json.starts_with("{\"Command\":\"\\\"sleep 100\\\"\",\"CreatedAt\":") && json.contains("\"Names\":\"dc-web\"")
    );
    let out = husk_in(&root, &["ps", "--filter", "colour=red"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid filter 'colour'"), "{}", text(&out));
    ok(&root, &["rm", "-f", "dc-web", "dc-job"]);
}

/// The flags `husk CMD --help` lists, as "--long" words.
fn help_flags(root: &std::path::Path, cmd: &str) -> Vec<String> {
    let help = ok(root, &[cmd, "--help"]);
    help.lines()
        .skip_while(|l| l.trim_end() != "Options:")
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|w| w.trim_end_matches(',').to_string())
        .collect()
}

#[test]
fn completions_and_man_pages_come_from_the_flag_tables() {
    if !companion("dc-completion") {
        return;
    }
    let root = state_root("dc-completion");
    let dir = temp_dir("dc-completion");
    // bash: the script parses, and `husk run --mem<TAB>` offers --memory.
    let bash = dir.join("husk.bash");
    std::fs::write(&bash, ok(&root, &["completion", "bash"])).unwrap();
    let complete = |shell: &str, script: &str| {
        let out = Command::new(shell).arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let script = format!(
        "bash -n {0} && source {0} && COMP_WORDS=(husk run --mem) COMP_CWORD=2 && _husk && echo \"${{COMPREPLY[@]}}\"",
        bash.display()
    );
    assert_eq!(complete("bash", &script), "--memory --memory-reservation --memory-swap\n");
    let script =
        format!("source {} && COMP_WORDS=(husk sto) COMP_CWORD=1 && _husk && echo ${{COMPREPLY[@]}}", bash.display());
    assert_eq!(complete("bash", &script), "stop\n");
    // zsh (through bashcompinit) and fish, when installed.
    let zsh = dir.join("_husk");
    std::fs::write(&zsh, ok(&root, &["completion", "zsh"])).unwrap();
    if Command::new("zsh").arg("--version").output().is_ok() {
        let script = format!(
            "zsh -n {0} && autoload -U compinit && compinit -u && source {0} && setopt ksharrays && \
             COMP_WORDS=(husk run --mem) && COMP_CWORD=2 && _husk && print -l -- \"${{COMPREPLY[@]}}\"",
            zsh.display()
        );
        assert!(complete("zsh", &script).lines().any(|l| l == "--memory"));
    } else {
        eprintln!("SKIPPED zsh completion check: zsh is not installed");
    }
    let fish = dir.join("husk.fish");
    std::fs::write(&fish, ok(&root, &["completion", "fish"])).unwrap();
    if Command::new("fish").arg("--version").output().is_ok() {
        let script = format!("source {} ; complete -C 'husk run --mem'", fish.display());
        let offered = complete("fish", &script);
        assert!(offered.lines().any(|l| l.starts_with("--memory\t")), "{offered}");
    } else {
        eprintln!("SKIPPED fish completion check: fish is not installed");
    }
    let out = husk_in(&root, &["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(125));
    // Every command has --help and a man page naming every flag its table has.
    let top = ok(&root, &["man"]);
    assert!(top.starts_with(".TH HUSK 1\n"));
    for cmd in [
        "run", "create", "start", "restart", "ps", "exec", "logs", "stop", "kill", "rm", "wait", "inspect", "port",
        "stats", "gc", "init", "network", "pull", "load", "import", "save", "images", "rmi", "tag", "export", "cp",
        "commit", "volume",
    ] {
        let flags = help_flags(&root, cmd);
        let page = ok(&root, &["man", cmd]);
        assert!(page.starts_with(&format!(".TH HUSK\\-{} 1\n", cmd.to_uppercase())), "{cmd}: {page}");
        assert!(top.contains(&format!(".B husk {cmd}\n")), "husk(1) lacks {cmd}");
        for flag in flags.iter().filter(|f| *f != "--help") {
            assert!(page.contains(&flag.replace('-', "\\-")), "man {cmd} lacks {flag}");
        }
        assert!(!flags.is_empty() || cmd == "gc", "{cmd} --help lists no flags");
    }
    let out = husk_in(&root, &["man", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn named_volumes_are_made_at_first_use_kept_and_managed() {
    if !can_run("dc-volumes") || !companion("dc-volumes") {
        return;
    }
    let root = state_root("dc-volumes");
    let store = temp_dir("dc-volumes-store");
    let rootfs = alpine();
    let rootfs = rootfs.to_str().unwrap();
    let husk_s = |args: &[&str]| {
        Command::new(husk())
            .env("HUSK_ROOT", &root)
            .env("HUSK_STORE", &store)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let ok_s = |args: &[&str]| {
        let out = husk_s(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok_s(&["run", "--rootfs", rootfs, "-v", "dc-data:/data", "--", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(std::fs::read_to_string(store.join("volumes/dc-data/_data/f")).unwrap(), "kept\n");
    assert_eq!(ok_s(&["run", "--rootfs", rootfs, "-v", "dc-data:/v:ro", "--", "cat", "/v/f"]), "kept\n");
    assert_eq!(ok_s(&["volume", "create", "dc-spare"]), "dc-spare\n");
    assert_eq!(
        ok_s(&["volume", "ls"]),
        format!("{:<10}VOLUME NAME\n{:<10}dc-data\n{:<10}dc-spare\n", "DRIVER", "local", "local")
    );
    assert_eq!(ok_s(&["volume", "ls", "-q"]), "dc-data\ndc-spare\n");
    let shown = ok_s(&["volume", "inspect", "dc-data"]);
    let mountpoint = format!("\"Mountpoint\": \"{}\"", store.join("volumes/dc-data/_data").display());
    assert!(shown.starts_with("[\n    {\n") && shown.contains(&mountpoint), "{shown}");
    assert_eq!(
        ok_s(&["volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", "dc-data"]),
        "dc-data local local\n"
    );
    // In use by a container (running or stopped): kept, unless -f.
    ok_s(&["run", "-d", "--name", "dc-user", "--rootfs", rootfs, "-v", "dc-data:/data", "--", "sleep", "100"]);
    let out = husk_s(&["volume", "rm", "dc-data"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("volume is in use by dc-user"), "{}", text(&out));
    let pruned = ok_s(&["volume", "prune", "-f"]);
    assert!(pruned.contains("\ndc-spare\n") && !pruned.contains("dc-data"), "{pruned}");
    ok_s(&["rm", "-f", "dc-user"]);
    assert_eq!(ok_s(&["volume", "rm", "dc-data"]), "dc-data\n");
    assert_eq!(ok_s(&["volume", "ls", "-q"]), "");
    let out = husk_s(&["volume", "rm", "dc-gone"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such volume"), "{}", text(&out));
    let out = husk_s(&["run", "--rootfs", rootfs, "-v", "x:/data", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
}

#[test]
fn stats_show_usage_beside_the_limits() {
    if !can_run("dc-stats") || !companion("dc-stats") {
        return;
    }
    let root = state_root("dc-stats");
    let rootfs = alpine();
    let rootfs = rootfs.to_str().unwrap();
    ok(
        &root,
        &[
            "run",
            "-d",
            "--name",
            "dc-busy",
            "--rootfs",
            rootfs,
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "-m",
            "64m",
            "--",
            "sh",
            "-c",
            "while :; do :; done",
        ],
    );
    ok(&root, &["run", "-d", "--name", "dc-idle", "--rootfs", rootfs, "--", "sleep", "100"]);
    let line = ok(
        &root,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.CPULimit}} {{.PIDsLimit}} {{.MemUsage}} {{.PIDs}} {{.CPUPerc}}",
            "dc-busy",
        ],
    );
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[..3], ["dc-busy", "50%", "50"], "{line}");
    assert!(fields[3].ends_with("iB") && fields[4] == "/" && fields[5] == "64MiB", "{line}");
    assert!(fields[6].parse::<u32>().is_ok_and(|p| p >= 2), "{line}");
    // Spinning under a half-CPU quota: near 50% of one CPU over the sample.
    let cpu: f64 = fields[7].trim_end_matches('%').parse().unwrap();
    assert!((10.0..70.0).contains(&cpu), "{line}");
    // The default table: docker's columns with the limits beside, both running containers.
    let table = ok(&root, &["stats", "--no-stream"]);
    let header = table.lines().next().unwrap();
    for column in
        ["CONTAINER ID", "NAME", "CPU %", "CPU LIMIT", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "PIDS", "PIDS LIMIT"]
    {
        assert!(header.contains(column), "{header}");
    }
    assert_eq!(table.lines().count(), 3, "{table}");
    ok(&root, &["stop", "-t", "1", "dc-idle"]);
    let out = husk_in(&root, &["stats", "--no-stream", "dc-idle"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"), "{}", text(&out));
    ok(&root, &["rm", "-f", "dc-busy", "dc-idle"]);
}

#[test]
fn stopped_containers_start_again_and_restart_runs_them_anew() {
    if !can_run("dc-start") {
        return;
    }
    let root = state_root("dc-start");
    let rootfs = alpine();
    let rootfs = rootfs.to_str().unwrap();
    let counter = temp_dir("dc-start");
    let bind = format!("{}:/c", counter.display());
    // Each run appends a line: a start runs the same command, with the same flags.
    let script = "echo run $X >> /c/runs; sleep 100";
    ok(
        &root,
        &["run", "-d", "--name", "dc-s1", "-e", "X=1", "-v", &bind, "--rootfs", rootfs, "--", "sh", "-c", script],
    );
    ok(&root, &["stop", "-t", "0", "dc-s1"]);
    assert_eq!(ok(&root, &["start", "dc-s1"]), "dc-s1\n");
    assert!(ok(&root, &["ps", "-q"]).contains("dc-s1"), "not running after start");
    assert_eq!(ok(&root, &["restart", "-t", "0", "dc-s1"]), "dc-s1\n");
    let wait = std::time::Instant::now();
    while std::fs::read_to_string(counter.join("runs")).unwrap_or_default().lines().count() < 3 {
        assert!(wait.elapsed().as_secs() < 5, "three runs expected");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(counter.join("runs")).unwrap(), "run 1\nrun 1\nrun 1\n");
    // A generated name is kept too, and an exited command runs again.
    let name = ok(&root, &["run", "-d", "--rootfs", rootfs, "--", "sh", "-c", "exit 4"]);
    let name = name.trim();
    ok(&root, &["wait", name]);
    assert_eq!(ok(&root, &["start", name]), format!("{name}\n"));
    ok(&root, &["wait", name]);
    let status = ok(&root, &["ps", "-a"]);
    assert!(status.lines().any(|l| l.starts_with(name) && l.contains("exited (4)")), "{status}");
    ok(&root, &["rm", "-f", "dc-s1", name]);
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "an entry was left");
}
