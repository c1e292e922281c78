//! Feature flags end to end (issue 19): AWS AppConfig flags seeded with the
//! real SDK in the emulator, read by the real hook through the data plane,
//! and the kill switch turning a flag off after a failed hook, once.

use gate_tests::{
    decision_records, emf_documents, invoke, lifecycle_event, temp_file, Emulator, HookProcess,
};
use serde_json::{json, Value};

const APP: &str = "shop";
const ENV: &str = "prod";
const PROFILE: &str = "checkout-flags";

/// Ids of the seeded application, environment and profile.
struct Seeded {
    app: String,
    env: String,
    profile: String,
}

fn appconfig(emulator: &Emulator) -> aws_sdk_appconfig::Client {
    aws_sdk_appconfig::Client::new(emulator.sdk_config())
}

/// A feature-flag profile with `new_checkout` (in `enabled`) and `dark_mode`
/// (no value: off), deployed to `prod` unless `deploy` is false.
fn seed_flags(emulator: &Emulator, enabled: bool, deploy: bool) -> Seeded {
    let client = appconfig(emulator);
    emulator.block_on(async {
        let app = client.create_application().name(APP).send().await.unwrap();
        let app = app.id().unwrap().to_string();
        let env = client
            .create_environment()
            .application_id(&app)
            .name(ENV)
            .send()
            .await
            .unwrap();
        let env = env.id().unwrap().to_string();
        let profile = client
            .create_configuration_profile()
            .application_id(&app)
            .name(PROFILE)
            .location_uri("hosted")
            .r#type("AWS.AppConfig.FeatureFlags")
            .send()
            .await
            .unwrap();
        let profile = profile.id().unwrap().to_string();
        let document = json!({
            "version": "1",
            "flags": {"new_checkout": {"name": "New checkout"}, "dark_mode": {"name": "Dark mode"}},
            "values": {"new_checkout": {"enabled": enabled, "variant": "b"}},
        });
        let version = client
            .create_hosted_configuration_version()
            .application_id(&app)
            .configuration_profile_id(&profile)
            .content(aws_smithy_types::Blob::new(document.to_string()))
            .content_type("application/json")
            .send()
            .await
            .unwrap();
        if deploy {
            client
                .start_deployment()
                .application_id(&app)
                .environment_id(&env)
                .deployment_strategy_id("AppConfig.AllAtOnce")
                .configuration_profile_id(&profile)
                .configuration_version(version.version_number().to_string())
                .send()
                .await
                .unwrap();
        }
        Seeded { app, env, profile }
    })
}

/// (hosted versions, deployments) of the seeded profile in `prod`.
fn versions_and_deployments(emulator: &Emulator, seeded: &Seeded) -> (usize, usize) {
    let client = appconfig(emulator);
    emulator.block_on(async {
        let versions = client
            .list_hosted_configuration_versions()
            .application_id(&seeded.app)
            .configuration_profile_id(&seeded.profile)
            .send()
            .await
            .unwrap();
        let deployments = client
            .list_deployments()
            .application_id(&seeded.app)
            .environment_id(&seeded.env)
            .send()
            .await
            .unwrap();
        (versions.items().len(), deployments.items().len())
    })
}

/// The newest hosted version's `values.new_checkout.enabled`.
fn newest_enabled(emulator: &Emulator, seeded: &Seeded) -> bool {
    let client = appconfig(emulator);
    emulator.block_on(async {
        let newest = client
            .list_hosted_configuration_versions()
            .application_id(&seeded.app)
            .configuration_profile_id(&seeded.profile)
            .send()
            .await
            .unwrap()
            .items()
            .iter()
            .map(|v| v.version_number())
            .max()
            .unwrap();
        let hosted = client
            .get_hosted_configuration_version()
            .application_id(&seeded.app)
            .configuration_profile_id(&seeded.profile)
            .version_number(newest)
            .send()
            .await
            .unwrap();
        let document: Value = serde_json::from_slice(hosted.content().unwrap().as_ref()).unwrap();
        document["values"]["new_checkout"]["enabled"]
            .as_bool()
            .unwrap()
    })
}

fn flag_yaml(key: &str) -> String {
    format!("{{application: {APP}, environment: {ENV}, profile: {PROFILE}, key: {key}}}")
}

/// A policy whose AfterAllowTraffic gates on `key` being `state`.
fn flag_gate_policy(key: &str, state: &str) -> String {
    format!(
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: checkout-flag\n        flag: {{application: {APP}, environment: {ENV}, profile: {PROFILE}, key: {key}, state: {state}}}\n"
    )
}

/// Runs the after-allow-traffic hook once under `policy` and returns the
/// invocation and the one record it printed.
fn run_once(emulator: &Emulator, policy: &str, extra: &[(&str, &str)]) -> (Value, Value) {
    let deployment = emulator.create_deployment();
    let file = temp_file("flags.yaml", policy);
    let mut env = vec![("GATE_POLICY_FILE", file.to_str().unwrap())];
    env.extend_from_slice(extra);
    let hook = HookProcess::start(emulator, "after-allow-traffic", &env);
    let invocation = invoke(emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, stderr) = hook.finish();
    let records = decision_records(&stdout);
    assert_eq!(records.len(), 1, "{stdout}\n{stderr}");
    (invocation, records[0].clone())
}

#[test]
fn a_flag_in_the_expected_state_passes_and_in_the_other_fails() {
    let emulator = Emulator::start();
    seed_flags(&emulator, true, true);
    let (on, record) = run_once(&emulator, &flag_gate_policy("new_checkout", "enabled"), &[]);
    assert_eq!(on["body"]["status"], "Succeeded", "{on}");
    let gate = &record["gates"][0];
    assert_eq!(gate["outcome"], "pass", "{gate}");
    assert_eq!(gate["flag"]["observed"], "enabled", "{gate}");

    // A fresh emulator: one deployment per emulator.
    let emulator = Emulator::start();
    seed_flags(&emulator, true, true);
    let (off, record) = run_once(&emulator, &flag_gate_policy("dark_mode", "enabled"), &[]);
    assert_eq!(off["body"]["status"], "Failed", "{off}");
    let gate = &record["gates"][0];
    assert_eq!(gate["outcome"], "fail", "{gate}");
    assert_eq!(
        gate["reason"],
        "flag shop/prod/checkout-flags:dark_mode is disabled, expected enabled"
    );
}

#[test]
fn a_missing_flag_or_nothing_deployed_is_an_error_never_a_pass() {
    let emulator = Emulator::start();
    seed_flags(&emulator, true, false);
    let (undeployed, record) =
        run_once(&emulator, &flag_gate_policy("new_checkout", "enabled"), &[]);
    assert_eq!(undeployed["body"]["status"], "Failed", "{undeployed}");
    let gate = &record["gates"][0];
    assert_eq!(gate["outcome"], "error", "{gate}");
    assert!(
        gate["reason"]
            .as_str()
            .unwrap()
            .contains("no configuration is deployed"),
        "{gate}"
    );

    let emulator = Emulator::start();
    seed_flags(&emulator, true, true);
    let (missing, record) = run_once(
        &emulator,
        &flag_gate_policy("no_such_flag", "disabled"),
        &[],
    );
    assert_eq!(missing["body"]["status"], "Failed", "{missing}");
    let gate = &record["gates"][0];
    assert_eq!(gate["outcome"], "error", "{gate}");
    assert!(
        gate["reason"]
            .as_str()
            .unwrap()
            .contains("has no flag \"no_such_flag\""),
        "{gate}"
    );
}

#[test]
fn a_throttled_appconfig_fails_the_gate_closed() {
    let emulator = Emulator::start();
    seed_flags(&emulator, true, true);
    emulator.inject(json!({
        "service": "appconfig", "operation": "GetLatestConfiguration",
        "status": 429, "code": "ThrottlingException", "message": "Rate exceeded",
    }));
    let (throttled, record) =
        run_once(&emulator, &flag_gate_policy("new_checkout", "enabled"), &[]);
    assert_eq!(throttled["body"]["status"], "Failed", "{throttled}");
    let gate = &record["gates"][0];
    assert_eq!(gate["outcome"], "error", "{gate}");
    assert!(
        gate["reason"]
            .as_str()
            .unwrap()
            .contains("ThrottlingException"),
        "{gate}"
    );
}

/// A failing alarm gate with `new_checkout` as the hook's kill switch.
fn kill_switch_policy(dry_run: bool) -> String {
    format!(
        "version: 1\nhooks:\n  AfterAllowTraffic:\n    dry_run: {dry_run}\n    kill_switch:\n      - {}\n    gates:\n      - name: checkout-errors\n        alarms: [checkout-errors]\n",
        flag_yaml("new_checkout")
    )
}

#[test]
fn a_failed_hook_turns_its_flag_off_exactly_once_across_duplicate_deliveries() {
    let emulator = Emulator::start();
    let seeded = seed_flags(&emulator, true, true);
    emulator.put_alarm("checkout-errors", "ALARM");
    let deployment = emulator.create_deployment();
    let file = temp_file("kill.yaml", &kill_switch_policy(false));
    let hook = HookProcess::start(
        &emulator,
        "after-allow-traffic",
        &[("GATE_POLICY_FILE", file.to_str().unwrap())],
    );
    let first = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    // Lambda delivers asynchronous events at least once: the same event again.
    let again = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, stderr) = hook.finish();
    assert_eq!(first["body"]["status"], "Failed", "{first}");
    assert_eq!(
        again["body"]["report"]["outcome"], "already_completed",
        "{again}"
    );
    let records = decision_records(&stdout);
    assert_eq!(records.len(), 2, "{stdout}\n{stderr}");

    let flipped = &records[0]["kill_switch"];
    assert_eq!(
        flipped["flags"][0]["flag"],
        "shop/prod/checkout-flags:new_checkout"
    );
    assert_eq!(flipped["flags"][0]["outcome"], "turned_off", "{flipped}");
    assert_eq!(flipped["flags"][0]["strategy"], "AppConfig.AllAtOnce");
    assert!(
        flipped["by"].as_str().unwrap().starts_with(&format!(
            "codedeploy-gates AfterAllowTraffic hook, deployment {deployment}"
        )),
        "{flipped}"
    );
    assert!(
        flipped["why"].as_str().unwrap().contains("checkout-errors"),
        "{flipped}"
    );
    // The outcome is sealed into the audit chain with the rest of the record.
    assert!(records[0]["audit"]["digest"].is_string(), "{}", records[0]);

    let duplicate = &records[1]["kill_switch"];
    assert_eq!(
        duplicate["flags"][0]["outcome"], "not_attempted",
        "{duplicate}"
    );
    assert!(duplicate["skipped"]
        .as_str()
        .unwrap()
        .contains("duplicate delivery"));

    assert_eq!(versions_and_deployments(&emulator, &seeded), (2, 2));
    assert!(!newest_enabled(&emulator, &seeded), "the flag is off");
    let writes = emulator
        .calls()
        .iter()
        .filter(|c| c["operation"] == "CreateHostedConfigurationVersion")
        .count();
    assert_eq!(writes, 2, "one by the seed, one by the kill switch");

    let counted: f64 = emf_documents(&stdout)
        .iter()
        .filter_map(|d| d["KillSwitchFlips"].as_f64())
        .sum();
    assert_eq!(counted, 1.0);
}

#[test]
fn a_flip_that_fails_is_recorded_counted_and_not_retried_and_the_report_stands() {
    let emulator = Emulator::start();
    let seeded = seed_flags(&emulator, true, true);
    emulator.put_alarm("checkout-errors", "ALARM");
    emulator.inject(json!({
        "service": "appconfig", "operation": "StartDeployment",
        "status": 500, "code": "InternalServerException", "message": "boom",
    }));
    let deployment = emulator.create_deployment();
    let file = temp_file("kill.yaml", &kill_switch_policy(false));
    let hook = HookProcess::start(
        &emulator,
        "after-allow-traffic",
        &[("GATE_POLICY_FILE", file.to_str().unwrap())],
    );
    let first = invoke(&emulator, lifecycle_event(&deployment, "exec-1"), 30_000);
    let (stdout, _) = hook.finish();
    assert_eq!(first["body"]["status"], "Failed", "{first}");
    assert_eq!(first["body"]["report"]["outcome"], "accepted", "{first}");
    let record = &decision_records(&stdout)[0];
    let flag = &record["kill_switch"]["flags"][0];
    assert_eq!(flag["outcome"], "failed", "{flag}");
    assert!(
        flag["error"].as_str().unwrap().contains("StartDeployment"),
        "{flag}"
    );
    let failures: f64 = emf_documents(&stdout)
        .iter()
        .filter_map(|d| d["KillSwitchFailures"].as_f64())
        .sum();
    assert_eq!(failures, 1.0);
    // One attempt, inside it the SDK's bounded retries (the hooks' standard
    // retry, 4 attempts in all), then a person decides.
    let starts = emulator
        .calls()
        .iter()
        .filter(|c| c["operation"] == "StartDeployment" && c["injected"] == true)
        .count();
    assert_eq!(starts, 4, "{starts} StartDeployment calls");
    assert_eq!(versions_and_deployments(&emulator, &seeded).1, 1);
}

#[test]
fn a_dry_run_records_what_would_have_been_turned_off_and_writes_nothing() {
    let emulator = Emulator::start();
    let seeded = seed_flags(&emulator, true, true);
    emulator.put_alarm("checkout-errors", "ALARM");
    let (dry, record) = run_once(&emulator, &kill_switch_policy(true), &[]);
    assert_eq!(dry["body"]["status"], "Succeeded", "{dry}");
    let kill = &record["kill_switch"];
    assert_eq!(kill["dry_run"], true, "{kill}");
    assert_eq!(kill["flags"][0]["outcome"], "would_turn_off", "{kill}");
    assert_eq!(versions_and_deployments(&emulator, &seeded), (1, 1));
    assert!(newest_enabled(&emulator, &seeded));
}

/// `gatectl evaluate` reads flags as the hook does and shows their state.
#[test]
fn gatectl_evaluate_shows_flag_states() {
    let emulator = Emulator::start();
    seed_flags(&emulator, true, true);
    let policy = temp_file(
        "evaluate.yaml",
        &format!(
            "version: 1\nhooks:\n  AfterAllowTraffic:\n    gates:\n      - name: checkout-flag\n        flag: {}\n      - name: dark-mode-off\n        flag: {{application: {APP}, environment: {ENV}, profile: {PROFILE}, key: dark_mode, state: disabled}}\n",
            flag_yaml("new_checkout")
        ),
    );
    let output = std::process::Command::new(gate_tests::hook_binary("gatectl"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", format!("http://{}", emulator.address))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["evaluate", "--hook", "after-allow-traffic", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("flag shop/prod/checkout-flags:new_checkout is enabled"),
        "{stdout}"
    );
    assert!(
        stdout.contains("flag shop/prod/checkout-flags:dark_mode is disabled"),
        "{stdout}"
    );
}
