//! Runs inputs through a target without AFL, to reproduce a finding with its
//! panic message and backtrace:
//!
//! ```text
//! cargo run --bin replay -- policy out/policy/default/crashes/id:000000*
//! ```
//!
//! Prints one line per input (`ok` or the panic) and exits 1 if any panicked.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let names: Vec<&str> = metric_gate_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    let Some(target) = args.next().and_then(|name| {
        metric_gate_fuzz::TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }) else {
        eprintln!(
            "usage: replay TARGET FILE...   (TARGET: {})",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let mut failed = false;
    for path in args {
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::from(2);
            }
        };
        let started = std::time::Instant::now();
        match std::panic::catch_unwind(|| target(&data)) {
            Ok(()) => println!("{path}: ok in {:?}", started.elapsed()),
            Err(_) => {
                println!("{path}: PANICKED (message above)");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
