//! The README's quick start shows what its first command prints: the sample
//! under "Quick start" is `gatectl rehearse`'s output, character for
//! character, so a change to the timeline or its reasons updates the README
//! in the same commit.

use std::path::Path;
use std::process::Command;

/// The first fenced block of README.md that starts with `rehearsal `.
fn readme_sample() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let mut blocks = readme.split("```").skip(1).step_by(2);
    let block = blocks
        .find(|block| {
            block
                .split_once('\n')
                .is_some_and(|(_, body)| body.starts_with("rehearsal "))
        })
        .expect("README.md shows a rehearsal in a fenced block");
    block.split_once('\n').unwrap().1.to_owned()
}

#[test]
fn the_readme_sample_is_what_rehearse_prints() {
    let output = Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .arg("rehearse")
        .output()
        .unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        readme_sample(),
        printed,
        "README.md's sample under \"Quick start\" is not what `gatectl rehearse` prints; \
         paste this in its place:\n{printed}"
    );
}
