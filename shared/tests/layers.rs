//! The library's layers, checked: every `crate::MODULE` path in a module's
//! code (outside comments and unit tests) names a module of a lower layer.
//!
//! A cycle between modules is how one decision ends up made in two places,
//! so the build fails on the first import that looks up (ARCHITECTURE.md,
//! "Layers"). A module added to `src/` must be placed in [`LAYERS`] first.
//! `../shared/tools/module-cycles.py shared/src` finds cycles the same way;
//! this test also holds the order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom to top. A module may use the modules of the layers below its own,
/// never those of its own layer or above.
const LAYERS: &[&[&str]] = &[
    // The shared vocabulary, and a leaf that knows nothing of gates.
    &["vocab", "aws_http"],
    // The CodeDeploy event and its validated ids (quoting a bad id with
    // vocab's escaping).
    &["event"],
    // The policy model and its validation.
    &["policy"],
    // Which settled periods a gate judges.
    &["window"],
    // Placing a policy on one deployment.
    &["bind"],
    // The sources, the plan, the collection.
    &["evidence"],
    // Evidence to verdict to decision, pure.
    &["judge"],
    // Bake rules.
    &["analysis"],
    // The hash chain of records.
    &["audit"],
    // Renderers: the record, CodeDeploy, EMF, the alert.
    &["report"],
    // Orchestration: the pipeline, one execution.
    &["run"],
    // What runs on top of an execution: the Lambda self-invocation, game days.
    &["continuation", "rehearsal"],
    // The Lambda edge.
    &["lambda"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file under `dir` that is not a unit test file.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "tests" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
            out.push(path);
        }
    }
}

/// `crate::NAME` references in `code`, with their line numbers: up to the
/// first `#[cfg(test)]` (the inline unit tests, by convention last), comments
/// left out.
fn references(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `metric_gate::crate::` never occurs; `my_crate::` might
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((number + 1, name));
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut unplaced = BTreeMap::new();
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" {
            continue;
        }
        let Some(own) = layer_of(&top) else {
            unplaced.insert(top, relative.display().to_string());
            continue;
        };
        let code = std::fs::read_to_string(file).unwrap();
        for (line, used) in references(&code) {
            if used == top {
                continue;
            }
            match layer_of(&used) {
                Some(theirs) if theirs < own => {}
                Some(_) => upward.push(format!(
                    "src/{}:{line}: {top} uses crate::{used}, which is not below it",
                    relative.display()
                )),
                None => {} // a re-export at the crate root, e.g. `crate::Hook`
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules not placed in LAYERS (tests/layers.rs): {unplaced:?}"
    );
    assert!(
        upward.is_empty(),
        "imports that look up a layer or across one:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_reader_finds_references_and_skips_comments_and_tests() {
    let code = "use crate::policy::Policy; // crate::run in a comment\n\
                fn f() { crate::judge::judge(); }\n\
                /// [`crate::report`] in a doc comment\n\
                #[cfg(test)]\n\
                mod tests { use crate::lambda; }\n";
    assert_eq!(
        references(code),
        vec![(1, "policy".to_string()), (2, "judge".to_string())]
    );
}
