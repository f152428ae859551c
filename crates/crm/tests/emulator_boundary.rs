//! The emulator stays out of production code paths (docs/architecture.md
//! §7). It ships in the one binary so that `tac-crm demo` works from a
//! fresh checkout, but its signing key and `/_emulator/` admin API are
//! reachable only through `tac-crm emulator` and `tac-crm demo`:
//! - no library crate depends on `tac-emulator` outside its tests, so
//!   nothing that `serve` or `worker` runs can call into it;
//! - in the binary, only the two commands' modules name it.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `[dependencies]` table of a crate's manifest, as text.
fn dependencies(manifest: &str) -> &str {
    let start = manifest.find("\n[dependencies]").map_or(manifest.len(), |i| i + 1);
    let rest = &manifest[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 2);
    &rest[..end]
}

#[test]
fn no_library_crate_depends_on_the_emulator_outside_its_tests() {
    for name in ["core", "graph", "store", "store-macros", "sync", "web"] {
        let path = workspace().join("crates").join(name).join("Cargo.toml");
        let manifest = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            !dependencies(&manifest).contains("tac-emulator"),
            "crates/{name} depends on tac-emulator outside [dev-dependencies]"
        );
    }
}

#[test]
fn only_the_emulator_and_demo_commands_name_the_emulator() {
    let src = workspace().join("crates/crm/src");
    let mut naming = Vec::new();
    for entry in std::fs::read_dir(&src).expect("crates/crm/src") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("a source file");
            if text.contains("tac_emulator") {
                naming.push(path.file_name().expect("a file name").to_string_lossy().into_owned());
            }
        }
    }
    naming.sort();
    assert_eq!(naming, ["demo.rs", "emulator.rs"], "only these commands may reach the emulator");
}

#[test]
fn the_manifest_reader_sees_dependencies_and_not_dev_dependencies() {
    let manifest = "[package]\nname = \"x\"\n\n[dependencies]\na = 1\n\n[dev-dependencies]\ntac-emulator = 1\n";
    assert_eq!(dependencies(manifest), "[dependencies]\na = 1\n\n");
    assert!(!dependencies(manifest).contains("tac-emulator"));
}
