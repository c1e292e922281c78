//! `gatectl audit verify FILE... [--head] [--deployment ID]...`: checks the
//! hash chain of the decision records (see `docs/audit.md`).
//!
//! The files are what a reviewer gets from the logs: the hooks' JSON lines, or
//! `aws logs filter-log-events --output json` exports of the four log groups,
//! in any order and overlapping. Every deployment's chain is checked and the
//! first broken link named; every line that is neither a record nor a known
//! log line is named `FILE:LINE` (exit 1), as it could hide a record. `--head` compares each chain's end with the head
//! the hooks keep in SSM, which is the only way to see a truncated tail; it
//! uses the standard credential chain (and `AWS_ENDPOINT_URL`).

use anyhow::{bail, Context, Result};
use metric_gate::audit::{head_parameter, read_records, verify, ChainHead};
use metric_gate::event::DeploymentId;
use metric_gate::evidence::switches::{switch_prefix, DEFAULT_PREFIX};
use metric_gate::lambda::SWITCH_PREFIX_VAR;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `gatectl audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check the decision records' hash chains; exit 1 on a broken chain.
    Verify(VerifyArgs),
}

/// Arguments of `gatectl audit verify`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Export a log group with: aws logs filter-log-events --log-group-name \
/aws/lambda/CodeDeployHook_STACK-after-allow-traffic --filter-pattern \
'{ $.record = \"codedeploy-gates.decision.v1\" }' --output json > after-allow-traffic.json"
)]
struct VerifyArgs {
    /// Decision records: JSON lines as the hooks print them, or `aws logs filter-log-events` output.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Only these deployments (repeatable); default: every deployment in the files.
    #[arg(long = "deployment", value_name = "ID")]
    deployments: Vec<String>,
    /// Also check each chain's end against the head kept in SSM Parameter Store.
    #[arg(long)]
    head: bool,
    /// SSM prefix of the hooks' parameters (default: $GATE_SWITCH_PREFIX, else /codedeploy-gates/).
    #[arg(long)]
    prefix: Option<String>,
}

impl Args {
    pub fn run(self) -> Result<ExitCode> {
        match self.command {
            AuditCommand::Verify(args) => args.run(),
        }
    }
}

impl VerifyArgs {
    fn run(self) -> Result<ExitCode> {
        let mut records = Vec::new();
        let mut unreadable = 0;
        for path in &self.files {
            let name = path.display().to_string();
            // A FIFO or a device would be read without end.
            let meta = std::fs::metadata(path).with_context(|| format!("reading {name}"))?;
            if !meta.is_file() {
                bail!("{name} is not a regular file");
            }
            let bytes = std::fs::read(path).with_context(|| format!("reading {name}"))?;
            let reading = read_records(&name, &bytes);
            // Every line that is not a record nor a known log line is named:
            // it could be a record the verifier was meant to miss.
            for problem in reading.problems.iter().take(PROBLEMS_SHOWN) {
                println!("{}", printable(&format!("BROKEN: {problem}")));
            }
            if reading.problems.len() > PROBLEMS_SHOWN {
                println!(
                    "{}",
                    printable(&format!(
                        "BROKEN: {name}: {} more lines that cannot be read",
                        reading.problems.len() - PROBLEMS_SHOWN
                    ))
                );
            }
            unreadable += reading.problems.len();
            records.extend(reading.records);
        }
        if !self.deployments.is_empty() {
            records.retain(|r| {
                r.record["deployment_id"]
                    .as_str()
                    .is_some_and(|id| self.deployments.iter().any(|d| d == id))
            });
        }
        let deployments: BTreeSet<String> = records
            .iter()
            .filter_map(|r| r.record["deployment_id"].as_str().map(str::to_string))
            .chain(self.deployments.iter().cloned())
            .collect();
        if deployments.is_empty() {
            if unreadable > 0 {
                return Ok(ExitCode::from(1));
            }
            bail!("no decision records (codedeploy-gates.decision.v1) in the files given");
        }

        let mut failed = unreadable > 0;
        let mut heads = HashMap::new();
        if self.head {
            let prefix = self
                .prefix
                .clone()
                .or_else(|| std::env::var(SWITCH_PREFIX_VAR).ok())
                .filter(|p| !p.is_empty() && p != "none")
                .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
            // The hooks' own reading of the prefix: `/gates` is `/gates/`.
            let prefix = switch_prefix(&prefix).map_err(|why| {
                anyhow::anyhow!("the switch prefix {prefix:?} is not valid: {why}")
            })?;
            for (deployment, head) in read_heads(&prefix, &deployments)? {
                match head {
                    Ok(head) => {
                        heads.insert(deployment, head);
                    }
                    Err(why) => {
                        failed = true;
                        println!("{}", printable(&format!("{deployment}: BROKEN: {why}")));
                    }
                }
            }
        }

        if !self.head {
            // The documented limit of an unkeyed chain, said where it matters.
            eprintln!(
                "gatectl: without --head, records removed from or added at the end of a chain cannot be seen; --head checks each chain's end against the head in SSM"
            );
        }
        for report in verify(&records, &heads) {
            let id = &report.deployment_id;
            match report.breaks.split_first() {
                None => {
                    let last = report
                        .last
                        .as_ref()
                        .map(|l| format!("record {} is {}", l.sequence, l.digest))
                        .unwrap_or_else(|| "no chained record".into());
                    let checked = if heads.contains_key(id) {
                        ", matching the head in SSM"
                    } else {
                        ""
                    };
                    println!(
                        "{}",
                        printable(&format!(
                            "{id}: intact: {} record{}; {last}{checked}",
                            report.records,
                            if report.records == 1 { "" } else { "s" }
                        ))
                    );
                }
                Some((first, rest)) => {
                    failed = true;
                    println!(
                        "{}",
                        printable(&format!("{id}: BROKEN: first broken link: {first}"))
                    );
                    for other in rest {
                        println!("{}", printable(&format!("  also: {other}")));
                    }
                }
            }
            for note in &report.notes {
                println!("{}", printable(&format!("  note: {note}")));
            }
        }
        Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// Lines that cannot be read, shown per file (the count of the rest follows).
const PROBLEMS_SHOWN: usize = 20;

/// `line` with control characters (and the invisible ones that reorder
/// text) escaped: ids and reasons come from the files verified, and an escape
/// sequence in one must not reach the terminal.
fn printable(line: &str) -> String {
    line.chars()
        .flat_map(|c| {
            let hidden = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            let escaped: Vec<char> = if c.is_control() || hidden {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// The head parameter of each deployment, or why it could not be used.
fn read_heads(
    prefix: &str,
    deployments: &BTreeSet<String>,
) -> Result<Vec<(String, Result<ChainHead, String>)>> {
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(metric_gate::aws_http::https_client(metric_gate::aws_http::Roots::System))
            .load()
            .await;
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        let mut heads = Vec::new();
        // An id read from the files is untrusted: only one of CodeDeploy's
        // shape is made into an SSM name.
        let mut ids: Vec<&String> = Vec::new();
        for id in deployments {
            match DeploymentId::parse(id) {
                Ok(_) => ids.push(id),
                Err(problem) => heads.push((
                    id.clone(),
                    Err(format!(
                        "the deployment id is not of CodeDeploy's shape ({problem}): no chain head is looked up for it"
                    )),
                )),
            }
        }
        // GetParameters takes at most 10 names a call.
        for chunk in ids.chunks(10) {
            let names: Vec<String> = chunk.iter().map(|id| head_parameter(prefix, id)).collect();
            let output = ssm
                .get_parameters()
                .set_names(Some(names.clone()))
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "reading the chain heads from SSM (GetParameters): {}",
                        metric_gate::evidence::aws_error(&e)
                    )
                })?;
            for (id, name) in chunk.iter().zip(&names) {
                let value = output
                    .parameters()
                    .iter()
                    .find(|p| p.name() == Some(name.as_str()))
                    .and_then(|p| p.value());
                let head = match value {
                    None => Err(format!(
                        "no chain head in SSM ({name} does not exist): the hooks never wrote one, or it was deleted"
                    )),
                    Some(text) => ChainHead::parse(text).map_err(|why| format!("{name}: {why}")),
                };
                heads.push(((*id).clone(), head));
            }
        }
        Ok(heads)
    })
}
