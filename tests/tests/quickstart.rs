//! The README's first hour, as a new user lives it: the builds the tests and
//! `./dev demo` start leave the user's own build fresh, `./dev demo`'s
//! local-run runs what `./dev` built without asking cargo again, and `cargo
//! lambda watch` + `cargo lambda invoke` try one hook against the local emulator.

use gate_tests::{
    cargo_command, hook_binary, temp_file, without_crate_variables, workspace_root, AlbMinute,
    Emulator,
};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `cargo ARGS --message-format json`'s artifacts that were not fresh.
fn rebuilt(mut command: Command) -> Vec<String> {
    let output = command
        .args(["--message-format", "json"])
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact" && message["fresh"] == false)
        .map(|message| {
            message["target"]["name"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// `cargo ARGS` as typed in a user's shell: none of the variables cargo sets
/// for the crate it runs (this test's own `CARGO_MANIFEST_DIR`, ...), only
/// what a shell has and cargo's own settings.
fn users_cargo(args: &[&str]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root()).args(args).env_clear();
    let shell = [
        "PATH",
        "HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
    ];
    let settings = [
        "CARGO_BUILD_",
        "CARGO_PROFILE_",
        "CARGO_NET_",
        "CARGO_TERM_",
    ];
    for (name, value) in std::env::vars() {
        if shell.contains(&name.as_str()) || settings.iter().any(|s| name.starts_with(s)) {
            command.env(name, value);
        }
    }
    command
}

#[test]
fn building_the_hooks_from_a_test_leaves_the_users_build_fresh() {
    // The build every end-to-end test (and `./dev demo`) starts.
    hook_binary("gatectl");
    let after_hooks = rebuilt(users_cargo(&["build", "--workspace", "--bins"]));
    assert!(
        after_hooks.is_empty(),
        "the user's next build rebuilt {after_hooks:?}: the hooks' build ran in another environment"
    );
    // And the other way round: the tests' build after the user's.
    let after_user = rebuilt(cargo_command(["build", "--workspace", "--bins"]));
    assert!(
        after_user.is_empty(),
        "the hooks' build rebuilt {after_user:?} after the user's"
    );
}

/// cargo-lambda as `./dev` installs it (pinned in
/// tests/harness/requirements.txt, into `.venv`), or `$CARGO_LAMBDA`.
fn cargo_lambda() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_LAMBDA") {
        return PathBuf::from(path);
    }
    let installed = workspace_root().join(".venv/bin/cargo-lambda");
    assert!(
        installed.exists(),
        "{} is missing: run ./dev test, which installs cargo-lambda into .venv",
        installed.display()
    );
    installed
}

/// A free loopback port (free when asked; cargo-lambda binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// `cargo lambda watch`, stopped on drop with the `cargo run` and the hook it
/// started (its own process group).
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

#[test]
fn cargo_lambda_watch_and_invoke_try_one_hook_against_the_emulator() {
    let cargo_lambda = cargo_lambda();
    // What `./dev emulator` does: the deployment the sample events name, a
    // healthy service's metrics, the hooks' environment in a file.
    let emulator = Emulator::start();
    emulator.ready_for_sample_events(10, |_| AlbMinute::healthy());
    let env_file = temp_file("cargo-lambda.env", "");
    emulator
        .write_hook_env_file(&env_file, &[])
        .expect("write the env file");
    let port = free_port().to_string();
    let log = temp_file("cargo-lambda-watch.log", "");
    // The README's commands, on loopback and this test's own port.
    let mut watch = Command::new(&cargo_lambda);
    without_crate_variables(&mut watch)
        .current_dir(workspace_root())
        .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &port, "--ignore-changes", "--env-file"])
        .arg(&env_file)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .process_group(0);
    let _watch = Watch(watch.spawn().expect("start cargo lambda watch"));
    let invoke = || {
        let mut invoke = Command::new(&cargo_lambda);
        without_crate_variables(&mut invoke)
            .current_dir(workspace_root())
            .args(["lambda", "invoke", "before-allow-traffic"])
            .args(["--data-file", "events/before-allow-traffic.json"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port", &port])
            .args(["--output-format", "json"])
            .output()
            .expect("run cargo lambda invoke")
    };
    // The watcher takes a moment to listen: the first invoke may be refused.
    let started = Instant::now();
    let output = loop {
        let output = invoke();
        if output.status.success() || started.elapsed() > Duration::from_secs(120) {
            break output;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "cargo lambda invoke: {}\nstdout: {stdout}\nstderr: {}\nwatch log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    // A healthy service, judged within cargo-lambda's deadline (a duration,
    // 600000 ms from now, where Lambda sends a time): not failed closed at once.
    assert_eq!(answer["status"], "Succeeded", "{answer}");
    assert_eq!(answer["report"]["outcome"], "accepted", "{answer}");
    assert!(
        !answer["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("would have blocked"),
        "every gate judged, the baseline's too: {answer}"
    );
    assert_eq!(emulator.accepted_statuses(), ["Succeeded"]);
}

/// `local-run` as `./dev demo` starts it: after `./dev`'s own build, naming the
/// directory it built into, with a `cargo` that cannot run (any build local-run
/// started would fail).
fn local_run_after_dev_built(binaries: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_local-run"))
        .current_dir(workspace_root())
        .env(gate_tests::BUILT_BINARIES_VAR, binaries)
        .env("CARGO", "/nonexistent/cargo")
        .args([
            "--event",
            "events/before-allow-traffic.json",
            "--hook",
            "before-allow-traffic",
        ])
        .output()
        .expect("run local-run")
}

#[test]
fn local_run_runs_the_binaries_dev_built_without_building_them_again() {
    let built = hook_binary("before-allow-traffic");
    let output = local_run_after_dev_built(built.parent().unwrap());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("Succeeded"),
        "local-run failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn local_run_names_the_built_binaries_directory_when_a_binary_is_missing() {
    let empty = std::env::temp_dir().join(format!("gate-no-binaries-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let output = local_run_after_dev_built(&empty);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "local-run ran without binaries");
    let named = format!(
        "{} names {}, which has no ",
        gate_tests::BUILT_BINARIES_VAR,
        empty.display()
    );
    assert!(
        stderr.contains(&named),
        "the error does not say {named:?}: {stderr}"
    );
    assert!(
        !stderr.contains("Traceback"),
        "the emulator complained when local-run stopped: {stderr}"
    );
}

#[test]
fn the_demo_judges_each_scenario_on_its_own_metrics() {
    // One emulator serves every scenario, emptied between them: a scenario
    // judged on an earlier one's metrics would pass where it must fail (no
    // traffic after unhealthy hosts) or fail where it must pass.
    let built = hook_binary("gatectl");
    let output = Command::new(env!("CARGO_BIN_EXE_local-run"))
        .current_dir(workspace_root())
        .env(gate_tests::BUILT_BINARIES_VAR, built.parent().unwrap())
        .output()
        .expect("run local-run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "local-run failed: {stdout}");
    let statuses: Vec<(&str, &str)> = stdout
        .lines()
        .filter(|line| line.starts_with("  ") && !line.starts_with("      "))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?, words.next()?))
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("before-install", "Succeeded"),
            ("after-allow-test-traffic", "Succeeded"),
            ("before-allow-traffic", "Succeeded"),
            ("after-allow-traffic", "Succeeded"),
            ("after-allow-traffic", "Failed"),
            ("before-allow-traffic", "Failed"),
            ("after-allow-test-traffic", "Failed"),
            ("after-allow-traffic", "Failed"),
            ("after-allow-traffic", "Failed"),
            ("before-install", "Failed"),
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("no datapoints at all for RequestCount"),
        "the no-traffic scenario saw datapoints: {stdout}"
    );
}
