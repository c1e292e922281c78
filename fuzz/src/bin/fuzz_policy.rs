//! AFL target: the gate policy parser and validator. Build and run with `cargo afl` (README.md).

fn main() {
    afl::fuzz!(|data: &[u8]| metric_gate_fuzz::policy(data));
}
