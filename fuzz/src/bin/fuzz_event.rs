//! AFL target: the CodeDeploy event parser. Build and run with `cargo afl` (README.md).

fn main() {
    afl::fuzz!(|data: &[u8]| metric_gate_fuzz::event(data));
}
