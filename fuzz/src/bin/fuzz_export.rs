//! AFL target: the CloudWatch export reader of `gatectl backtest`. Build and run with `cargo afl` (README.md).

fn main() {
    afl::fuzz!(|data: &[u8]| metric_gate_fuzz::export(data));
}
