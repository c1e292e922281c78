//! The documentation, checked as CI checks code: every relative link and
//! `#anchor` in README.md and docs/**/*.md resolves, the book's contents
//! (docs/SUMMARY.md) list every page under docs/, and the README stays an
//! introduction (at most 12 KiB; the reference lives in the book).
//!
//! Links with a scheme (`https:`, `mailto:`) are not followed: tests make no
//! traffic off loopback. Anchors are GitHub's: a heading's text, lower-cased,
//! without punctuation, spaces as hyphens, `-1`, `-2` for repeats; and
//! `<a id>`/`<a name>` in HTML. mdBook derives the same ids from headings.

use pulldown_cmark::{BrokenLink, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The README is an introduction: what the project is, the quick start, a
/// short tour and links (issue 17). Longer text belongs in the book.
const README_LIMIT_BYTES: usize = 12 * 1024;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// README.md and every Markdown file under docs/, sorted.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![root.join("README.md")];
    let mut folders = vec![root.join("docs")];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).expect("docs/ is readable") {
            let path = entry.expect("a readable entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// A link as written, where it was written.
#[derive(Debug)]
struct Link {
    line: usize,
    target: String,
}

/// What one Markdown file offers and asks: its anchors and its links.
#[derive(Debug, Default)]
struct Page {
    anchors: BTreeSet<String>,
    links: Vec<Link>,
    /// `[text][label]` whose label no definition gives.
    undefined_references: Vec<(usize, String)>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// GitHub's anchor for a heading's text.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The values of `id="..."` and `name="..."` in a piece of HTML.
fn html_anchors(html: &str) -> Vec<String> {
    let mut anchors = Vec::new();
    for attribute in ["id=\"", "name=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            let after = &rest[start + attribute.len()..];
            let Some(end) = after.find('"') else { break };
            anchors.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    anchors
}

fn read_page(text: &str) -> Page {
    let mut page = Page::default();
    let mut undefined = Vec::new();
    let callback = |broken: BrokenLink<'_>| {
        // A shortcut reference (`[0 %, 100 %]`) is ordinary bracketed text;
        // `[text][label]` and `[label][]` are meant as links.
        if matches!(broken.link_type, LinkType::Reference | LinkType::Collapsed) {
            undefined.push((broken.span.start, broken.reference.to_string()));
        }
        None::<(CowStr<'_>, CowStr<'_>)>
    };
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let parser = Parser::new_with_broken_link_callback(text, options, Some(callback));
    let mut heading: Option<String> = None;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                let base = slug(&heading.take().unwrap_or_default());
                let repeats = seen.entry(base.clone()).or_insert(0);
                let anchor = match *repeats {
                    0 => base,
                    n => format!("{base}-{n}"),
                };
                *repeats += 1;
                page.anchors.insert(anchor);
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some(heading) = heading.as_mut() {
                    heading.push_str(&text);
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                page.anchors.extend(html_anchors(&html));
            }
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                page.links.push(Link {
                    line: line_of(text, range.start),
                    target: dest_url.to_string(),
                });
            }
            _ => {}
        }
    }
    page.undefined_references = undefined
        .into_iter()
        .map(|(offset, label)| (line_of(text, offset), label))
        .collect();
    page
}

/// `https:`, `mailto:` and the like: another site's business.
fn has_scheme(target: &str) -> bool {
    match target.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// Every problem with the links of `documents`, as `file:line: message`.
fn link_problems(root: &Path, documents: &[PathBuf]) -> Vec<String> {
    let pages: BTreeMap<PathBuf, Page> = documents
        .iter()
        .map(|path| {
            let text = fs::read_to_string(path).expect("a readable Markdown file");
            (path.clone(), read_page(&text))
        })
        .collect();
    let root = root.canonicalize().expect("the workspace exists");
    let mut problems = Vec::new();
    for (path, page) in &pages {
        let shown = path.strip_prefix(&root).unwrap_or(path).display();
        for (line, label) in &page.undefined_references {
            problems.push(format!("{shown}:{line}: no definition for [{label}]"));
        }
        for link in &page.links {
            let target = &link.target;
            let mut problem = |message: String| {
                problems.push(format!("{shown}:{}: {target}: {message}", link.line))
            };
            if has_scheme(target) {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target.as_str(), None),
            };
            if file.starts_with('/') {
                problem("an absolute path; write it relative to this file".into());
                continue;
            }
            let resolved = if file.is_empty() {
                path.clone()
            } else {
                match path.parent().unwrap().join(file).canonicalize() {
                    Ok(resolved) => resolved,
                    Err(_) => {
                        problem("no such file or folder".into());
                        continue;
                    }
                }
            };
            if !resolved.starts_with(&root) {
                problem("outside the repository".into());
                continue;
            }
            let Some(fragment) = fragment else { continue };
            if resolved.extension().is_some_and(|ext| ext == "md") {
                let anchors = match pages.get(&resolved) {
                    Some(page) => page.anchors.clone(),
                    None => read_page(&fs::read_to_string(&resolved).unwrap()).anchors,
                };
                if !anchors.contains(fragment) {
                    problem(format!("no heading or anchor #{fragment} there"));
                }
            } else {
                problem("an anchor into a file that is not Markdown".into());
            }
        }
    }
    problems
}

#[test]
fn every_relative_link_and_anchor_in_the_docs_resolves() {
    let root = workspace();
    let problems = link_problems(&root, &documents(&root));
    assert!(
        problems.is_empty(),
        "broken links in the documentation:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_book_contents_list_every_page_under_docs() {
    let root = workspace();
    let docs = root.join("docs").canonicalize().unwrap();
    let summary = docs.join("SUMMARY.md");
    let text = fs::read_to_string(&summary).expect("docs/SUMMARY.md, the book's contents");
    let listed: BTreeSet<PathBuf> = read_page(&text)
        .links
        .iter()
        .filter(|link| !has_scheme(&link.target))
        .filter_map(|link| docs.join(&link.target).canonicalize().ok())
        .collect();
    let unlisted: Vec<String> = documents(&root)
        .into_iter()
        .filter_map(|path| path.canonicalize().ok())
        .filter(|path| path.starts_with(&docs) && *path != summary && !listed.contains(path))
        .map(|path| {
            path.strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string()
        })
        .collect();
    assert!(
        unlisted.is_empty(),
        "pages missing from docs/SUMMARY.md (add each where a reader would look for it):\n{}",
        unlisted.join("\n")
    );
}

#[test]
fn the_readme_is_an_introduction() {
    let readme = fs::read_to_string(workspace().join("README.md")).unwrap();
    assert!(
        readme.len() <= README_LIMIT_BYTES,
        "README.md is {} bytes, over {README_LIMIT_BYTES}: move reference text into a page \
         of docs/ and link it",
        readme.len()
    );
}

/// The checker itself: anchors as GitHub makes them, and the links it must
/// refuse.
#[test]
fn the_checker_finds_what_it_should() {
    assert_eq!(
        slug("Local invocation with `events/`"),
        "local-invocation-with-events"
    );
    assert_eq!(
        slug("Session 4: the emulator's own share cut from 21-25 ms to 6-10 ms"),
        "session-4-the-emulators-own-share-cut-from-21-25-ms-to-6-10-ms"
    );
    let page = read_page(
        "# Title\n\n## Title\n\n<a id=\"kept\"></a>\n\nSee [a](#title-1), [b][nowhere], [0 %, 100 %].\n",
    );
    assert_eq!(
        page.anchors,
        BTreeSet::from(["title".into(), "title-1".into(), "kept".into()])
    );
    assert_eq!(page.undefined_references, vec![(7, "nowhere".to_owned())]);

    let folder = std::env::temp_dir().join(format!("docs-links-{}", std::process::id()));
    fs::create_dir_all(folder.join("docs")).unwrap();
    fs::write(
        folder.join("README.md"),
        "# Top\n\n[ok](docs/a.md#part) [ok](#top) [web](https://example.com/x#y)\n\
         [gone](docs/missing.md) [no anchor](docs/a.md#nothing) [abs](/docs/a.md)\n\
         [up](..)\n",
    )
    .unwrap();
    fs::write(folder.join("docs/a.md"), "# A\n\n## Part\n").unwrap();
    let documents = vec![folder.join("README.md"), folder.join("docs/a.md")];
    let problems = link_problems(&folder, &documents);
    fs::remove_dir_all(&folder).ok();
    let expected = [
        "README.md:4: docs/missing.md: no such file or folder",
        "README.md:4: docs/a.md#nothing: no heading or anchor #nothing there",
        "README.md:4: /docs/a.md: an absolute path; write it relative to this file",
        "README.md:5: ..: outside the repository",
    ];
    assert_eq!(problems, expected);
}
